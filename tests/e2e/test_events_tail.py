"""End to end: ``sharedconfig serve`` with a sqlite channel stores its own events (config loaded, health
transitions); ``/api/v1/events``, the SSE stream and ``sharedconfig events tail`` show them with the token,
refuse without it, and an open stream neither outlives the server nor delays its stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import SHAREDCONFIG_CLI, serving, wait_until
from sharedconfig.monitoring.events import Event
from sharedconfig.monitoring.events.channels.sqlite import EventStore

TOKEN = "e2e-events-token-41c2"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = """\
monitoring:
  events:
    flush_interval: 100ms
    exporters:
      - type: sqlite
        path: events.db
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without SHAREDCONFIG_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    env.update(extra)
    return env


class Lines:
    """The stdout lines of a running process, read on a thread so that waiting on them is bounded."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, found: Callable[[list[str]], bool], timeout: float, what: str) -> list[str]:
        """Read lines until ``found(lines so far)`` holds; fail naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not found(self.seen):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout}s waiting for {what}; got {self.seen}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the process ended before {what}; got {self.seen}")
            self.seen.append(line)
        return self.seen

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the process to end: its exit code and stderr."""
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``sharedconfig serve`` with a sqlite channel, once its startup events are stored: (process, url)."""
    (tmp_path / "app.yaml").write_text(CONFIG)
    with serving(["app.yaml"], cwd=tmp_path, env=clean_env(SHAREDCONFIG_API_TOKEN=TOKEN)) as (process, url):

        def stored() -> bool:
            response = httpx.get(f"{url}/api/v1/events", headers=BEARER, timeout=2)
            types = {e["type"] for e in response.json()["events"]}
            return {"config_loaded", "health_check_changed"} <= types

        wait_until(stored, 30, "the server's startup events in its store")
        yield process, url


def tail(url: str, *args: str, token: str | None = TOKEN) -> subprocess.Popen[str]:
    """``sharedconfig events tail --url URL ARGS`` as a subprocess (the token in its environment)."""
    env = clean_env(**({"SHAREDCONFIG_API_TOKEN": token} if token else {}))
    return subprocess.Popen(
        [SHAREDCONFIG_CLI, "events", "tail", "--url", url, "--env-file", "", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_api_and_the_stream_answer_with_the_token_only(server: tuple[subprocess.Popen[str], str]) -> None:
    """Pages hold the server's own events as CloudEvents; the stream frames them from a cursor; both
    answer 401 without the token."""
    _, url = server
    for path in ("/api/v1/events", "/api/v1/events/stream"):
        refused = httpx.get(f"{url}{path}", timeout=5)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="sharedconfig"'
    config_events = {"type": ["config_validated", "config_loaded"], "order": "oldest"}
    page = httpx.get(f"{url}/api/v1/events", params=config_events, headers=BEARER, timeout=5)
    assert [e["type"] for e in page.json()["events"]] == ["config_validated", "config_loaded"]
    assert all(e["specversion"] == "1.0" and e["subject"] == "config" for e in page.json()["events"])

    frame: list[str] = []
    with httpx.stream(
        "GET", f"{url}/api/v1/events/stream", params={"cursor": "0"}, headers=BEARER, timeout=10
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "" and frame:
                break
            frame.append(line)
    fields = dict(line.split(": ", 1) for line in frame)
    assert fields["id"] == "1"
    assert fields["event"] == json.loads(fields["data"])["type"] == "config_validated"


def test_tail_shows_the_servers_events(server: tuple[subprocess.Popen[str], str]) -> None:
    """``events tail`` prints the stored events with the token, and SECURITY_001 with a fix without it."""
    _, url = server
    shown = subprocess.run(
        [SHAREDCONFIG_CLI, "events", "tail", "--url", url, "--env-file", ""],
        env=clean_env(SHAREDCONFIG_API_TOKEN=TOKEN),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert any("  info      config_loaded  config  {" in line for line in shown.stdout.splitlines())
    assert any("health_check_changed  process" in line for line in shown.stdout.splitlines())

    refused = subprocess.run(
        [SHAREDCONFIG_CLI, "events", "tail", "--url", url, "--env-file", ""],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error SECURITY_001: ")
    assert "hint: " in refused.stderr and "Traceback" not in refused.stderr


def test_follow_prints_new_events_and_ends_with_ctrl_c(
    server: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """``tail --follow`` prints the recent events, then one stored while it follows; Ctrl+C exits 0."""
    _, url = server
    follower = Lines(tail(url, "--follow", "--json", "-n", "3"))
    try:
        follower.until(lambda lines: len(lines) >= 3, 20, "the three recent events")
        # another writer of the same store (a second worker process of the service, say)
        with EventStore(tmp_path / "events.db") as store:
            store.append([Event("com.example.order.created", "/shop", subject="order/42", id="order-42")])
        lines = follower.until(lambda lines: any('"order-42"' in line for line in lines), 20, "the new event")
        assert json.loads(lines[-1])["subject"] == "order/42"
        follower.process.send_signal(signal.SIGINT)
        code, err = follower.finish(20)
    finally:
        follower.close()
    assert code == 0, err
    assert "Traceback" not in err


def test_an_open_stream_does_not_delay_the_servers_stop(server: tuple[subprocess.Popen[str], str]) -> None:
    """SIGTERM ends the followers' streams at once: serve exits 0 well within uvicorn's 5 s graceful
    timeout, and ``tail --follow`` ends with exit 0 saying the server ended the stream."""
    process, url = server
    follower = Lines(tail(url, "--follow", "-n", "1"))
    try:
        follower.until(lambda lines: len(lines) >= 1, 20, "the recent event")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, serve_err = process.communicate(timeout=20)
        took = time.monotonic() - started
        code, err = follower.finish(20)
    finally:
        follower.close()
    assert process.returncode == 0, serve_err
    assert took < 3.0, f"serve took {took:.1f}s to stop with a stream open"
    assert "timeout graceful shutdown exceeded" not in serve_err
    assert code == 0, err
    assert "ended the stream" in err
