"""Metrics: a fast in-process registry, Prometheus/OpenMetrics exposition, and push exporters.

The registry's public names load from their home modules on first use, so importing a submodule stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

__all__ = [
    "DEFAULT_BUCKETS",
    "Collector",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "MetricFamily",
    "MetricType",
    "MetricsRegistry",
    "NullMetricsRegistry",
    "ProcessCollector",
    "Sample",
    "Timer",
]

if TYPE_CHECKING:
    from sharedconfig.monitoring.metrics.instruments import (
        Counter,
        CounterChild,
        Gauge,
        GaugeChild,
        Histogram,
        HistogramChild,
        Timer,
    )
    from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType, Sample
    from sharedconfig.monitoring.metrics.naming import DEFAULT_BUCKETS
    from sharedconfig.monitoring.metrics.process import ProcessCollector
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry, NullMetricsRegistry

_HOMES = {
    "DEFAULT_BUCKETS": "naming",
    "Collector": "model",
    "Counter": "instruments",
    "CounterChild": "instruments",
    "Gauge": "instruments",
    "GaugeChild": "instruments",
    "Histogram": "instruments",
    "HistogramChild": "instruments",
    "MetricFamily": "model",
    "MetricType": "model",
    "MetricsRegistry": "registry",
    "NullMetricsRegistry": "registry",
    "ProcessCollector": "process",
    "Sample": "model",
    "Timer": "instruments",
}

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{home}" for name, home in _HOMES.items()}, globals()
)
