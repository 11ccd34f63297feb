"""Declared instruments (Counter, Gauge, Histogram), their per-label-set children, and Timer.

An instrument asks a ``ChildSource`` (its registry) for each child, so this module never imports the
registry; the null children here are what a disabled registry, or a processor's drop, hands out.
"""

from __future__ import annotations

import abc
import inspect
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from types import TracebackType
from typing import ClassVar, Final, Generic, ParamSpec, Protocol, TypeVar, cast

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.monitoring.metrics.model import MetricType
from sharedconfig.monitoring.metrics.storage import Series, Storage

__all__ = [
    "NULL_CHILDREN",
    "NULL_TIMER",
    "ChildSource",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "Instrument",
    "NullCounterChild",
    "NullGaugeChild",
    "NullHistogramChild",
    "NullTimer",
    "OverflowCounterChild",
    "OverflowHistogramChild",
    "RecordingChildren",
    "StampedGaugeChild",
    "Timer",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
ChildT = TypeVar("ChildT", "CounterChild", "GaugeChild", "HistogramChild")


class ChildSource(Protocol):
    """Where an instrument gets the child for one set of label values, and whether it may keep it.

    The registry admits the series (processors, cardinality limit) and builds a child writing to it; a
    child past the limit (folded into the overflow series) is not to be kept. ``NULL_CHILDREN`` hands out
    children that record nothing.
    """

    def counter_child(self, instrument: Counter, values: tuple[object, ...]) -> tuple[CounterChild, bool]:
        """The child of ``instrument`` for ``values`` and True when the instrument may cache it."""
        ...

    def gauge_child(self, instrument: Gauge, values: tuple[object, ...]) -> tuple[GaugeChild, bool]:
        """The child of ``instrument`` for ``values`` and True when the instrument may cache it."""
        ...

    def histogram_child(
        self, instrument: Histogram, values: tuple[object, ...]
    ) -> tuple[HistogramChild, bool]:
        """The child of ``instrument`` for ``values`` and True when the instrument may cache it."""
        ...


class _Instrument(abc.ABC, Generic[ChildT]):
    """What the three declared instruments share: label handling and the children cache."""

    kind: ClassVar[MetricType]
    __slots__ = ("_children", "_source", "_unlabelled", "buckets", "doc", "labelnames", "name")

    def __init__(
        self,
        source: ChildSource,
        name: str,
        doc: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:
        self._source = source
        self.name = name
        self.doc = doc
        self.labelnames = labelnames
        self.buckets = buckets
        self._children: dict[tuple[object, ...], ChildT] = {}
        # an unlabelled instrument gets its one child now, so it shows 0 before the first observation
        self._unlabelled: ChildT | None = None if labelnames else self._child(())

    def __repr__(self) -> str:
        """``Counter('http_requests', labelnames=('method',))``."""
        return f"{type(self).__name__}({self.name!r}, labelnames={self.labelnames!r})"

    def labels(self, *values: str, **kv: str) -> ChildT:
        """The child for these label values, by position or by name; cached, so keep it on hot paths.

        Raises ValueError when the values do not match ``labelnames``. Past the cardinality limit the child
        records into the overflow series and is not cached.
        """
        if kv:
            if values or len(kv) != len(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {values or ''}{kv}")
            try:
                values = tuple(kv[name] for name in self.labelnames)
            except KeyError:
                raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {kv}") from None
        child = self._children.get(values)
        if child is None:
            child = self._child(values)
        return child

    def _child(self, values: tuple[object, ...]) -> ChildT:
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"{self.name} takes {len(self.labelnames)} label values {self.labelnames}, got {values}"
            )
        child, keep = self._new_child(values)
        if keep:
            child = self._children.setdefault(values, child)
        return child

    def _default(self) -> ChildT:
        if self._unlabelled is None:
            raise ValueError(f"{self.name} has labels {self.labelnames}: call .labels(...) first")
        return self._unlabelled

    @abc.abstractmethod
    def _new_child(self, values: tuple[object, ...]) -> tuple[ChildT, bool]:
        """Ask the source for the child of this instrument's kind."""


class _NoStorage:
    """The base of the null children: built without storage, so nothing can be written."""

    __slots__ = ()

    def __init__(self) -> None:
        pass


# -- counters ----------------------------------------------------------------------------------------------


_INF: Final = float("inf")


def _bad_increment(amount: object) -> ValueError:
    """The error of a counter increment that is negative, infinite or NaN."""
    return ValueError(f"a counter only goes up by a finite amount: cannot add {amount!r}")


class CounterChild:
    """One series of a declared counter: ``inc`` is a single dict update in the caller's shard."""

    __slots__ = ("_key", "_local", "_storage")

    def __init__(self, storage: Storage, series: Series) -> None:
        self._storage = storage
        self._local = storage.local
        self._key = series

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount``; raises ValueError when it is negative, infinite or NaN (counters only go up)."""
        if 0 <= amount < _INF:
            try:
                self._local.counters[self._key] += amount
            except (AttributeError, KeyError):  # first increment in this thread
                self._storage.add_counter(self._key, amount)
            return
        raise _bad_increment(amount)


class OverflowCounterChild(CounterChild):
    """A child past the cardinality limit: it adds to the overflow series and counts each fold."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the overflow series and count the fold."""
        super().inc(amount)
        self._storage.count_fold(self._key)


class NullCounterChild(_NoStorage, CounterChild):
    """A child that records nothing (a disabled registry, or a series a processor dropped)."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        """Record nothing; still refuse what a recording child refuses (negative, infinite, NaN)."""
        if not 0 <= amount < _INF:
            raise _bad_increment(amount)


class Counter(_Instrument[CounterChild]):
    """A declared counter: ``inc()`` without labels, or ``labels(...).inc()``."""

    kind: ClassVar[MetricType] = MetricType.COUNTER
    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the unlabelled counter; raises ValueError when it has labels or amount < 0."""
        self._default().inc(amount)

    def _new_child(self, values: tuple[object, ...]) -> tuple[CounterChild, bool]:
        return self._source.counter_child(self, values)


# -- gauges ------------------------------------------------------------------------------------------------


class GaugeChild:
    """One series of a declared gauge: ``set`` is one store; ``inc`` and ``dec`` lock the series."""

    __slots__ = ("_folded", "_series", "_storage")

    def __init__(self, storage: Storage, series: Series, folded: bool) -> None:
        self._storage = storage
        self._series = series
        self._folded = folded

    def set(self, value: float) -> None:
        """Set the gauge to ``value``."""
        self._series.value = float(value)
        if self._folded:
            self._storage.count_fold(self._series)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (may be negative)."""
        series = self._series
        with series.lock:
            series.value += float(amount)
        if self._folded:
            self._storage.count_fold(series)

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount``."""
        self.inc(-float(amount))


class StampedGaugeChild(GaugeChild):
    """A gauge child that also keeps the wall time of its last change, for multiprocess "mostrecent"."""

    __slots__ = ("_wall",)

    def __init__(self, storage: Storage, series: Series, folded: bool, wall: Callable[[], float]) -> None:
        super().__init__(storage, series, folded)
        self._wall = wall

    def set(self, value: float) -> None:
        """Set the gauge to ``value`` and stamp it."""
        super().set(value)
        self._series.stamp = self._wall()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (may be negative) and stamp it."""
        super().inc(amount)
        self._series.stamp = self._wall()


class NullGaugeChild(_NoStorage, GaugeChild):
    """A gauge child that records nothing."""

    __slots__ = ()

    def set(self, value: float) -> None:
        """Record nothing."""

    def inc(self, amount: float = 1.0) -> None:
        """Record nothing."""

    def dec(self, amount: float = 1.0) -> None:
        """Record nothing."""


class Gauge(_Instrument[GaugeChild]):
    """A declared gauge: ``set``/``inc``/``dec`` without labels, or through ``labels(...)``."""

    kind: ClassVar[MetricType] = MetricType.GAUGE
    __slots__ = ()

    def set(self, value: float) -> None:
        """Set the unlabelled gauge to ``value``."""
        self._default().set(value)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the unlabelled gauge."""
        self._default().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount`` from the unlabelled gauge."""
        self._default().dec(amount)

    def _new_child(self, values: tuple[object, ...]) -> tuple[GaugeChild, bool]:
        return self._source.gauge_child(self, values)


# -- histograms --------------------------------------------------------------------------------------------


class HistogramChild:
    """One series of a declared histogram: ``observe`` updates the caller's shard, ``time()`` times."""

    __slots__ = ("_clock", "_key", "_local", "_storage")

    def __init__(self, storage: Storage, series: Series, clock: Clock) -> None:
        self._storage = storage
        self._local = storage.local
        self._key = series
        self._clock = clock

    def observe(self, value: float) -> None:
        """Observe ``value`` (NaN is dropped and counted)."""
        try:
            cell = self._local.histograms[self._key]
        except (AttributeError, KeyError):  # first observation in this thread
            cell = self._storage.histogram_cell(self._key, self._key)
        # NaN is dropped and counted; x != x is the NaN test without a call
        if value != value:  # noqa: PLR0124
            self._storage.observe(cell, value)
            return
        index = bisect_left(cell.bounds, value)
        cell.sum += value
        cell.counts[index] += 1.0

    def time(self) -> Timer:
        """A context manager and decorator observing the elapsed seconds."""
        return Timer(self.observe, self._clock)


class OverflowHistogramChild(HistogramChild):
    """A child past the cardinality limit: it observes into the overflow series and counts each fold."""

    __slots__ = ()

    def observe(self, value: float) -> None:
        """Observe into the overflow series and count the fold."""
        super().observe(value)
        self._storage.count_fold(self._key)


class NullHistogramChild(_NoStorage, HistogramChild):
    """A histogram child that records nothing; its timers time nothing."""

    __slots__ = ()

    def observe(self, value: float) -> None:
        """Record nothing."""

    def time(self) -> Timer:
        """A timer that records nothing."""
        return NULL_TIMER


class Histogram(_Instrument[HistogramChild]):
    """A declared histogram: ``observe``/``time`` without labels, or through ``labels(...)``."""

    kind: ClassVar[MetricType] = MetricType.HISTOGRAM
    __slots__ = ()

    def observe(self, value: float) -> None:
        """Observe ``value`` in the unlabelled histogram."""
        self._default().observe(value)

    def time(self) -> Timer:
        """Time a block or a function into the unlabelled histogram."""
        return self._default().time()

    def _new_child(self, values: tuple[object, ...]) -> tuple[HistogramChild, bool]:
        return self._source.histogram_child(self, values)


# -- timers ------------------------------------------------------------------------------------------------


class Timer:
    """Records elapsed seconds: ``with timer:`` around a block, or ``@timer`` on a function (sync or async).

    As a decorator each call is timed on its own, from any thread. As a context manager, nested ``with``
    blocks on one Timer work; create one Timer per block when several threads time at once.
    """

    __slots__ = ("_clock", "_observe", "_starts")

    def __init__(self, observe: Callable[[float], None], clock: Clock = SYSTEM_CLOCK) -> None:
        self._observe = observe
        self._clock = clock
        self._starts: list[float] = []

    def __enter__(self) -> Timer:
        """Start timing."""
        self._starts.append(self._clock.now())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Record the seconds since ``__enter__``, whether the block raised or not."""
        self._observe(max(0.0, self._clock.now() - self._starts.pop()))

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``fn`` so that each call (each await, for a coroutine function) is timed."""
        clock, observe = self._clock, self._observe
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], _time_async(cast(Callable[P, Awaitable[object]], fn), clock, observe))

        @wraps(fn)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock.now()
            try:
                return fn(*args, **kwargs)
            finally:
                observe(max(0.0, clock.now() - start))

        return timed


def _time_async(
    fn: Callable[P, Awaitable[T]], clock: Clock, observe: Callable[[float], None]
) -> Callable[P, Coroutine[object, object, T]]:
    @wraps(fn)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
        start = clock.now()
        try:
            return await fn(*args, **kwargs)
        finally:
            observe(max(0.0, clock.now() - start))

    return timed


def _discard(seconds: float) -> None:
    """What a null timer does with the seconds it did not measure."""


class NullTimer(Timer):
    """A timer that reads no clock and records nothing; as a decorator it returns the function unchanged."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_discard)

    def __enter__(self) -> Timer:
        """Nothing to start."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Nothing to record."""

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """``fn`` itself: there is nothing to time."""
        return fn


NULL_TIMER: Final = NullTimer()
"""The one null timer (it has no state)."""

_NULL_COUNTER_CHILD: Final = NullCounterChild()
_NULL_GAUGE_CHILD: Final = NullGaugeChild()
_NULL_HISTOGRAM_CHILD: Final = NullHistogramChild()


class _NullChildren:
    """A ``ChildSource`` handing out children that record nothing, not to be cached (they cost nothing)."""

    __slots__ = ()

    def counter_child(self, instrument: Counter, values: tuple[object, ...]) -> tuple[CounterChild, bool]:
        """The null counter child."""
        return _NULL_COUNTER_CHILD, False

    def gauge_child(self, instrument: Gauge, values: tuple[object, ...]) -> tuple[GaugeChild, bool]:
        """The null gauge child."""
        return _NULL_GAUGE_CHILD, False

    def histogram_child(
        self, instrument: Histogram, values: tuple[object, ...]
    ) -> tuple[HistogramChild, bool]:
        """The null histogram child."""
        return _NULL_HISTOGRAM_CHILD, False


NULL_CHILDREN: Final[ChildSource] = _NullChildren()
"""The ``ChildSource`` of a disabled registry's instruments: every child records nothing."""


Instrument = Counter | Gauge | Histogram
"""Any declared instrument."""


class RecordingChildren:
    """The ``ChildSource`` of a recording registry: ``admit`` finds the series, the child writes to it.

    ``admit(instrument, values)`` gives the series and whether it is the overflow series, or None when a
    processor dropped it (counted by the registry): that child records nothing, and is kept so the drop
    is counted once. A child folded into the overflow series is not kept, so each new label set is
    judged again.
    """

    __slots__ = ("_admit", "_clock", "_storage", "stamped")

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        admit: Callable[[Instrument, tuple[object, ...]], tuple[Series, bool] | None],
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._admit = admit
        self.stamped: set[str] = set()  # gauges declared multiprocess_mode="mostrecent": stamped children

    def counter_child(self, instrument: Counter, values: tuple[object, ...]) -> tuple[CounterChild, bool]:
        """A counter child (an overflow one past the limit)."""
        admitted = self._admit(instrument, values)
        if admitted is None:
            return _NULL_COUNTER_CHILD, True
        series, folded = admitted
        if folded:
            return OverflowCounterChild(self._storage, series), False
        return CounterChild(self._storage, series), True

    def gauge_child(self, instrument: Gauge, values: tuple[object, ...]) -> tuple[GaugeChild, bool]:
        """A gauge child (counting folds past the limit)."""
        admitted = self._admit(instrument, values)
        if admitted is None:
            return _NULL_GAUGE_CHILD, True
        series, folded = admitted
        if instrument.name in self.stamped:
            return StampedGaugeChild(self._storage, series, folded, self._wall), not folded
        return GaugeChild(self._storage, series, folded), not folded

    def _wall(self) -> float:
        return self._clock.wall().timestamp()

    def histogram_child(
        self, instrument: Histogram, values: tuple[object, ...]
    ) -> tuple[HistogramChild, bool]:
        """A histogram child (an overflow one past the limit)."""
        admitted = self._admit(instrument, values)
        if admitted is None:
            return _NULL_HISTOGRAM_CHILD, True
        series, folded = admitted
        if folded:
            return OverflowHistogramChild(self._storage, series, self._clock), False
        return HistogramChild(self._storage, series, self._clock), True
