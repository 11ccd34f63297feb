"""The exporter factory: ``monitoring.metrics.exporters`` settings to the exporters the hub runs.

It sits above the formats (``remote_write``, ``datadog``) and the composition (``push``), which never
import it back; ``Exporter`` (the protocol the hub runs) is re-exported from ``push``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import CircuitBreakerConfig, RetryPolicy, StateListener
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.metrics.datadog import datadog_exporter, dogstatsd_exporter
from sharedconfig.monitoring.metrics.model import Collector
from sharedconfig.monitoring.metrics.push import Exporter, ExporterGiveUp, ExporterOptions, PushExporter
from sharedconfig.monitoring.metrics.remote_write import remote_write_exporter

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import MetricsSettings

__all__ = ["Exporter", "build_exporter_entries"]


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def build_exporter_entries(
    settings: MetricsSettings,
    collector: Collector,
    *,
    metrics: MetricsRecorder | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: Logger | None = None,
    host: str | None = None,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreakerConfig | None = None,
    on_state_change: StateListener | None = None,
    on_give_up: ExporterGiveUp | None = None,
) -> list[tuple[int, Exporter]]:
    """One exporter per configured destination in ``settings.exporters``, each with its entry's index.

    ``prometheus`` with ``push_interval`` becomes remote write (without it Prometheus scrapes /metrics and
    no exporter is needed); ``datadog`` becomes the series API exporter, plus DogStatsD when
    ``statsd_host`` is set, both every ``collection_interval``. ``host`` is the DataDog host resource
    (default: this machine's hostname). Each entry's ``retry`` and ``circuit_breaker`` blocks (the one
    vocabulary of ``config.policies``) configure its delivery, DogStatsD taking its ``datadog`` entry's;
    ``retry`` and ``breaker`` given here override every entry's; ``on_state_change`` hears every
    exporter's breaker (the ``circuit_breaker_state`` gauge is recorded into ``metrics`` either way) and
    ``on_give_up`` every push given up on.
    Nothing is built when metrics are disabled, nor for an entry with ``enabled: false``.
    """
    if not settings.enabled:
        return []
    built: list[tuple[int, Exporter]] = []
    taken: set[str] = set()
    every = settings.collection_interval.total_seconds()
    for index, config in enumerate(settings.exporters):
        if not config.enabled:
            continue
        options: ExporterOptions = {
            "clock": clock,
            "metrics": metrics,
            "logger": logger,
            "retry": retry if retry is not None else config.retry.policy(),
            "breaker": breaker if breaker is not None else config.circuit_breaker.config(),
            "on_state_change": on_state_change,
            "on_give_up": on_give_up,
        }
        made: list[PushExporter[Any]] = []
        if config.type == "prometheus":
            if config.push_interval is None:
                continue
            made.append(
                remote_write_exporter(
                    config.endpoint,
                    collector,
                    interval=config.push_interval.total_seconds(),
                    batch_size=settings.batch_size,
                    name=_unique("remote_write", taken),
                    **options,
                )
            )
        else:
            made.append(
                datadog_exporter(
                    config.api_key,
                    config.endpoint,
                    collector,
                    tags=config.tags,
                    interval=every,
                    compression=settings.compression,
                    batch_size=settings.batch_size,
                    host=host if host is not None else socket.gethostname(),
                    name=_unique("datadog", taken),
                    **options,
                )
            )
            if config.statsd_host:  # DogStatsD delivers with its datadog entry's blocks
                made.append(
                    dogstatsd_exporter(
                        config.statsd_host,
                        config.statsd_port or 8125,
                        collector,
                        tags=config.tags,
                        interval=every,
                        name=_unique("dogstatsd", taken),
                        **options,
                    )
                )
        for exporter in made:  # enabled: false / forced_open: true are states, not a window
            config.circuit_breaker.apply_state(exporter.delivery.breaker)
        built.extend((index, exporter) for exporter in made)
    return built
