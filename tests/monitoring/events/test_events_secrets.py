"""No secret of an event, a channel's URL or its signing key reaches any output: store, log, journal,
dead letters, metrics."""

from __future__ import annotations

import io
from pathlib import Path

from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.metrics.exposition import render
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.testing import FakeClock

CANARY_DATA = "pw-canary-ev1"
CANARY_URL = "tok-canary-ev2"
CANARY_KEY = "key-canary-ev3"


def test_no_canary_in_any_output(tmp_path: Path) -> None:
    settings = MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "events": {
                "buffer_size": 2,
                "batch_size": 2,
                "flush_interval": "1s",
                "journal": {"path": str(tmp_path / "journal")},
                "dead_letter_dir": str(tmp_path / "dead"),
                "exporters": [
                    {"type": "sqlite", "path": str(tmp_path / "events.db")},
                    {"type": "log"},
                    {
                        "type": "webhook",
                        "url": f"http://user:{CANARY_URL}@127.0.0.1:9/hook?token={CANARY_URL}",
                        "secret": CANARY_KEY,
                        "retry": {"max_retries": 0},
                    },
                ],
            },
        }
    )
    stream = io.StringIO()
    clock = FakeClock()
    mon = Monitoring(settings, clock=clock, stream=stream)
    with mon:
        for i in range(6):  # more than the buffer: some spill to the journal
            mon.events.emit(
                "user.login",
                f"user/{i}",
                {"password": CANARY_DATA, "note": f"https://bob:{CANARY_DATA}@db.example/x", "n": i},
            )
        clock.advance(5)
    outputs = [stream.getvalue(), render(mon.metrics.collect()).decode()]
    outputs += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("user.login" in text for text in outputs[2:])  # the files were written
    assert any(p.suffix == ".jsonl" for p in tmp_path.rglob("*"))  # the webhook dead-lettered
    for text in outputs:
        for canary in (CANARY_DATA, CANARY_URL, CANARY_KEY):
            assert canary not in text
