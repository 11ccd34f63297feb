"""What a metrics registry hands to exposition and exporters: families of samples, plain data.

``Registry.collect()`` returns ``MetricFamily`` objects; the Prometheus text renderer, remote write and
the DataDog exporter all read these and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, get_args, runtime_checkable

from sharedconfig.interfaces import MetricKind

__all__ = ["GAUGE_MODES", "Collector", "GaugeMode", "Labels", "MetricFamily", "MetricType", "Sample"]

Labels = tuple[tuple[str, str], ...]
"""Label pairs sorted by name, e.g. ``(("method", "GET"), ("status", "200"))``."""


MetricType = MetricKind
"""The kinds of metric (Prometheus TYPE names): the interfaces' ``MetricKind`` under its exposition name."""

GaugeMode = Literal["all", "sum", "max", "min", "mostrecent"]
"""How a gauge's values from several worker processes merge (``monitoring.metrics.multiprocess_dir``): one
series per live process with a ``pid`` label (``all``, the default), or one series: their sum, maximum,
minimum, or the value set last (``mostrecent``). Dead processes' gauges are left out in every mode."""

GAUGE_MODES: tuple[GaugeMode, ...] = get_args(GaugeMode)
"""Every gauge mode, the default first."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series: ``name`` is the full sample name (``x_total``, ``x_bucket``, ``x_sum``)."""

    name: str
    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric and all its series.

    ``name`` is the family name without the ``_total`` suffix for counters (as OpenMetrics names it);
    counter samples are ``name + "_total"``; histogram samples are ``_bucket`` (with an ``le`` label, the
    last one ``+Inf``), ``_sum`` and ``_count``.
    """

    name: str
    type: MetricType
    help: str
    samples: tuple[Sample, ...]
    unit: str = ""


@runtime_checkable
class Collector(Protocol):
    """Anything that hands over its current metric families at collection time (one method, as in
    prometheus_client): the registry itself, the process collector, a component's own gauges."""

    def collect(self) -> Sequence[MetricFamily]:
        """Every family with its current samples."""
        ...
