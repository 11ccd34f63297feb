"""Reading a MetricsRegistry back in the metrics tests: a collected family and the registry's own counters.

Imported by the test modules beside it (``from registry_reads import family``); pytest collects nothing here.
"""

from __future__ import annotations

from sharedconfig.monitoring.metrics.model import MetricFamily
from sharedconfig.monitoring.metrics.registry import MetricsRegistry

GET = {"method": "GET", "status": "200"}
"""The label values of a typical HTTP request series."""


def family(registry: MetricsRegistry, name: str) -> MetricFamily:
    """The collected family ``name``; fails when absent."""
    found = [f for f in registry.collect() if f.name == name]
    assert found, f"no family {name} in {[f.name for f in registry.collect()]}"
    return found[0]


def dropped(registry: MetricsRegistry, reason: str) -> float | None:
    """The value of ``metrics_dropped_total{reason}``."""
    return registry.sample_value("metrics_dropped_total", {"reason": reason})


def folds(registry: MetricsRegistry, metric: str) -> float | None:
    """The value of ``metrics_cardinality_overflow_total{metric}``."""
    return registry.sample_value("metrics_cardinality_overflow_total", {"metric": metric})
