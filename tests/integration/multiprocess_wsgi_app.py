"""The WSGI app test_multiprocess_gunicorn runs under ``gunicorn --preload -w 2``: Monitoring configured and
started at import (so in the arbiter, before the fork), ``/hit`` and ``/metrics`` (the merged view).

The directory comes from ``SHAREDCONFIG_METRICS_MULTIPROCESS_DIR``. At import it counts one
``test_imports_total``: under ``--preload`` that is once, in the arbiter, and the forked workers must not
count it again. Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sharedconfig.monitoring import configure
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.settings import MonitoringSettings

monitoring = configure(Monitoring(MonitoringSettings()))
hits = monitoring.metrics.counter("test_hits", "Requests to /hit.")
monitoring.metrics.record_counter("test_imports_total", 1)
HOLD = 1.0  # seconds /hold keeps its worker busy


def _held() -> Iterator[bytes]:
    """A first line at once (gunicorn's sync worker sends it), then the worker is busy for HOLD seconds."""
    yield b"holding\n"
    time.sleep(HOLD)
    yield b"done\n"


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/hit`` counts a hit; ``/metrics`` serves every process's series; ``/hold`` keeps this worker busy
    for a second (so a scrape sent meanwhile goes to the other); all name the worker."""
    content_type = "text/plain"
    if environ["PATH_INFO"] == "/metrics":
        body, content_type = generate(monitoring.exposition, environ.get("HTTP_ACCEPT"))
    elif environ["PATH_INFO"] == "/hold":
        start_response("200 OK", [("Content-Type", content_type), ("X-Worker-Pid", str(os.getpid()))])
        return _held()
    else:
        hits.inc()
        body = b"ok"
    start_response("200 OK", [("Content-Type", content_type), ("X-Worker-Pid", str(os.getpid()))])
    return [body]
