"""Differential test: our remote write against a real Prometheus started with its remote-write receiver.

The exporter pushes once (tick, then flush closes the client) and the series are queried back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import pytest

from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.remote_write import remote_write_exporter
from sharedconfig.testing import InMemoryMetricsRecorder

pytestmark = pytest.mark.integration


class PrometheusHandle(Protocol):
    """What this test uses of the ``prometheus`` fixture's server."""

    url: str

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, object]]:
        """Query until ``expr`` returns something."""
        ...


class Collector:
    """A counter and a histogram, as a registry would return them."""

    def collect(self) -> list[MetricFamily]:
        """The families to push."""
        labels = (("job", "x"),)
        return [
            MetricFamily(
                "sharedconfig_rw_test",
                MetricType.COUNTER,
                "Pushed by the remote write test.",
                (Sample("sharedconfig_rw_test_total", labels, 42.0),),
            ),
            MetricFamily(
                "sharedconfig_rw_latency_seconds",
                MetricType.HISTOGRAM,
                "Pushed by the remote write test.",
                (
                    Sample("sharedconfig_rw_latency_seconds_bucket", (("job", "x"), ("le", "0.1")), 2.0),
                    Sample("sharedconfig_rw_latency_seconds_bucket", (("job", "x"), ("le", "+Inf")), 3.0),
                    Sample("sharedconfig_rw_latency_seconds_sum", labels, 0.9),
                    Sample("sharedconfig_rw_latency_seconds_count", labels, 3.0),
                ),
            ),
        ]


def test_prometheus_stores_pushed_series(prometheus: Callable[..., PrometheusHandle]) -> None:
    """A counter and a histogram's _count pushed by remote_write_exporter are queryable with their values."""
    server = prometheus(remote_write=True)
    metrics = InMemoryMetricsRecorder()
    exporter = remote_write_exporter(server.url, Collector(), interval=15, metrics=metrics)

    async def push() -> None:
        try:
            await exporter.tick()
        finally:
            await exporter.aclose()

    asyncio.run(push())
    assert metrics.names() == []  # no export failure was counted
    [counter] = server.wait_for('sharedconfig_rw_test_total{job="x"}')
    assert counter["metric"] == {"__name__": "sharedconfig_rw_test_total", "job": "x"}
    assert counter["value"][1] == "42"  # type: ignore[index]
    [count] = server.wait_for('sharedconfig_rw_latency_seconds_count{job="x"}')
    assert count["value"][1] == "3"  # type: ignore[index]
    [bucket] = server.wait_for('sharedconfig_rw_latency_seconds_bucket{job="x", le="0.1"}')
    assert bucket["value"][1] == "2"  # type: ignore[index]
