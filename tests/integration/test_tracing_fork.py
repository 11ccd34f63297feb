"""A forked child exports its own spans: exporters.py ``ForkSafe`` re-makes the exporter in the child.

The parent exports first, so its HTTP pool and gRPC channel exist and are in use when it forks (the
``gunicorn --preload`` case of opentelemetry-python #3307); the child opens a span, stops its Monitoring
(which flushes) and exits with a status the parent checks; the receiver then holds the child's span,
tagged with the child's pid, in a trace of its own.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import pytest

from integration.otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, ZipkinReceiver
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.monitoring.tracing import span

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")

CHILD_TIMEOUT = 20.0


def _wait_child(pid: int) -> int:
    """The child's exit status, waiting at most CHILD_TIMEOUT real seconds (then it is killed)."""
    import time

    deadline = time.monotonic() + CHILD_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(
        f"the forked child did not end within {CHILD_TIMEOUT}s (an exporter hung after fork?)"
    )


@pytest.fixture(params=["otlp-http", "otlp-grpc", "zipkin"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Any]:
    kind = {"otlp-http": OtlpHttpReceiver, "otlp-grpc": OtlpGrpcReceiver, "zipkin": ZipkinReceiver}
    with kind[request.param]() as started:
        started.kind = request.param
        yield started


def exporter_for(receiver: Any) -> dict[str, Any]:
    if receiver.kind == "otlp-http":
        return {"type": "otlp", "endpoint": receiver.endpoint}
    if receiver.kind == "otlp-grpc":
        return {"type": "otlp", "protocol": "grpc", "endpoint": receiver.endpoint}
    return {"type": "zipkin", "endpoint": receiver.endpoint}


def test_a_forked_child_exports_its_own_spans(receiver: Any) -> None:
    """The parent's span arrives, then the child's (its pid as attribute), each in its own trace."""
    settings = MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"enabled": False},
            "tracing": {"service_name": "forked", "exporters": [exporter_for(receiver)]},
        }
    )
    mon = Monitoring(settings, stream=io.StringIO()).start()
    try:
        with span("parent.work"):
            pass
        mon.part("tracing").provider.force_flush()  # type: ignore[union-attr]  # the tracing part is built
        receiver.named("parent.work")  # the parent's connection is up and was used before the fork

        pid = os.fork()
        if pid == 0:  # the child: no pytest from here on, only an exit status
            status = 1
            try:
                with span("child.work", pid=os.getpid()):
                    pass
                status = 0 if mon.stop(timeout=10) == [] else 2
            finally:
                os._exit(status)
        assert _wait_child(pid) == 0
        child = receiver.named("child.work")
        parent = receiver.named("parent.work")
        assert str(child.attributes["pid"]) == str(pid)
        assert child.trace_id != parent.trace_id
        parent_peer, child_peer = receiver.requests[0]["peer"], receiver.requests[-1]["peer"]
        assert child_peer != parent_peer  # the child's own connection, not the parent's pooled one
    finally:
        mon.stop(timeout=10)
