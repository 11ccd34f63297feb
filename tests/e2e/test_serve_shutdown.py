"""``sharedconfig serve`` ends within its shutdown budget on SIGTERM when an exporter's peer never answers."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from conftest import serving

CONFIG = """\
monitoring:
  shutdown_timeout: 2s
  logging: {{format: json}}
  metrics:
    exporters:
      - type: prometheus
        endpoint: http://127.0.0.1:{hole}
        push_interval: 60s
        retry: {{max_retries: 0}}
"""


def test_sigterm_exits_within_the_budget_with_an_exporter_that_never_answers(tmp_path: Path) -> None:
    """The final push hangs on a peer that accepts and never answers: SIGTERM still ends serve in time.

    The exit is bounded by the budget (2 s) plus the server's own stop; the abandoned flush is logged
    as one structured warning, and nothing raw from asyncio reaches stderr.
    """
    hole = socket.create_server(("127.0.0.1", 0), backlog=64)  # accepts (backlog), never reads or answers
    try:
        (tmp_path / "app.yaml").write_text(CONFIG.format(hole=hole.getsockname()[1]))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
        with serving(["app.yaml"], cwd=tmp_path, env=env) as (process, _):
            start = time.monotonic()
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
            took = time.monotonic() - start
    finally:
        hole.close()
    assert process.returncode == 0, err
    assert took < 4.0, f"serve took {took:.1f}s to stop with a 2s budget"
    logs = out + err
    assert "monitoring stopped, abandoning work" in logs
    assert "flush exporters" in logs
    for raw in ("Traceback", "Task was destroyed", "Exception in callback", "was never awaited"):
        assert raw not in err, err


def test_sigterm_stops_monitoring_after_the_server(tmp_path: Path) -> None:
    """serve stops Monitoring once uvicorn has finished, so uvicorn's last lines still reach the JSON log."""
    (tmp_path / "app.yaml").write_text("monitoring:\n  logging: {format: json}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    with serving(["app.yaml"], cwd=tmp_path, env=env) as (process, _):
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    events = [line for line in err.splitlines() if '"event": ' in line]
    finished = next(i for i, line in enumerate(events) if "Finished server process" in line)
    stopped = next(i for i, line in enumerate(events) if '"monitoring stopped"' in line)
    assert finished < stopped, "\n".join(events)
