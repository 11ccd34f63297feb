"""The channel seam: building channels from entry points, DeliveryChannel (whole batches and batches
answered per item), ChannelContext.delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from sharedconfig.errors import DeliveryError, SharedConfigError
from sharedconfig.monitoring.events import deadletter
from sharedconfig.monitoring.events.channel import (
    Channel,
    ChannelContext,
    DeliveryChannel,
    ItemBatch,
    ItemBatches,
    Tries,
    UnknownChannel,
    WholeBatches,
    build_channel,
    installed_channels,
    summarize,
)
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.settings import (
    EventChannelSettings,
    MonitoringSettings,
    PluginChannelSettings,
)
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


@dataclass(frozen=True)
class Failure:
    """A scripted item failure: its reason, and whether another attempt may help."""

    reason: str
    retryable: bool = True

    @property
    def kind(self) -> str:
        """Failures are counted by reason."""
        return self.reason

    def __str__(self) -> str:
        return self.reason


LATE = Failure("no answer in time")
REFUSED = Failure("too large", retryable=False)


class PerItem:
    """A sender answering per item: ``script`` gives an event's answers in turn (none left: delivered);
    the first ``down`` attempts fail whole (retryable until the batch's tries are spent)."""

    def __init__(self, script: Mapping[str, list[Failure]] | None = None, down: int = 0) -> None:
        self.script = {key: list(answers) for key, answers in (script or {}).items()}
        self.down = down
        self.sent: list[list[str]] = []
        self.tasks: list[asyncio.Task[object] | None] = []

    async def send(self, payload: Batch[Event]) -> None:
        assert isinstance(payload, ItemBatch)
        spent = payload.attempt()
        self.sent.append([event.id for event in payload.items])
        self.tasks.append(asyncio.current_task())
        if self.down:
            self.down -= 1
            raise DeliveryError(f"down{spent}", retryable=not spent)
        answers = [self.script.get(event.id) for event in payload.items]
        payload.outcomes[:] = [answer.pop(0) if answer else None for answer in answers]


def item_settings() -> EventChannelSettings:
    """Channel settings with 2 retries (1 s, then 2 s, no jitter) and no breaker."""
    exporter = {
        "type": "webhook",
        "url": "https://h/x",
        "retry": {"max_retries": 2, "retry_delay": "1s", "jitter": "none"},
        "circuit_breaker": {"enabled": False},
    }
    return MonitoringSettings.model_validate({"events": {"exporters": [exporter]}}).events.exporters[0]


@dataclass
class ItemRig:
    """A DeliveryChannel of ItemBatches around a ``PerItem`` sender, on a FakeClock."""

    channel: DeliveryChannel
    sender: PerItem
    clock: FakeClock
    logger: RecordingLogger
    letters: Path

    def deliver(self, batch: list[Event]) -> int:
        """Deliver ``batch``, jumping the clock; how many were delivered."""
        return self.clock.run(self.channel.deliver(batch))

    def dead(self) -> list[tuple[str, str]]:
        """(event id, reason) of each dead letter."""
        if not self.letters.exists():
            return []
        lines = [json.loads(line) for line in self.letters.read_text().splitlines()]
        return [(line["id"], line[deadletter.REASON_ATTRIBUTE]) for line in lines]


def item_rig(tmp_path: Path, sender: PerItem, *, size: int = 100) -> ItemRig:
    """A rig whose encoder cuts batches of ``size`` events without parts."""
    clock, logger = FakeClock(), RecordingLogger()
    ctx = ChannelContext(
        "mine",
        clock,
        logger,
        InMemoryMetricsRecorder(),
        DeadLetterFile(tmp_path / "mine.jsonl", fsync=False, clock=clock),
        size,
    )
    channel = ctx.channel(sender, item_settings(), encoder=ItemBatches(size=size))
    return ItemRig(channel, sender, clock, logger, tmp_path / "mine.jsonl")


class TestItemBatch:
    def test_only_keeps_parts_with_their_items_and_shares_the_tries(self) -> None:
        """A resend picks events and their parts together and counts on the same tries."""
        tries = Tries(3)
        batch = ItemBatch.of(events(3), [b"a", b"b", b"c"], tries)
        resend = batch.only([2, 0])
        assert resend.items == (batch.items[2], batch.items[0]) and resend.parts == (b"c", b"a")
        assert resend.tries is tries and resend.outcomes == [] and resend.body == b""
        assert ItemBatch.of(events(2)).only([1]).parts == ()

    def test_attempt_counts_and_says_when_the_tries_are_spent(self) -> None:
        """Each attempt counts on the shared tries; the last allowed one returns the end of a final error."""
        batch = ItemBatch.of(events(1), tries=Tries(2))
        assert batch.attempt() == ""
        assert batch.only([0]).attempt() == "; retries spent (2 attempts)"
        assert ItemBatch.of(events(1), tries=Tries(1)).attempt() == "; retries spent (1 attempt)"
        assert ItemBatch.of(events(1)).attempt() == ""  # no tries: no limit but the delivery's

    def test_summary_counts_by_kind_commonest_first(self) -> None:
        """A log line names each kind once with its count, the commonest first, at most three kinds."""
        assert summarize([REFUSED, LATE, LATE]) == "no answer in time (2); too large (1)"
        many = [Failure(str(i)) for i in range(5)]
        assert summarize(many) == "0 (1); 1 (1); 2 (1); 2 more kind(s)"


class TestItemBatches:
    def test_batches_by_count_and_bytes(self) -> None:
        """At most ``size`` events and ``max_bytes`` of parts per batch; a larger event goes alone."""
        part = {f"e{i}": b"x" * n for i, n in enumerate([3, 3, 3, 9, 1])}
        batches, rejected = ItemBatches(lambda e: part[e.id], size=2, max_bytes=6).encode(events(5))
        assert [[e.id for e in b.items] for b in batches] == [["e0", "e1"], ["e2"], ["e3"], ["e4"]]
        assert batches[0].parts == (b"xxx", b"xxx") and rejected == []

    def test_without_parts_the_sender_encodes(self) -> None:
        """No part function: batches of ``size`` events and no parts."""
        batches, _ = ItemBatches(size=2).encode(events(3))
        assert [len(b.items) for b in batches] == [2, 1] and all(b.parts == () for b in batches)
        assert repr(ItemBatches(size=2)) == "ItemBatches(size=2)"

    def test_an_event_that_cannot_be_encoded_is_rejected(self) -> None:
        """A part refused with a SharedConfigError sets its event aside; the others are batched."""
        error = SharedConfigError("not JSON")

        def part(event: Event) -> bytes:
            if event.id == "e1":
                raise error
            return b"p"

        batch = events(3)
        batches, rejected = ItemBatches(part).encode(batch)
        assert [e.id for e in batches[0].items] == ["e0", "e2"] and rejected == [(batch[1], error)]

    def test_bad_limits(self) -> None:
        """A size or max_bytes under 1 is refused."""
        with pytest.raises(ValueError, match="at least 1"):
            ItemBatches(size=0)


class TestItemDelivery:
    def test_failed_items_are_resent_alone_after_the_backoff(self, tmp_path: Path) -> None:
        """Items answered with a retryable failure go again, only they, 1 s then 2 s later; all count."""
        r = item_rig(tmp_path, PerItem({"e1": [LATE], "e3": [LATE, LATE]}))
        assert r.deliver(events(5)) == 5
        assert r.sender.sent == [["e0", "e1", "e2", "e3", "e4"], ["e1", "e3"], ["e3"]]
        assert r.clock.jumps == (1.0, 2.0) and r.dead() == []

    def test_an_item_refused_for_good_is_dead_lettered_at_once(self, tmp_path: Path) -> None:
        """A final item failure is not resent: dead-lettered with its reason, logged once; the rest count."""
        r = item_rig(tmp_path, PerItem({"e1": [REFUSED]}))
        assert r.deliver(events(3)) == 2
        assert r.sender.sent == [["e0", "e1", "e2"]]
        assert r.dead() == [("e1", "mine: not delivered: too large")]
        (warning,) = [rec for rec in r.logger.records if rec.level == "warning"]
        assert warning.fields["error"] == "mine: 1 event(s) not delivered: too large (1)"
        assert warning.fields["events"] == 1

    def test_items_still_failing_when_the_tries_are_spent_are_dead_lettered(self, tmp_path: Path) -> None:
        """An item failing every time is sent max_retries + 1 times, then dead-lettered with its reason."""
        r = item_rig(tmp_path, PerItem({"e0": [LATE] * 5}))
        assert r.deliver(events(2)) == 1
        assert r.sender.sent == [["e0", "e1"], ["e0"], ["e0"]]
        assert r.dead() == [("e0", "mine: not delivered after 3 attempts: no answer in time")]

    def test_a_resend_failing_whole_shares_the_tries(self, tmp_path: Path) -> None:
        """A resend the destination refuses whole is retried by the delivery within the same tries: the
        item is sent 3 times in all, then the delivery's give-up dead-letters it alone."""
        sender = PerItem({"e1": [LATE]})
        r = item_rig(tmp_path, sender)

        async def send(payload: Batch[Event]) -> None:
            if len(sender.sent) == 1:
                sender.down = 10  # everything after the first attempt fails whole
            await PerItem.send(sender, payload)

        sender.send = send  # type: ignore[method-assign]
        assert r.deliver(events(3)) == 2
        assert sender.sent == [["e0", "e1", "e2"], ["e1"], ["e1"]]
        assert r.dead() == [("e1", "down; retries spent (3 attempts)")]

    def test_a_batch_failing_whole_goes_through_the_delivery(self, tmp_path: Path) -> None:
        """Nothing taken on the first attempt: the delivery retries the whole batch after its backoff."""
        r = item_rig(tmp_path, PerItem(down=1))
        assert r.deliver(events(2)) == 2
        assert r.sender.sent == [["e0", "e1"], ["e0", "e1"]] and r.clock.jumps == (1.0,)

    def test_one_batch_is_sent_from_the_calling_task(self, tmp_path: Path) -> None:
        """A call with one batch sends it in the caller's task (no task and gather per batch); several
        batches go out concurrently, each in a task of its own."""
        r = item_rig(tmp_path, PerItem(), size=2)

        async def main(n: int) -> tuple[asyncio.Task[object] | None, int]:
            return asyncio.current_task(), await r.channel.deliver(events(n))

        caller, count = r.clock.run(main(2))
        assert count == 2 and r.sender.tasks == [caller]
        caller, count = r.clock.run(main(4))
        assert count == 4 and caller not in r.sender.tasks[1:] and len(set(r.sender.tasks[1:])) == 2


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
