"""The channel seam: building channels from entry points, DeliveryChannel, ChannelContext.delivery."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from sharedconfig.errors import DeliveryError
from sharedconfig.monitoring.events import deadletter
from sharedconfig.monitoring.events.channel import (
    Channel,
    ChannelContext,
    DeliveryChannel,
    UnknownChannel,
    WholeBatches,
    build_channel,
    installed_channels,
)
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.settings import MonitoringSettings, PluginChannelSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


def events(n: int) -> list[Event]:
    return [Event("t", "/test", {"i": i}, id=f"e{i}") for i in range(n)]


def context(tmp_path: Path, clock: FakeClock | None = None, batch_size: int = 2) -> ChannelContext:
    clock = clock or FakeClock()
    return ChannelContext(
        "mine",
        clock,
        RecordingLogger(),
        InMemoryMetricsRecorder(),
        DeadLetterFile(tmp_path / "mine.jsonl", fsync=False, clock=clock),
        batch_size,
    )


class Flaky:
    """A sender failing (retryably) the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[Event, ...]] = []

    async def send(self, payload: Batch[Event]) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("down", retryable=True)
        self.sent.append(payload.items)


class TestDeliveryChannel:
    def test_batches_of_the_context_size_with_retries_from_settings(self, tmp_path: Path) -> None:
        clock = FakeClock()
        settings = MonitoringSettings.model_validate(
            {
                "events": {
                    "exporters": [{"type": "webhook", "url": "https://h/x", "retry": {"max_retries": 1}}]
                }
            }
        ).events.exporters[0]
        sender = Flaky(failures=1)
        channel = context(tmp_path, clock).channel(sender, settings)
        assert isinstance(channel, Channel)
        assert clock.run(channel.deliver(events(5))) == 5
        assert sorted(e.id for batch in sender.sent for e in batch) == [f"e{i}" for i in range(5)]
        assert [len(b) for b in sender.sent] in ([2, 2, 1], [2, 1, 2], [1, 2, 2])

    def test_batches_given_up_on_go_to_the_dead_letter_file(self, tmp_path: Path) -> None:
        clock = FakeClock()
        settings = PluginChannelSettings(type="x")  # no retry block: the delivery's defaults
        sender = Flaky(failures=1000)
        ctx = context(tmp_path, clock, batch_size=10)
        channel = ctx.channel(sender, settings)
        assert clock.run(channel.deliver(events(3))) == 0
        assert [e.id for e in deadletter.read(tmp_path / "mine.jsonl")] == ["e0", "e1", "e2"]

    def test_whole_batches(self) -> None:
        batches, rejected = WholeBatches(2).encode(events(3))
        assert [len(b.items) for b in batches] == [2, 1]
        assert rejected == []
        assert repr(DeliveryChannel(WholeBatches(), context_delivery_stub())).startswith("DeliveryChannel(")


def context_delivery_stub() -> object:
    from sharedconfig.delivery import Delivery

    return Delivery("stub", Flaky(0))


class Plugin:
    def __init__(self, settings: PluginChannelSettings, ctx: ChannelContext) -> None:
        self.name = ctx.name
        self.settings = settings

    async def deliver(self, batch: Sequence[Event]) -> int:
        return len(batch)

    async def aclose(self) -> None:
        pass


def plugin_factory(settings: PluginChannelSettings, ctx: ChannelContext) -> Plugin:
    return Plugin(settings, ctx)


def not_a_channel(settings: object, ctx: ChannelContext) -> object:
    return object()


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> dict[str, EntryPoint]:
    found = dict(installed_channels())
    found["acme"] = EntryPoint("acme", f"{__name__}:plugin_factory", "sharedconfig.channels")
    found["broken"] = EntryPoint("broken", "sharedconfig_no_such_module:build", "sharedconfig.channels")
    found["odd"] = EntryPoint("odd", f"{__name__}:not_a_channel", "sharedconfig.channels")
    monkeypatch.setattr("sharedconfig.monitoring.events.channel.installed_channels", lambda: found)
    return found


class TestBuild:
    def test_the_built_in_channels_are_entry_points(self) -> None:
        assert {"log", "sqlite", "webhook", "kafka", "elasticsearch", "nats"} <= set(installed_channels())

    def test_a_plugin_gets_its_own_keys(self, tmp_path: Path, plugins: object) -> None:
        settings = PluginChannelSettings.model_validate({"type": "acme", "region": "eu"})
        channel = build_channel(settings, context(tmp_path))
        assert isinstance(channel, Plugin)
        assert channel.settings.model_extra == {"region": "eu"}

    @pytest.mark.parametrize(
        ("kind", "words"),
        [
            ("nope", "no event channel of type 'nope' is installed"),
            ("broken", "cannot be imported"),
            ("odd", "not a Channel"),
        ],
    )
    def test_what_cannot_be_built_is_config_032_at_its_key(
        self, tmp_path: Path, plugins: object, kind: str, words: str
    ) -> None:
        settings = PluginChannelSettings(type=kind)
        with pytest.raises(UnknownChannel) as info:
            build_channel(settings, context(tmp_path), path="monitoring.events.exporters[1]")
        assert info.value.code == "CONFIG_032"
        assert words in info.value.message
        assert "monitoring.events.exporters[1]" in str(info.value)
