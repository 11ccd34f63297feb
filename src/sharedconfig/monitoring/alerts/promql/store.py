"""The local time-series store PromQL reads: per series a bounded ring of ``(ms, value)`` points.

``append(t, samples)`` records one scrape: every series in it gets a point at ``t``, and every series the
same ``source`` reported last time but not now gets Prometheus's stale marker (``STALE_NAN``), so
instant selectors stop seeing it at once instead of after the 5-minute lookback. ``write`` adds points
as given (test input, with gaps and stale markers of its own). ``select`` returns the points of the
series matching a selector in a closed window; the evaluator applies Prometheus's open/closed window
ends and drops stale markers itself.

Memory is bounded three ways: points older than ``retention_ms`` before the newest time appended are
dropped (checked once per eighth of the retention); a series keeps at most ``max_points`` points (the
oldest go first); at most ``max_series`` series are kept (new ones beyond that are counted in
``rejected_series`` and not stored). A series whose points have all aged out is forgotten. Points live
in two ``array`` buffers per series (8 bytes each for time and value), not in tuples: 10,000 series
with an hour of 15 s points take about 40 MB instead of several hundred.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sharedconfig.monitoring.alerts.promql.ast import Matcher, MatchOp
from sharedconfig.monitoring.alerts.promql.values import (
    METRIC_NAME,
    STALE_NAN,
    Labels,
    Point,
    Series,
    is_stale,
    label,
)

__all__ = ["SampleStore"]

DEFAULT_RETENTION_MS = 3_600_000
DEFAULT_MAX_POINTS = 4_096
DEFAULT_MAX_SERIES = 200_000


@dataclass(slots=True)
class _Ring:
    """One series' points, oldest first, from ``start`` on (the prefix before it is dead space)."""

    times: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    start: int = 0

    def __len__(self) -> int:
        return len(self.times) - self.start

    def last_time(self) -> int | None:
        return self.times[-1] if len(self) else None

    def last_value(self) -> float:
        return self.values[-1]

    def add(self, t: int, value: float) -> bool:
        if len(self) and t <= self.times[-1]:
            return False
        self.times.append(t)
        self.values.append(value)
        return True

    def drop_before(self, t: int, keep: int) -> None:
        """Forget points older than ``t``, and all but the newest ``keep``."""
        cut = max(bisect.bisect_left(self.times, t, self.start), len(self.times) - keep)
        if cut > self.start:
            self.start = cut
            if self.start * 2 >= len(self.times):  # compact once the dead prefix is half the buffer
                del self.times[: self.start]
                del self.values[: self.start]
                self.start = 0

    def window(self, start_ms: int, end_ms: int) -> tuple[Point, ...]:
        lo = bisect.bisect_left(self.times, start_ms, self.start)
        hi = bisect.bisect_right(self.times, end_ms, lo)
        return tuple(zip(self.times[lo:hi], self.values[lo:hi], strict=True))

    def newest_in(self, start_ms: int, end_ms: int) -> Point | None:
        hi = bisect.bisect_right(self.times, end_ms, self.start)
        if hi == self.start or self.times[hi - 1] < start_ms:
            return None
        return self.times[hi - 1], self.values[hi - 1]

    def nbytes(self) -> int:
        return self.times.buffer_info()[1] * self.times.itemsize + self.values.buffer_info()[1] * 8


class SampleStore:
    """Points per series, bounded in time, points and series; see the module docstring."""

    def __init__(
        self,
        *,
        retention_ms: int = DEFAULT_RETENTION_MS,
        max_points: int = DEFAULT_MAX_POINTS,
        max_series: int = DEFAULT_MAX_SERIES,
    ) -> None:
        if retention_ms <= 0 or max_points < 2 or max_series < 1:
            raise ValueError("retention_ms must be > 0, max_points >= 2 and max_series >= 1")
        self.retention_ms = retention_ms
        self.max_points = max_points
        self.max_series = max_series
        self.rejected_series = 0
        """Series not stored because ``max_series`` were already kept."""
        self.out_of_order = 0
        """Points not stored because their series already had a point at that time or later."""
        self._series: dict[Labels, _Ring] = {}
        self._by_name: dict[str, set[Labels]] = {}
        self._reported: dict[str, set[Labels]] = {}
        self._newest = -(2**63)
        self._next_expiry = -(2**63)

    def __len__(self) -> int:
        return len(self._series)

    @property
    def newest(self) -> int | None:
        """The newest time appended or written, or ``None`` for an empty store."""
        return None if self._newest == -(2**63) else self._newest

    def append(
        self, t: int, samples: Mapping[Labels, float] | Iterable[tuple[Labels, float]], *, source: str = ""
    ) -> None:
        """Record one scrape at ``t`` (ms); series ``source`` reported last time and not now go stale."""
        items = samples.items() if isinstance(samples, Mapping) else samples
        now: set[Labels] = set()
        for series_labels, value in items:
            now.add(series_labels)
            self._add(series_labels, t, float(value))
        for gone in self._reported.get(source, set()) - now:
            ring = self._series.get(gone)
            if ring is not None and len(ring) and not is_stale(ring.last_value()):
                self._add(gone, t, STALE_NAN)
        self._reported[source] = now
        self._expire(max(t, self._newest))

    def write(self, series_labels: Labels, points: Iterable[Point]) -> None:
        """Add ``points`` (oldest first; values may be ``STALE_NAN``) to one series, as given."""
        for t, value in points:
            self._add(series_labels, t, value)
        ring = self._series.get(series_labels)
        if ring is not None:
            ring.drop_before(self._newest - self.retention_ms, self.max_points)
            if not len(ring):
                self._forget(series_labels)

    def _add(self, series_labels: Labels, t: int, value: float) -> None:
        ring = self._series.get(series_labels)
        if ring is None:
            if len(self._series) >= self.max_series:
                self.rejected_series += 1
                return
            ring = self._series[series_labels] = _Ring()
            self._by_name.setdefault(label(series_labels, METRIC_NAME), set()).add(series_labels)
        if not ring.add(t, value):
            self.out_of_order += 1
            return
        if len(ring) > self.max_points:
            ring.drop_before(ring.times[ring.start], self.max_points)
        self._newest = max(self._newest, t)

    def _expire(self, now: int) -> None:
        # A pass over every series costs as much as a scrape: run it once per eighth of the retention,
        # so points outlive the retention by at most that much.
        oldest = now - self.retention_ms
        if oldest < self._next_expiry:
            return
        self._next_expiry = oldest + max(1, self.retention_ms // 8)
        for series_labels in [
            k for k, ring in self._series.items() if not len(ring) or ring.times[-1] < oldest
        ]:
            self._forget(series_labels)
        for ring in self._series.values():
            if ring.times[ring.start] < oldest:
                ring.drop_before(oldest, self.max_points)

    def _forget(self, series_labels: Labels) -> None:
        del self._series[series_labels]
        name = label(series_labels, METRIC_NAME)
        names = self._by_name[name]
        names.discard(series_labels)
        if not names:
            del self._by_name[name]

    def series(self, matchers: Sequence[Matcher], *, v2: bool = False) -> list[Labels]:
        """The labels of every stored series all ``matchers`` accept (regexes as Prometheus 2 with ``v2``)."""
        candidates: Iterable[Labels] = self._series
        for m in matchers:
            if m.name == METRIC_NAME and m.op is MatchOp.EQUAL:
                candidates = self._by_name.get(m.value, ())
                break
        return [
            series_labels
            for series_labels in candidates
            if all(m.matches(label(series_labels, m.name), v2=v2) for m in matchers)
        ]

    def select(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, *, v2: bool = False
    ) -> list[Series]:
        """The points in ``[start_ms, end_ms]`` of every series ``matchers`` accept, stale markers included.

        Series with no point in the window are left out; the result is sorted by labels.
        """
        found = []
        for series_labels in self.series(matchers, v2=v2):
            points = self._series[series_labels].window(start_ms, end_ms)
            if points:
                found.append(Series(series_labels, points))
        found.sort(key=lambda s: s.labels)
        return found

    def latest(
        self, matchers: Sequence[Matcher], start_ms: int, end_ms: int, *, v2: bool = False
    ) -> list[tuple[Labels, Point]]:
        """Per series ``matchers`` accept, its newest point in ``[start_ms, end_ms]`` (a stale marker too).

        What an instant selector reads, without building every point of the lookback window.
        """
        found = []
        for series_labels in self.series(matchers, v2=v2):
            point = self._series[series_labels].newest_in(start_ms, end_ms)
            if point is not None:
                found.append((series_labels, point))
        found.sort()
        return found

    def bytes_per_series(self) -> float:
        """Average bytes of point buffers per stored series (for the benchmark's memory report)."""
        if not self._series:
            return 0.0
        return sum(ring.nbytes() for ring in self._series.values()) / len(self._series)
