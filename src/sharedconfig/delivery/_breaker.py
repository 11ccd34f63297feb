"""The circuit breaker: resilience4j's state machine with count- or time-based sliding-window metrics.

One implementation for sync and async callers; it reads an injected clock and never waits.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.errors import CallNotPermitted, DeliveryError
from sharedconfig.interfaces import Logger
from sharedconfig.stdlog import StdlibLogger

__all__ = [
    "BreakerMetrics",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "StateListener",
    "WindowType",
    "records_failure",
]

T = TypeVar("T")

_DEFAULT_LOGGER = "sharedconfig.delivery"


class CircuitState(IntEnum):
    """A breaker's state; the values are what the ``circuit_breaker_state`` gauge reports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2
    DISABLED = 3
    FORCED_OPEN = 4


class WindowType(StrEnum):
    """What the sliding window holds: the last N calls, or the calls of the last N seconds."""

    COUNT = "count"
    TIME = "time"


def records_failure(error: BaseException) -> bool:
    """The default ``record_error``: every error counts against the destination except a refused request.

    A ``DeliveryError`` with a 4xx status other than 408 and 429 says the destination is up and judged
    the request (bad payload, bad credentials): it is not the destination failing, so it is ignored by
    the breaker (its permission is released), as resilience4j's ``ignoreExceptions`` would.
    """
    if isinstance(error, DeliveryError) and error.status is not None and 400 <= error.status < 500:
        return error.status in (408, 429)
    return True


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """A breaker's settings, named as resilience4j names them (durations in seconds, rates in percent).

    In CLOSED each outcome enters the sliding window; once it holds ``minimum_number_of_calls`` (for a
    count window at most its size), a failure rate or slow-call rate at or above its threshold opens the
    breaker. OPEN refuses every call for ``wait_duration_in_open_state``; the next permission request
    after that (or any look at the breaker, with ``automatic_transition_from_open_to_half_open``) moves it
    to HALF_OPEN, which lets ``permitted_number_of_calls_in_half_open_state`` calls through and decides
    on their outcomes alone: thresholds reached -> OPEN, else CLOSED. ``max_wait_duration_in_half_open_state``
    (0 = forever) bounds how long HALF_OPEN waits for those calls before it opens again. A call slower
    than ``slow_call_duration_threshold`` is slow; ``record_error`` says which errors are failures
    (others are ignored and give their permission back).
    """

    sliding_window_type: WindowType = WindowType.COUNT
    sliding_window_size: int = 10
    minimum_number_of_calls: int = 5
    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold: float = 60.0
    wait_duration_in_open_state: float = 30.0
    permitted_number_of_calls_in_half_open_state: int = 1
    max_wait_duration_in_half_open_state: float = 0.0
    automatic_transition_from_open_to_half_open: bool = False
    record_error: Callable[[BaseException], bool] = field(default=records_failure, compare=False)

    def __post_init__(self) -> None:
        """Refuse windows, thresholds and waits that cannot work."""
        if self.sliding_window_size < 1 or self.minimum_number_of_calls < 1:
            raise ValueError("sliding_window_size and minimum_number_of_calls must be >= 1")
        if self.permitted_number_of_calls_in_half_open_state < 1:
            raise ValueError("permitted_number_of_calls_in_half_open_state must be >= 1")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 100:
                raise ValueError("rate thresholds must be in (0, 100]")
        durations = (
            self.slow_call_duration_threshold,
            self.wait_duration_in_open_state,
            self.max_wait_duration_in_half_open_state,
        )
        if any(d < 0 for d in durations):
            raise ValueError("durations must be >= 0")


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """What a breaker's current window holds; rates are percent, ``-1.0`` below the minimum of calls.

    Every transition to CLOSED, HALF_OPEN, FORCED_OPEN or DISABLED starts a new window; OPEN keeps the
    window that opened it (so it can be read), adding only refused calls.
    """

    state: CircuitState
    failure_rate: float
    slow_call_rate: float
    calls: int
    failed_calls: int
    slow_calls: int
    slow_failed_calls: int
    not_permitted_calls: int

    @property
    def successful_calls(self) -> int:
        """Calls that did not fail (slow ones included)."""
        return self.calls - self.failed_calls


@dataclass(slots=True)
class _Totals:
    calls: int = 0
    failed: int = 0
    slow: int = 0
    slow_failed: int = 0

    def add(self, failed: bool, slow: bool, sign: int = 1) -> None:
        self.calls += sign
        self.failed += sign * failed
        self.slow += sign * slow
        self.slow_failed += sign * (failed and slow)

    def remove(self, other: _Totals) -> None:
        self.calls -= other.calls
        self.failed -= other.failed
        self.slow -= other.slow
        self.slow_failed -= other.slow_failed


class _CountWindow:
    """The outcomes of the last ``size`` calls in a ring, with running totals."""

    def __init__(self, size: int) -> None:
        self._ring: deque[tuple[bool, bool]] = deque(maxlen=size)
        self.totals = _Totals()

    def record(self, failed: bool, slow: bool, now: float) -> None:
        if len(self._ring) == self._ring.maxlen:
            self.totals.add(*self._ring[0], sign=-1)
        self._ring.append((failed, slow))
        self.totals.add(failed, slow)

    def current(self, now: float) -> _Totals:
        return self.totals


class _TimeWindow:
    """The outcomes of the last ``size`` seconds, one bucket per second of the clock, evicted by time."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._buckets: deque[tuple[int, _Totals]] = deque()
        self.totals = _Totals()

    def _evict(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self._size:
            self.totals.remove(self._buckets.popleft()[1])

    def record(self, failed: bool, slow: bool, now: float) -> None:
        second = math.floor(now)
        self._evict(second)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, _Totals()))
        self._buckets[-1][1].add(failed, slow)
        self.totals.add(failed, slow)

    def current(self, now: float) -> _Totals:
        self._evict(math.floor(now))
        return self.totals


class _Window:
    """One state's measurements: a sliding window, its minimum of calls, and the refused-call count."""

    def __init__(self, window: _CountWindow | _TimeWindow, minimum: int) -> None:
        self.window = window
        self.minimum = minimum
        self.not_permitted = 0

    def rates(self, now: float) -> tuple[float, float, _Totals]:
        totals = self.window.current(now)
        if totals.calls < self.minimum or totals.calls == 0:
            return -1.0, -1.0, totals
        return totals.failed * 100.0 / totals.calls, totals.slow * 100.0 / totals.calls, totals

    def exceeded(self, config: CircuitBreakerConfig, now: float) -> bool | None:
        """True above a threshold, False below both, None while below the minimum of calls."""
        failure, slow, _ = self.rates(now)
        if failure < 0:
            return None
        return failure >= config.failure_rate_threshold or slow >= config.slow_call_rate_threshold


StateListener = Callable[[str, CircuitState, CircuitState], None]
"""``on_state_change(name, old, new)``: called once per transition, in order, outside the breaker's lock."""


class CircuitBreaker:
    """resilience4j's circuit breaker state machine (see ``CircuitBreakerConfig`` for the rules).

    Guard a call with ``try_acquire_permission()`` (or ``acquire_permission()``, which raises
    ``CallNotPermitted``), then report it with ``on_success(duration)`` or ``on_error(duration, error)``,
    or ``release_permission()`` when it never ran; ``call(fn)`` and ``await acall(fn)`` do all of it and
    measure the duration on the clock. A refused call fails at once and touches nothing but the
    not-permitted count. Thread-safe; time comes from ``clock`` and nothing here waits: the move from
    OPEN to HALF_OPEN and the half-open time limit take effect at the next call that looks at the breaker.

    ``on_state_change(name, old, new)`` hears every transition, in order; one that raises is logged
    and the breaker carries on.
    """

    def __init__(
        self,
        name: str = "default",
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_state_change: StateListener | None = None,
        logger: Logger | None = None,
    ) -> None:
        self.name = name
        self.config = config or CircuitBreakerConfig()
        self._clock = clock
        self._listener = on_state_change
        self._logger = logger or StdlibLogger(_DEFAULT_LOGGER)
        self._lock = threading.Lock()
        self._listeners_lock = threading.RLock()  # re-entrant: a listener may look at the breaker
        self._outbox: deque[tuple[CircuitState, CircuitState]] = deque()
        self._state = CircuitState.CLOSED
        self._since = clock.now()
        self._permits = 0
        self._window = self._closed_window()

    # -- reading ---------------------------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (an elapsed wait is applied first)."""
        with self._lock:
            self._advance(requesting=False)
            state = self._state
        self._drain()
        return state

    @property
    def metrics(self) -> BreakerMetrics:
        """A snapshot of the current window."""
        with self._lock:
            self._advance(requesting=False)
            failure, slow, totals = self._window.rates(self._clock.now())
            snapshot = BreakerMetrics(
                self._state,
                failure,
                slow,
                totals.calls,
                totals.failed,
                totals.slow,
                totals.slow_failed,
                self._window.not_permitted,
            )
        self._drain()
        return snapshot

    def retry_in(self) -> float:
        """Seconds until an OPEN breaker lets a call try again; 0 in every other state."""
        with self._lock:
            if self._state is not CircuitState.OPEN:
                return 0.0
            return max(self._since + self.config.wait_duration_in_open_state - self._clock.now(), 0.0)

    # -- guarding a call -------------------------------------------------------------------------------

    def try_acquire_permission(self) -> bool:
        """Whether a call may go out now; a refusal is counted as not permitted."""
        with self._lock:
            self._advance(requesting=True)
            permitted = self._acquire()
        self._drain()
        return permitted

    def acquire_permission(self) -> None:
        """Like ``try_acquire_permission``, raising ``CallNotPermitted`` on refusal."""
        if not self.try_acquire_permission():
            raise CallNotPermitted(
                f"circuit breaker {self.name!r} is {self.state.name} and does not permit calls",
                breaker=self.name,
                state=self.state.name,
                retry_in=self.retry_in(),
            )

    def release_permission(self) -> None:
        """Give back a permission whose call never ran (cancelled) or whose error is not recorded."""
        with self._lock:
            if self._state is CircuitState.HALF_OPEN:
                self._permits = min(
                    self._permits + 1, self.config.permitted_number_of_calls_in_half_open_state
                )

    def on_success(self, duration: float) -> None:
        """Record a call that succeeded after ``duration`` seconds."""
        with self._lock:
            self._record(duration, failed=False)
        self._drain()

    def on_error(self, duration: float, error: BaseException) -> None:
        """Record a call that failed after ``duration`` seconds, unless ``record_error`` ignores ``error``."""
        if not self.config.record_error(error):
            self.release_permission()
            return
        with self._lock:
            self._record(duration, failed=True)
        self._drain()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the breaker; refused at once with ``CallNotPermitted`` when not permitted."""
        with self._guarded():
            return fn()

    async def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``call`` for a coroutine function; a cancelled call gives its permission back."""
        with self._guarded():
            return await fn()

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """One call of ``call``/``acall``: permitted first, timed on the clock, its outcome recorded.

        An ``Exception`` is an error (``record_error`` decides); anything else (a cancellation, an
        interrupt) gives the permission back and records nothing.
        """
        self.acquire_permission()
        start = self._clock.now()
        try:
            yield
        except Exception as exc:
            self.on_error(self._clock.now() - start, exc)
            raise
        except BaseException:
            self.release_permission()
            raise
        self.on_success(self._clock.now() - start)

    # -- operator transitions --------------------------------------------------------------------------

    def transition_to_forced_open(self) -> None:
        """Refuse every call until another transition is requested."""
        self._request(CircuitState.FORCED_OPEN)

    def transition_to_disabled(self) -> None:
        """Permit every call and record nothing until another transition is requested."""
        self._request(CircuitState.DISABLED)

    def transition_to_closed(self) -> None:
        """Close the breaker with an empty window."""
        self._request(CircuitState.CLOSED)

    def reset(self) -> None:
        """Back to CLOSED with an empty window, from any state (the listener hears it only on a change)."""
        with self._lock:
            self._to(CircuitState.CLOSED)
            self._window = self._closed_window()
        self._drain()

    # -- internals (called with the lock held) ---------------------------------------------------------

    def _request(self, state: CircuitState) -> None:
        with self._lock:
            self._to(state)
        self._drain()

    def _closed_window(self) -> _Window:
        c = self.config
        if c.sliding_window_type is WindowType.TIME:
            return _Window(_TimeWindow(c.sliding_window_size), c.minimum_number_of_calls)
        return _Window(
            _CountWindow(c.sliding_window_size), min(c.minimum_number_of_calls, c.sliding_window_size)
        )

    def _advance(self, *, requesting: bool) -> None:
        """Apply the timed transitions: OPEN -> HALF_OPEN after the wait, HALF_OPEN -> OPEN at its limit."""
        now = self._clock.now()
        c = self.config
        if (
            self._state is CircuitState.OPEN
            and now >= self._since + c.wait_duration_in_open_state
            and (requesting or c.automatic_transition_from_open_to_half_open)
        ):
            self._to(CircuitState.HALF_OPEN)
        elif (
            self._state is CircuitState.HALF_OPEN
            and c.max_wait_duration_in_half_open_state > 0
            and now >= self._since + c.max_wait_duration_in_half_open_state
        ):
            self._to(CircuitState.OPEN)

    def _acquire(self) -> bool:
        state = self._state
        if state is CircuitState.CLOSED or state is CircuitState.DISABLED:
            return True
        if state is CircuitState.HALF_OPEN and self._permits > 0:
            self._permits -= 1
            return True
        self._window.not_permitted += 1
        return False

    def _record(self, duration: float, *, failed: bool) -> None:
        self._advance(requesting=False)
        state = self._state
        if state is not CircuitState.CLOSED and state is not CircuitState.HALF_OPEN:
            return  # disabled, or a call let through before the breaker opened: not measured
        now = self._clock.now()
        self._window.window.record(failed, duration > self.config.slow_call_duration_threshold, now)
        verdict = self._window.exceeded(self.config, now)
        if verdict is True:
            self._to(CircuitState.OPEN)
        elif verdict is False and state is CircuitState.HALF_OPEN:
            self._to(CircuitState.CLOSED)

    def _to(self, state: CircuitState) -> None:
        old = self._state
        if old is state:
            return
        self._state = state
        self._since = self._clock.now()
        permitted = self.config.permitted_number_of_calls_in_half_open_state
        if state is CircuitState.HALF_OPEN:
            self._permits = permitted
            self._window = _Window(_CountWindow(permitted), permitted)
        elif state is not CircuitState.OPEN:  # OPEN keeps the window that opened it, for reading
            self._window = self._closed_window()
        self._outbox.append((old, state))

    def _drain(self) -> None:
        """Tell the listener every queued transition, in order, outside the state lock."""
        if not self._outbox:
            return
        with self._listeners_lock:
            while True:
                with self._lock:
                    if not self._outbox:
                        return
                    old, new = self._outbox.popleft()
                if self._listener is None:
                    continue
                try:
                    self._listener(self.name, old, new)
                except Exception as exc:  # a broken listener must not break the breaker
                    self._logger.error(
                        "circuit breaker state listener failed",
                        breaker=self.name,
                        error=f"{type(exc).__name__}: {exc}",
                    )

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.name})"
