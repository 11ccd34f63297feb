"""The collectors registered on a registry: names reserved when they join, families read at collection.

A family that fails or clashes at collection is left out of that collection and counted in
``metrics_dropped_total`` (``collector_error``, ``collector_conflict``); the scrape goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType
from sharedconfig.monitoring.metrics.naming import Rejected, check_metric_name, sample_names
from sharedconfig.monitoring.metrics.storage import Storage

__all__ = ["Collectors"]


@dataclass(frozen=True, slots=True)
class _Entry:
    """A registered collector, the families it showed when it joined, and the sample names it reserved."""

    collector: Collector
    shown: frozenset[tuple[str, MetricType]]
    names: tuple[str, ...]


class Collectors:
    """The collectors of one registry, whose sample names ``storage`` keeps reserved while they are in.

    Registration works as in prometheus_client: the collector is collected once and every sample name its
    families expose is reserved, or ValueError when one is taken (by a family of the registry or another
    collector). A family a collector only shows later is kept unless its names are taken.
    """

    __slots__ = ("_entries", "_storage")

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._entries: tuple[_Entry, ...] = ()  # replaced, never mutated: collect() reads it unlocked

    def __bool__(self) -> bool:
        """True when at least one collector is registered."""
        return bool(self._entries)

    def register(self, collector: Collector) -> None:
        """Reserve ``collector``'s sample names and collect it from now on; ValueError on a clash or twice."""
        families = list(collector.collect())
        names: list[str] = []
        try:
            for family in families:
                names.extend(sample_names(check_metric_name(family.name), family.type))
        except Rejected as rejected:
            raise ValueError(f"{collector!r}: {rejected}") from None
        if len(set(names)) != len(names):
            raise ValueError(f"{collector!r} shows families whose sample names clash: {sorted(names)}")
        entry = _Entry(collector, frozenset((f.name, f.type) for f in families), tuple(names))
        with self._storage.lock:
            if any(known.collector is collector for known in self._entries):
                raise ValueError(f"{collector!r} is registered already")
            try:
                self._storage.reserve(names, f"the collector {type(collector).__name__}")
            except Rejected as rejected:
                raise ValueError(str(rejected)) from None
            self._entries = (*self._entries, entry)

    def unregister(self, collector: Collector) -> None:
        """Stop collecting ``collector`` and free its names; ValueError when it is not registered."""
        with self._storage.lock:
            for entry in self._entries:
                if entry.collector is collector:
                    self._storage.release(entry.names)
                    self._entries = tuple(e for e in self._entries if e is not entry)
                    return
        raise ValueError(f"{collector!r} is not registered")

    def collect(self) -> Sequence[MetricFamily]:
        """Every registered collector's families; one that fails or clashes is left out and counted."""
        storage, taken = self._storage, set[str]()
        result: list[MetricFamily] = []
        for entry in self._entries:
            try:
                families = list(entry.collector.collect())
            except Exception:  # one failing collector must not take the whole scrape down
                storage.drop("collector_error")
                continue
            for family in families:
                if (family.name, family.type) not in entry.shown:  # new since it joined: check it now
                    try:
                        names = sample_names(check_metric_name(family.name), family.type)
                    except Rejected as rejected:
                        storage.drop(rejected.reason)
                        continue
                    if any(name in taken or storage.owner(name) is not None for name in names):
                        storage.drop("collector_conflict")
                        continue
                    taken.update(names)
                result.append(family)
        return result
