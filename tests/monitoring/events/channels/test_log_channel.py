"""The log channel: one record per event, its level from the severity unless fixed, data redacted."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sharedconfig.monitoring.events.channel import ChannelContext, build_channel
from sharedconfig.monitoring.events.channels.log import LogChannel
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.settings import LogChannelSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


def build(tmp_path: Path, **settings: object) -> tuple[LogChannel, RecordingLogger]:
    logger = RecordingLogger()
    ctx = ChannelContext(
        "log", FakeClock(), logger, InMemoryMetricsRecorder(), DeadLetterFile(tmp_path / "x.jsonl"), 10
    )
    channel = build_channel(LogChannelSettings.model_validate(settings), ctx)
    assert isinstance(channel, LogChannel)
    return channel, logger


def test_levels_follow_severity_and_data_is_redacted(tmp_path: Path) -> None:
    channel, logger = build(tmp_path)
    batch = [
        Event("a", "/s", {"password": "hunter2", "n": 1}, severity=severity)  # type: ignore[arg-type]
        for severity in ("info", "low", "medium", "high", "critical")
    ]
    assert asyncio.run(channel.deliver(batch)) == 5
    assert [r.level for r in logger.records] == ["info", "info", "warning", "error", "error"]
    first = logger.records[0].fields
    assert first["data"] == {"password": "**********", "n": 1}
    assert (first["event_type"], first["event_id"], first["event_source"]) == ("a", batch[0].id, "/s")
    assert "hunter2" not in repr(logger.records)


def test_a_fixed_level(tmp_path: Path) -> None:
    channel, logger = build(tmp_path, level="debug")
    asyncio.run(channel.deliver([Event("a", "/s", severity="critical")]))  # type: ignore[arg-type]
    assert [r.level for r in logger.records] == ["debug"]
    asyncio.run(channel.aclose())
    assert "debug" in repr(channel)
