"""SIGTERM to a real uvicorn or gunicorn process: the exporters' last push reaches the receiver (issue 8).

Each app pushes to an in-test DataDog receiver every hour, so the only push carrying the request's count
is the one made while the process shuts down.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port, gunicorn_has, wait_until

METRIC = "lifespan_hits.count"
"""``lifespan_hits_total`` as the DataDog exporter names it."""

SETTINGS = """\
import os
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings

mon = Monitoring(
    MonitoringSettings.model_validate(
        {
            "shutdown_timeout": "5s",
            "logging": {"format": "json"},
            "metrics": {
                "collection_interval": "1h",
                "compression": False,
                "exporters": [{"type": "datadog", "api_key": "k", "endpoint": os.environ["RECEIVER"]}],
            },
        }
    )
)
KIND = os.environ["APP_KIND"]
"""

ASGI_APP = (
    SETTINGS
    + """
from fastapi import FastAPI
from sharedconfig.server.app import create_app
from sharedconfig.server.lifespan import MonitoringLifespanMiddleware, monitoring_lifespan


def hit() -> dict[str, str]:
    mon.metrics.record_counter("lifespan_hits_total", 7, {})
    return {"ok": "yes"}


if KIND == "atexit":  # what issue 8 reports: started at import, stopped by atexit alone
    mon.start()
    app = inner = FastAPI()
elif KIND == "lifespan":
    app = inner = FastAPI(lifespan=monitoring_lifespan(mon))
elif KIND == "middleware":
    inner = FastAPI()
    app = MonitoringLifespanMiddleware(inner, mon)
else:
    app = inner = create_app(mon)
inner.add_api_route("/hit", hit)
"""
)

FLASK_APP = (
    SETTINGS
    + """
from flask import Flask
from sharedconfig import monitoring
from sharedconfig.integrations.flask import init_app

app = Flask(__name__)


@app.get("/hit")
def hit() -> dict[str, int]:
    mon.metrics.record_counter("lifespan_hits_total", 1, {"pid": str(os.getpid())})
    return {"pid": os.getpid()}


if KIND == "hooks":  # imported once in the arbiter (--preload); post_worker_init starts it in each worker
    monitoring.configure(mon, start=False)
else:  # imported in each worker, stopped by atexit alone
    init_app(app, mon)
"""
)

GUNICORN_CONF = """\
import atexit
from sharedconfig import monitoring
from sharedconfig.integrations import gunicorn
from sharedconfig.integrations.gunicorn import worker_exit


def post_worker_init(worker):
    gunicorn.post_worker_init(worker)
    # atexit would stop it too (the atexit case shows it): without it, worker_exit alone has to
    atexit.unregister(monitoring.get().stop)
"""


class Receiver:
    """A DataDog series API on 127.0.0.1 that records every pushed payload."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        received = self.payloads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name http.server dispatches to
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    def total(self, payloads: Sequence[dict[str, Any]] | None = None) -> float:
        """The sum of every point of ``METRIC`` in ``payloads`` (default: all): what was pushed of it."""
        return sum(
            point["value"]
            for payload in (self.payloads if payloads is None else payloads)
            for series in payload["series"]
            if series["metric"] == METRIC
            for point in series["points"]
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@contextlib.contextmanager
def running(args: Sequence[str], cwd: Path, receiver: Receiver, kind: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m ARGS`` in its own process group; the whole group is killed at the end if still there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    env.update(RECEIVER=receiver.url, APP_KIND=kind)
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


def terminate(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[str, float]:
    """Send ``signum`` to ``process``; its stderr and how long it took to end (fails the test after 20 s)."""
    start = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=20)
    return err, time.monotonic() - start


def listening(port: int) -> bool:
    """Whether 127.0.0.1:``port`` accepts connections (if not, OSError, which wait_until retries)."""
    socket.create_connection(("127.0.0.1", port), timeout=1).close()
    return True


def hit(url: str, times: int) -> None:
    """GET /hit ``times`` times, each on a new connection (gunicorn spreads them over its workers)."""
    for _ in range(times):
        assert httpx.get(f"{url}/hit", timeout=5).status_code == 200


class TestUvicorn:
    @pytest.mark.parametrize("kind", ["lifespan", "middleware", "create_app"])
    def test_the_last_push_arrives_after_sigterm(self, tmp_path: Path, receiver: Receiver, kind: str) -> None:
        """With the lifespan, SIGTERM to uvicorn pushes the request's count once more before the process ends.

        uvicorn shuts down gracefully (the lifespan's shutdown stops Monitoring), then raises SIGTERM again
        with the default handler, so the exit status is -SIGTERM (0 on uvicorn versions that do not re-raise).
        """
        (tmp_path / "app.py").write_text(ASGI_APP)
        port = free_port()
        with running(["uvicorn", "app:app", "--port", str(port)], tmp_path, receiver, kind) as process:
            wait_until(lambda: len(receiver.payloads) >= 1, 30, "the push made at start")
            wait_until(lambda: listening(port), 30, "uvicorn to listen")
            hit(f"http://127.0.0.1:{port}", 1)
            assert receiver.total() == 0
            err, took = terminate(process)
        assert receiver.total() == 7, err
        assert process.returncode in (0, -signal.SIGTERM), err
        assert took < 10, f"uvicorn took {took:.1f}s to stop"
        assert "Application shutdown complete" in err
        assert '"monitoring stopped"' in err
        assert "Traceback" not in err

    def test_without_the_lifespan_the_last_push_is_lost(self, tmp_path: Path, receiver: Receiver) -> None:
        """Issue 8 as reported: Monitoring started at import and left to atexit never pushes the count."""
        (tmp_path / "app.py").write_text(ASGI_APP)
        port = free_port()
        with running(["uvicorn", "app:app", "--port", str(port)], tmp_path, receiver, "atexit") as process:
            wait_until(lambda: len(receiver.payloads) >= 1, 30, "the push made at start")
            wait_until(lambda: listening(port), 30, "uvicorn to listen")
            hit(f"http://127.0.0.1:{port}", 1)
            err, _ = terminate(process)
        assert process.returncode == -signal.SIGTERM, err
        assert receiver.total() == 0
        assert '"monitoring stopped"' not in err


def require_gunicorn() -> None:
    """Skip when gunicorn is not installed (the dev extra has it); fail under CI=true."""
    if find_spec("gunicorn") is None:
        message = "gunicorn is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class TestGunicorn:
    @pytest.mark.parametrize(
        ("kind", "signum"),
        [("hooks", signal.SIGTERM), ("atexit", signal.SIGTERM), ("hooks", signal.SIGINT)],
        ids=["hooks-sigterm", "atexit-sigterm", "hooks-sigint"],
    )
    def test_each_worker_pushes_its_last_counts_at_shutdown(
        self, tmp_path: Path, receiver: Receiver, kind: str, signum: int
    ) -> None:
        """SIGTERM to the arbiter: each worker's last push carries what it counted, and gunicorn exits 0.

        ``hooks``: the app is preloaded and Monitoring started by ``post_worker_init``, stopped by
        ``worker_exit`` (atexit unregistered). ``atexit``: Flask's ``init_app`` in each worker, stopped by
        atexit alone, which runs because a gunicorn worker ends with ``sys.exit``. SIGINT (the arbiter's
        quick shutdown: SIGQUIT to the workers, ``worker_int``, then ``worker_exit``) delivers too.
        """
        require_gunicorn()
        (tmp_path / "app.py").write_text(FLASK_APP)
        (tmp_path / "gunicorn.conf.py").write_text(GUNICORN_CONF if kind == "hooks" else "")
        port = free_port()
        args = ["gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10"]
        if gunicorn_has("control_socket_disable"):  # gunicorn 27 opens a control socket in $HOME by default
            args.append("--no-control-socket")
        args += ["--preload", "app:app"] if kind == "hooks" else ["app:app"]
        with running(args, tmp_path, receiver, kind) as process:
            wait_until(lambda: len(receiver.payloads) >= 2, 30, "each worker's push made at start")
            wait_until(lambda: listening(port), 30, "gunicorn to listen")
            hit(f"http://127.0.0.1:{port}", 6)
            assert receiver.total() == 0
            before = len(receiver.payloads)
            err, took = terminate(process, signum)
        assert process.returncode == 0, err
        assert took < 10, f"gunicorn took {took:.1f}s to stop"
        assert len(receiver.payloads) - before >= 2, "one last push per worker"
        assert receiver.total() == 6, err
        assert err.count('"monitoring stopped"') == 2, err
        assert "Traceback" not in err
