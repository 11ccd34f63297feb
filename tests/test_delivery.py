"""Tests for sharedconfig.delivery: retry policy, circuit breaker, bulkhead and the Delivery composition.

Time is a FakeClock: the breaker reads it, deliveries sleep on it and tests move it; nothing waits.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from dataclasses import dataclass, field

import pytest

from sharedconfig.delivery import (
    RETRYABLE_STATUSES,
    Bulkhead,
    BulkheadFull,
    CallNotPermitted,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    Delivery,
    DeliveryError,
    Jitter,
    RetryPolicy,
    Series,
    WindowType,
    records_failure,
)
from sharedconfig.errors import SharedConfigError, ValidationError
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

CLOSED, HALF_OPEN, OPEN = CircuitState.CLOSED, CircuitState.HALF_OPEN, CircuitState.OPEN
DISABLED, FORCED_OPEN = CircuitState.DISABLED, CircuitState.FORCED_OPEN


def breaker(
    clock: FakeClock, **config: object
) -> tuple[CircuitBreaker, list[tuple[str, CircuitState, CircuitState]]]:
    """A breaker on ``clock`` with the given config, and the transitions its listener heard."""
    heard: list[tuple[str, CircuitState, CircuitState]] = []
    cb = CircuitBreaker(
        "sink",
        CircuitBreakerConfig(**config),  # type: ignore[arg-type]
        clock=clock,
        on_state_change=lambda *change: heard.append(change),
    )
    return cb, heard


def outcomes(cb: CircuitBreaker, pattern: str, duration: float = 0.0) -> None:
    """Report one call per letter: ``s`` succeeded, ``f`` failed (each asks permission first)."""
    for letter in pattern:
        assert cb.try_acquire_permission()
        if letter == "s":
            cb.on_success(duration)
        else:
            cb.on_error(duration, OSError("down"))


class TestRetryPolicy:
    """Delays, jitter, Retry-After and which errors are worth retrying."""

    def test_exponential_capped_without_jitter(self) -> None:
        """Without jitter delays grow by the multiplier from the initial delay and stop at max_delay."""
        policy = RetryPolicy(max_retries=5, initial_delay=0.5, multiplier=2, max_delay=3, jitter=Jitter.NONE)
        assert list(policy.delays()) == [0.5, 1.0, 2.0, 3.0, 3.0]
        assert policy.attempts == 6

    def test_full_jitter_stays_within_zero_and_the_cap(self) -> None:
        """Full jitter draws each delay uniformly from [0, capped exponential], from the given random."""
        seeded, replay = random.Random(42), random.Random(42)
        policy = RetryPolicy(max_retries=8, initial_delay=1, max_delay=20, random=seeded.random)
        caps = [min(20.0, 2.0**n) for n in range(8)]
        delays = list(policy.delays())
        assert delays == [cap * replay.random() for cap in caps]
        assert all(0 <= d <= cap for d, cap in zip(delays, caps, strict=True))
        assert len(set(delays)) == len(delays)

    def test_retry_after_raises_the_wait_up_to_the_cap(self) -> None:
        """A server's Retry-After lengthens the wait but never beyond max_delay, and never shortens it."""
        policy = RetryPolicy(initial_delay=1, max_delay=10, jitter=Jitter.NONE)
        assert policy.delay(0, retry_after=4) == 4
        assert policy.delay(0, retry_after=600) == 10
        assert policy.delay(3, retry_after=0.1) == 8
        assert policy.delay(0, retry_after=None) == 1

    def test_huge_attempt_numbers_are_capped(self) -> None:
        """An attempt number whose exponential overflows a float waits max_delay."""
        assert RetryPolicy(max_delay=7, jitter=Jitter.NONE).delay(5000) == 7

    @pytest.mark.parametrize(
        "kwargs", [{"max_retries": -1}, {"initial_delay": -1}, {"max_delay": -1}, {"multiplier": 0.5}]
    )
    def test_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        """Negative retries or delays and a shrinking backoff are refused."""
        with pytest.raises(ValueError, match="must be"):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]

    def test_rejects_negative_attempt(self) -> None:
        """delay() of a negative attempt is a programming error."""
        with pytest.raises(ValueError, match="attempt"):
            RetryPolicy().delay(-1)

    @pytest.mark.parametrize(
        ("error", "retryable"),
        [
            (DeliveryError("x", retryable=True, status=400), True),
            (DeliveryError("x", retryable=False, status=503), False),
            *((DeliveryError("x", status=s), True) for s in sorted(RETRYABLE_STATUSES)),
            (DeliveryError("x", status=501), False),
            (DeliveryError("x", status=400), False),
            (DeliveryError("x", status=401), False),
            (DeliveryError("x"), True),
            (SharedConfigError("x", recoverable=True), True),
            (ValidationError("x"), False),
            (TimeoutError(), True),
            (ConnectionRefusedError(), True),
            (OSError("network unreachable"), True),
            (FileNotFoundError(), False),
            (PermissionError(), False),
            (ValueError(), False),
            (KeyError("bug"), False),
        ],
    )
    def test_retryable(self, error: BaseException, retryable: bool) -> None:
        """Flags win, then statuses (429, 5xx but 501/505, 408), recoverable, transient OS errors."""
        assert RetryPolicy().retryable(error) is retryable

    def test_statuses_and_predicate_are_configurable(self) -> None:
        """retryable_statuses changes which statuses retry; retry_on replaces the rules altogether."""
        assert RetryPolicy(retryable_statuses=frozenset({409})).retryable(DeliveryError("x", status=409))
        assert not RetryPolicy(retryable_statuses=frozenset({409})).retryable(DeliveryError("x", status=503))
        anything = RetryPolicy(retry_on=lambda e: isinstance(e, KeyError))
        assert anything.retryable(KeyError()) and not anything.retryable(TimeoutError())


class TestCountWindow:
    """CLOSED with a count-based window: minimum calls, failure rate, slow calls, sliding."""

    def test_stays_closed_below_minimum_calls(self) -> None:
        """Failures below minimum_number_of_calls never open it, and rates read -1."""
        cb, heard = breaker(FakeClock(), sliding_window_size=10, minimum_number_of_calls=5)
        outcomes(cb, "ffff")
        assert cb.state is CLOSED and heard == []
        m = cb.metrics
        assert (m.failure_rate, m.slow_call_rate, m.calls, m.failed_calls) == (-1.0, -1.0, 4, 4)

    def test_opens_when_failure_rate_reaches_threshold(self) -> None:
        """At the minimum of calls a failure rate equal to the threshold opens it."""
        cb, heard = breaker(FakeClock(), sliding_window_size=10, minimum_number_of_calls=4)
        outcomes(cb, "sffs")
        assert cb.state is OPEN
        assert heard == [("sink", CLOSED, OPEN)]
        assert cb.metrics.failure_rate == 50.0

    def test_below_threshold_stays_closed(self) -> None:
        """A failure rate under the threshold keeps it closed."""
        cb, _ = breaker(FakeClock(), sliding_window_size=10, minimum_number_of_calls=4)
        outcomes(cb, "sssf")
        assert cb.state is CLOSED and cb.metrics.failure_rate == 25.0

    def test_window_slides_over_the_last_calls(self) -> None:
        """Only the last ``sliding_window_size`` outcomes count: old failures drop out, new ones open it."""
        cb, _ = breaker(
            FakeClock(), sliding_window_size=4, minimum_number_of_calls=4, failure_rate_threshold=75
        )
        outcomes(cb, "ffss")
        outcomes(cb, "ss")  # the two failures slide out
        m = cb.metrics
        assert (m.calls, m.failed_calls, m.successful_calls, m.failure_rate) == (4, 0, 4, 0.0)
        outcomes(cb, "ff")
        assert cb.state is CLOSED  # 2 of 4
        outcomes(cb, "f")
        assert cb.state is OPEN  # 3 of 4

    def test_minimum_is_capped_by_window_size(self) -> None:
        """A count window smaller than the minimum of calls decides once it is full."""
        cb, _ = breaker(FakeClock(), sliding_window_size=2, minimum_number_of_calls=100)
        outcomes(cb, "ff")
        assert cb.state is OPEN

    def test_slow_calls_open_it(self) -> None:
        """Calls slower than the slow-call threshold count as slow; a slow rate at threshold opens it."""
        cb, _ = breaker(
            FakeClock(),
            sliding_window_size=4,
            minimum_number_of_calls=4,
            slow_call_duration_threshold=2.0,
            slow_call_rate_threshold=50,
        )
        outcomes(cb, "ss", duration=2.0)  # at the threshold: not slow
        outcomes(cb, "s", duration=2.5)
        assert cb.state is CLOSED
        assert cb.metrics.slow_calls == 1
        cb.try_acquire_permission()
        cb.on_error(3.0, OSError("slow and failed"))
        m = cb.metrics
        assert cb.state is OPEN
        assert (m.slow_calls, m.slow_failed_calls, m.slow_call_rate) == (2, 1, 50.0)


class TestTimeWindow:
    """CLOSED with a time-based window: per-second buckets evicted by clock time."""

    def test_old_calls_leave_the_window(self) -> None:
        """Calls older than sliding_window_size seconds no longer count."""
        clock = FakeClock()
        cb, _ = breaker(
            clock, sliding_window_type=WindowType.TIME, sliding_window_size=10, minimum_number_of_calls=2
        )
        outcomes(cb, "f")
        clock.advance(9.9)
        assert cb.metrics.calls == 1  # second 0 still inside (9 - 10, 9]
        clock.advance(0.1)
        assert cb.metrics.calls == 0  # second 0 evicted at t=10
        outcomes(cb, "f")
        assert cb.state is CLOSED  # one call: below the minimum
        clock.advance(0.5)
        outcomes(cb, "f")
        assert cb.state is OPEN

    def test_calls_within_a_second_share_a_bucket(self) -> None:
        """Several calls in one second are evicted together when that second leaves the window."""
        clock = FakeClock()
        cb, _ = breaker(
            clock, sliding_window_type=WindowType.TIME, sliding_window_size=2, minimum_number_of_calls=10
        )
        outcomes(cb, "ss")
        clock.advance(0.7)
        outcomes(cb, "f")
        clock.advance(1.0)  # t=1.7: second 1 starts a new bucket
        outcomes(cb, "s")
        assert (cb.metrics.calls, cb.metrics.failed_calls) == (4, 1)
        clock.advance(0.5)  # t=2.2: second 0 is out
        assert (cb.metrics.calls, cb.metrics.failed_calls) == (1, 0)


def opened(
    clock: FakeClock, **config: object
) -> tuple[CircuitBreaker, list[tuple[str, CircuitState, CircuitState]]]:
    """A breaker that opened at t=0 after two failures (window 2, wait 30 s), plus its listener's log."""
    options: dict[str, object] = {
        "sliding_window_size": 2,
        "minimum_number_of_calls": 2,
        "wait_duration_in_open_state": 30.0,
        **config,
    }
    cb, heard = breaker(clock, **options)
    outcomes(cb, "ff")
    assert cb.state is OPEN
    return cb, heard


class TestOpenAndHalfOpen:
    """OPEN refuses; after the wait HALF_OPEN lets trial calls through and they decide."""

    def test_open_refuses_touching_nothing(self) -> None:
        """A refused call changes no count but not-permitted, and retry_in counts down on the clock."""
        clock = FakeClock()
        cb, _ = opened(clock)
        before = cb.metrics
        clock.advance(10)
        assert not cb.try_acquire_permission()
        with pytest.raises(CallNotPermitted) as caught:
            cb.acquire_permission()
        after = cb.metrics
        assert (after.calls, after.failed_calls, after.failure_rate) == (
            before.calls,
            before.failed_calls,
            100.0,
        )
        assert after.not_permitted_calls == 2
        assert cb.retry_in() == 20
        assert caught.value.code == "DELIVERY_002"
        assert caught.value.details == {"breaker": "sink", "state": "OPEN", "retry_in": 20.0}

    def test_moves_to_half_open_lazily_on_the_next_request(self) -> None:
        """Without automatic transition the wait ends only when a call asks for permission."""
        clock = FakeClock()
        cb, heard = opened(clock)
        clock.advance(30)
        assert cb.state is OPEN
        assert cb.retry_in() == 0
        assert cb.try_acquire_permission()
        assert cb.state is HALF_OPEN
        assert heard[-1] == ("sink", OPEN, HALF_OPEN)

    def test_automatic_transition_on_any_look(self) -> None:
        """With automatic transition, reading the state after the wait shows HALF_OPEN."""
        clock = FakeClock()
        cb, heard = opened(clock, automatic_transition_from_open_to_half_open=True)
        clock.advance(29.9)
        assert cb.state is OPEN
        clock.advance(0.1)
        assert cb.state is HALF_OPEN
        assert heard == [("sink", CLOSED, OPEN), ("sink", OPEN, HALF_OPEN)]

    def test_half_open_permits_only_its_trial_calls(self) -> None:
        """HALF_OPEN lets permitted_number_of_calls_in_half_open_state calls through, then refuses."""
        clock = FakeClock()
        cb, _ = opened(clock, permitted_number_of_calls_in_half_open_state=2)
        clock.advance(30)
        assert cb.try_acquire_permission() and cb.try_acquire_permission()
        assert not cb.try_acquire_permission()
        assert cb.metrics.not_permitted_calls == 1
        cb.release_permission()  # one trial call never ran
        assert cb.try_acquire_permission()

    def test_trial_calls_below_threshold_close_it(self) -> None:
        """All trial calls reported and below the thresholds: CLOSED, with a fresh window."""
        clock = FakeClock()
        cb, heard = opened(clock, permitted_number_of_calls_in_half_open_state=3)
        clock.advance(30)
        outcomes(cb, "fs")
        assert cb.state is HALF_OPEN  # 2 of 3 reported: undecided
        outcomes(cb, "s")
        assert cb.state is CLOSED
        assert cb.metrics.calls == 0
        assert [new for _, _, new in heard] == [OPEN, HALF_OPEN, CLOSED]

    def test_trial_calls_above_threshold_open_it_again(self) -> None:
        """Trial calls at the failure threshold reopen it, and the wait in open starts again."""
        clock = FakeClock()
        cb, heard = opened(clock, permitted_number_of_calls_in_half_open_state=2)
        clock.advance(45)
        outcomes(cb, "sf")
        assert cb.state is OPEN
        assert cb.retry_in() == 30
        assert [new for _, _, new in heard] == [OPEN, HALF_OPEN, OPEN]

    def test_max_wait_in_half_open_reopens_it(self) -> None:
        """A half-open breaker waiting longer than max_wait_duration_in_half_open_state opens again."""
        clock = FakeClock()
        cb, _ = opened(
            clock, permitted_number_of_calls_in_half_open_state=2, max_wait_duration_in_half_open_state=5
        )
        clock.advance(30)
        assert cb.try_acquire_permission()
        clock.advance(4.9)
        assert cb.state is HALF_OPEN
        clock.advance(0.1)
        assert cb.state is OPEN
        assert cb.retry_in() == 30

    def test_half_open_waits_forever_by_default(self) -> None:
        """With max wait 0 a half-open breaker stays half-open however long its trial call takes."""
        clock = FakeClock()
        cb, _ = opened(clock)
        clock.advance(30)
        assert cb.try_acquire_permission()
        clock.advance(10_000)
        assert cb.state is HALF_OPEN

    def test_ignored_errors_release_their_permission(self) -> None:
        """A client error (400) is not a failure: not recorded, and a half-open permit is given back."""
        clock = FakeClock()
        cb, _ = opened(clock)
        clock.advance(30)
        assert cb.try_acquire_permission()
        cb.on_error(0.1, DeliveryError("bad request", status=400))
        assert cb.state is HALF_OPEN
        assert cb.metrics.calls == 0
        assert cb.try_acquire_permission()
        assert records_failure(DeliveryError("x", status=429))
        assert records_failure(DeliveryError("x", status=503))
        assert records_failure(KeyError("bug"))

    def test_results_of_calls_let_through_before_opening_are_not_counted(self) -> None:
        """An outcome reported while OPEN changes nothing."""
        cb, heard = opened(FakeClock())
        cb.on_error(0.0, OSError("late"))
        cb.on_success(0.0)
        assert cb.state is OPEN and cb.metrics.calls == 2 and len(heard) == 1


class TestOperatorStates:
    """FORCED_OPEN, DISABLED, transition_to_closed and reset."""

    def test_forced_open_refuses_until_closed(self) -> None:
        """FORCED_OPEN refuses every call, however long it waits, until transition_to_closed."""
        clock = FakeClock()
        cb, heard = breaker(clock)
        cb.transition_to_forced_open()
        clock.advance(10_000)
        assert not cb.try_acquire_permission()
        assert cb.state is FORCED_OPEN and cb.metrics.not_permitted_calls == 1
        assert cb.retry_in() == 0
        cb.transition_to_closed()
        assert cb.try_acquire_permission()
        assert heard == [("sink", CLOSED, FORCED_OPEN), ("sink", FORCED_OPEN, CLOSED)]

    def test_disabled_permits_everything_and_records_nothing(self) -> None:
        """DISABLED lets every call through and never opens, whatever fails."""
        cb, _ = breaker(FakeClock(), sliding_window_size=2, minimum_number_of_calls=2)
        cb.transition_to_disabled()
        outcomes(cb, "f" * 50)
        assert cb.state is DISABLED
        assert cb.metrics.calls == 0

    def test_reset_closes_with_an_empty_window(self) -> None:
        """reset() from OPEN closes it with empty metrics; a reset when closed tells nobody."""
        cb, heard = opened(FakeClock())
        cb.reset()
        assert cb.state is CLOSED and cb.metrics.calls == 0
        cb.reset()
        assert heard == [("sink", CLOSED, OPEN), ("sink", OPEN, CLOSED)]

    def test_states_are_the_gauge_values(self) -> None:
        """The states' values are what circuit_breaker_state reports (the seed's alert is == 2)."""
        assert [int(s) for s in (CLOSED, HALF_OPEN, OPEN, DISABLED, FORCED_OPEN)] == [0, 1, 2, 3, 4]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"sliding_window_size": 0},
            {"minimum_number_of_calls": 0},
            {"permitted_number_of_calls_in_half_open_state": 0},
            {"failure_rate_threshold": 0},
            {"slow_call_rate_threshold": 101},
            {"wait_duration_in_open_state": -1},
        ],
    )
    def test_config_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        """Empty windows, impossible rates and negative waits are refused."""
        with pytest.raises(ValueError, match="must be"):
            CircuitBreakerConfig(**kwargs)  # type: ignore[arg-type]


class TestListener:
    """The state-change hook."""

    def test_raising_listener_is_harmless(self) -> None:
        """A listener that raises is logged; the breaker changes state and keeps working."""
        logger = RecordingLogger()

        def broken(name: str, old: CircuitState, new: CircuitState) -> None:
            raise RuntimeError("listener down")

        cb = CircuitBreaker(
            "sink",
            CircuitBreakerConfig(sliding_window_size=1, minimum_number_of_calls=1),
            clock=FakeClock(),
            on_state_change=broken,
            logger=logger,
        )
        outcomes(cb, "f")
        assert cb.state is OPEN
        assert [(r.level, r.message) for r in logger.records] == [
            ("error", "circuit breaker state listener failed")
        ]
        assert "listener down" in str(logger.records[0].fields["error"])

    def test_listener_may_look_at_the_breaker(self) -> None:
        """A listener reading the breaker's state and metrics does not deadlock and sees the new state."""
        seen: list[CircuitState] = []
        clock = FakeClock()
        cb: CircuitBreaker | None = None

        def look(name: str, old: CircuitState, new: CircuitState) -> None:
            assert cb is not None
            seen.append(cb.state)
            _ = cb.metrics

        cb = CircuitBreaker(
            "sink",
            CircuitBreakerConfig(sliding_window_size=1, minimum_number_of_calls=1),
            clock=clock,
            on_state_change=look,
        )
        outcomes(cb, "f")
        assert seen == [OPEN]


class TestWrappers:
    """call() and acall() guard, time and report a function."""

    def test_call_records_success_and_duration(self) -> None:
        """call() returns the result and measures the duration on the clock (a slow call is counted)."""
        clock = FakeClock()
        cb, _ = breaker(clock, slow_call_duration_threshold=1.0)

        def slow() -> str:
            clock.advance(1.5)
            return "ok"

        assert cb.call(slow) == "ok"
        assert (cb.metrics.calls, cb.metrics.slow_calls, cb.metrics.failed_calls) == (1, 1, 0)

    def test_call_records_errors_and_reraises(self) -> None:
        """An exception from the function is recorded as a failure and raised as it is."""
        cb, _ = breaker(FakeClock())
        with pytest.raises(ConnectionError):
            cb.call(lambda: (_ for _ in ()).throw(ConnectionError("down")))
        assert cb.metrics.failed_calls == 1

    def test_call_refused_does_not_run(self) -> None:
        """While open, call() raises CallNotPermitted without running the function."""
        cb, _ = opened(FakeClock())
        ran: list[int] = []
        with pytest.raises(CallNotPermitted):
            cb.call(lambda: ran.append(1))
        assert ran == []

    def test_acall_measures_on_the_clock(self) -> None:
        """acall() awaits the coroutine and measures its duration on the fake clock."""
        clock = FakeClock()
        cb, _ = breaker(clock, slow_call_duration_threshold=1.0)

        async def slow() -> int:
            await clock.sleep(3)
            return 7

        assert (clock.run(cb.acall(slow)), clock.jumps) == (7, (3.0,))
        assert cb.metrics.slow_calls == 1

    def test_acall_cancelled_gives_its_permission_back(self) -> None:
        """A cancelled half-open trial call releases its permit and records nothing."""
        clock = FakeClock()
        cb, _ = opened(clock)
        clock.advance(30)

        async def main() -> None:
            task = asyncio.create_task(cb.acall(lambda: clock.sleep(100)))
            while clock.sleepers == 0:
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert cb.state is HALF_OPEN
        assert cb.metrics.calls == 0
        assert cb.try_acquire_permission()

    def test_base_exceptions_release_the_permission(self) -> None:
        """KeyboardInterrupt in a half-open trial call gives the permit back and propagates."""
        clock = FakeClock()
        cb, _ = opened(clock)
        clock.advance(30)

        def interrupted() -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            cb.call(interrupted)
        assert cb.try_acquire_permission()


class TestThreadSafety:
    """Several threads share one breaker."""

    def test_counts_stay_exact_under_threads(self) -> None:
        """8 threads x 250 calls, half failing, leave exactly 2000 calls and 1000 failures in the window."""
        cb, _ = breaker(FakeClock(), sliding_window_size=10_000, minimum_number_of_calls=10_000)
        start = threading.Barrier(8)

        def work(n: int) -> None:
            start.wait()
            for i in range(250):
                assert cb.try_acquire_permission()
                if (i + n) % 2:
                    cb.on_error(0.0, OSError("x"))
                else:
                    cb.on_success(0.0)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert (cb.metrics.calls, cb.metrics.failed_calls) == (2000, 1000)

    def test_listener_hears_transitions_in_order_under_threads(self) -> None:
        """Threads racing through open/close cycles: the listener's sequence is always a valid chain."""
        cb, heard = breaker(FakeClock(), sliding_window_size=1, minimum_number_of_calls=1)

        def work() -> None:
            for _ in range(200):
                if cb.try_acquire_permission():
                    cb.on_error(0.0, OSError("x"))
                cb.reset()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert heard
        assert heard[0][1] is CLOSED
        assert all(prev[2] is nxt[1] for prev, nxt in itertools.pairwise(heard))


class TestBulkhead:
    """At most N at once; waiters wait on the clock, first come first served."""

    def test_try_acquire_and_release(self) -> None:
        """Slots are taken up to the limit, refused beyond it and freed by release."""
        bh = Bulkhead(2)
        assert bh.try_acquire() and bh.try_acquire()
        assert not bh.try_acquire()
        assert bh.in_flight == 2
        bh.release()
        assert bh.try_acquire()

    def test_no_wait_refuses_at_once(self) -> None:
        """With max_wait 0 a full bulkhead refuses an async caller without sleeping."""
        bh = Bulkhead(1)
        assert bh.try_acquire()
        assert asyncio.run(bh.acquire()) is False

    def test_waiter_is_refused_when_the_wait_ends(self) -> None:
        """A caller waits max_wait seconds of the clock and is refused if nothing came free."""
        clock = FakeClock()
        bh = Bulkhead(1, max_wait=5, clock=clock)
        assert bh.try_acquire()
        got = clock.run(bh.acquire())
        assert (got, clock.jumps, clock.now(), bh.waiting) == (False, (5.0,), 5.0, 0)

    def test_freed_slot_goes_to_the_waiter(self) -> None:
        """A slot released while a caller waits is handed to it before the wait ends."""
        clock = FakeClock()
        bh = Bulkhead(1, max_wait=5, clock=clock)
        assert bh.try_acquire()

        async def main() -> bool:
            waiter = asyncio.create_task(bh.acquire())
            while bh.waiting == 0:
                await asyncio.sleep(0)
            await clock.advance_async(2)
            assert not bh.try_acquire()  # a newcomer does not jump the queue
            bh.release()
            return await waiter

        assert asyncio.run(main()) is True
        assert bh.in_flight == 1 and clock.now() == 2

    def test_cancelled_waiter_leaks_no_slot(self) -> None:
        """A waiter cancelled while waiting leaves the count as it was."""
        clock = FakeClock()
        bh = Bulkhead(1, max_wait=5, clock=clock)
        assert bh.try_acquire()

        async def main() -> None:
            waiter = asyncio.create_task(bh.acquire())
            while bh.waiting == 0:
                await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter

        asyncio.run(main())
        bh.release()
        assert (bh.in_flight, bh.waiting) == (0, 0)

    def test_rejects_nonsense(self) -> None:
        """A bound below one or a negative wait is refused."""
        with pytest.raises(ValueError, match="max_concurrent"):
            Bulkhead(0)
        with pytest.raises(ValueError, match="max_wait"):
            Bulkhead(1, max_wait=-1)


@dataclass
class FakeSender:
    """A sender raising the queued errors in turn (then succeeding), optionally sleeping on a clock."""

    errors: list[BaseException] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    clock: FakeClock | None = None
    takes: float = 0.0
    closed: int = 0

    async def send(self, payload: str) -> None:
        """Take one attempt."""
        self.sent.append(payload)
        if self.clock is not None and self.takes:
            await self.clock.sleep(self.takes)
        if self.errors:
            raise self.errors.pop(0)

    async def aclose(self) -> None:
        """Count closes."""
        self.closed += 1


@dataclass
class Harness:
    """A Delivery with its fake sender, clock, recorder, logger and the payloads it gave up."""

    delivery: Delivery[str]
    sender: FakeSender
    clock: FakeClock
    metrics: InMemoryMetricsRecorder
    logger: RecordingLogger
    given_up: list[tuple[str, BaseException]]


FAILURES = Series("events_failed_total", {"channel": "sink"})
STATE = Series("circuit_breaker_state", {"name": "sink", "component": "test"})


def harness(*errors: BaseException, **kwargs: object) -> Harness:
    """A Delivery (3 retries from 0.5 s, no jitter; window of 4) over a sender failing with ``errors``."""
    clock, metrics, logger = FakeClock(), InMemoryMetricsRecorder(), RecordingLogger()
    sender = FakeSender(list(errors), clock=clock)
    given_up: list[tuple[str, BaseException]] = []

    def give_up(payload: str, error: BaseException) -> None:
        given_up.append((payload, error))

    options: dict[str, object] = {
        "retry": RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=3, jitter=Jitter.NONE),
        "breaker": CircuitBreakerConfig(sliding_window_size=4, minimum_number_of_calls=4),
        "on_give_up": give_up,
        "metrics": metrics,
        "failures": FAILURES,
        "state": STATE,
        "logger": logger,
        "clock": clock,
        **kwargs,
    }
    delivery: Delivery[str] = Delivery("sink", sender, **options)  # type: ignore[arg-type]
    return Harness(delivery, sender, clock, metrics, logger, given_up)


def deliver(h: Harness, payload: str = "p", *, single: bool = False) -> tuple[bool, tuple[float, ...]]:
    """Run one delivery to the end, driving the fake clock through its waits; the outcome and the waits."""
    return h.clock.run(h.delivery.deliver(payload, single=single)), h.clock.jumps


class TestDelivery:
    """The composition, end to end with a fake sender."""

    def test_first_attempt_succeeds(self) -> None:
        """A payload the sender takes is delivered once, with no wait and nothing counted."""
        h = harness()
        assert deliver(h) == (True, ())
        assert h.sender.sent == ["p"]
        assert h.metrics.names() == [] and h.given_up == []

    def test_retries_with_backoff_on_the_clock(self) -> None:
        """Retryable failures are retried after 0.5, 1 and 2 s of the clock; success counts nothing."""
        h = harness(OSError("unreachable"), DeliveryError("503", status=503), TimeoutError())
        assert deliver(h) == (True, (0.5, 1.0, 2.0))
        assert h.clock.now() == 3.5
        assert len(h.sender.sent) == 4
        assert h.metrics.get_metrics(FAILURES.name) == []

    def test_retry_after_is_honoured(self) -> None:
        """A 429 with Retry-After waits what the server asked (capped at max_delay)."""
        h = harness(
            DeliveryError("429", status=429, retry_after=2.5),
            DeliveryError("429", status=429, retry_after=60),
        )
        assert deliver(h) == (True, (2.5, 3.0))

    def test_gives_up_after_the_retries(self) -> None:
        """When every attempt fails: counted once under its labels, logged, and the payload handed on."""
        errors = [TimeoutError(f"t{i}") for i in range(4)]
        h = harness(
            *errors, breaker=CircuitBreakerConfig(sliding_window_size=100, minimum_number_of_calls=100)
        )
        assert deliver(h, "event-1") == (False, (0.5, 1.0, 2.0))
        assert len(h.sender.sent) == 4
        assert h.metrics.total(FAILURES.name, FAILURES.labels) == 1.0
        assert h.given_up == [("event-1", errors[3])]
        [warning] = [r for r in h.logger.records if r.level == "warning"]
        assert (warning.message, warning.fields["attempts"], warning.fields["error"]) == (
            "delivery failed",
            4,
            "TimeoutError: t3",
        )

    @pytest.mark.parametrize("error", [DeliveryError("400", status=400), KeyError("bug")])
    def test_final_errors_are_tried_once(self, error: BaseException) -> None:
        """A non-retryable answer or an unexpected exception is not retried."""
        h = harness(error)
        assert deliver(h) == (False, ())
        assert len(h.sender.sent) == 1
        assert h.given_up == [("p", error)]

    def test_status_is_logged(self) -> None:
        """A protocol failure's status is a field of the log record."""
        h = harness(DeliveryError("bad", status=400))
        deliver(h)
        [warning] = [r for r in h.logger.records if r.level == "warning"]
        assert warning.fields["status"] == 400

    def test_single_makes_one_attempt(self) -> None:
        """single=True (a last flush) tries once even for a retryable error."""
        h = harness(OSError("down"))
        assert deliver(h, single=True) == (False, ())
        assert len(h.sender.sent) == 1

    def test_open_breaker_refuses_without_sending(self) -> None:
        """While the breaker is open a delivery fails at once: nothing sent, CallNotPermitted handed on."""
        h = harness()
        h.delivery.breaker.transition_to_forced_open()
        assert deliver(h) == (False, ())
        assert h.sender.sent == []
        [(payload, error)] = h.given_up
        assert payload == "p" and isinstance(error, CallNotPermitted)
        assert [r.message for r in h.logger.records if r.level == "debug"] == ["delivery refused"]
        assert h.metrics.total(FAILURES.name) == 1.0

    def test_breaker_opening_mid_retry_stops_the_retries(self) -> None:
        """A breaker opening on the 4th failed attempt ends the retries at once, reporting the real error."""
        errors = [OSError(f"e{i}") for i in range(10)]
        h = harness(*errors, retry=RetryPolicy(max_retries=6, initial_delay=1, jitter=Jitter.NONE))
        ok, waits = deliver(h)
        assert not ok
        assert len(h.sender.sent) == 4
        assert waits == (1.0, 2.0, 4.0)  # no wait once the breaker opened: it would refuse
        assert h.given_up == [("p", errors[3])]
        assert h.delivery.breaker.state is OPEN

    def test_breaker_state_is_recorded_logged_and_passed_on(self) -> None:
        """Transitions set the state gauge, log a warning when opening, and reach on_state_change."""
        heard: list[tuple[str, CircuitState, CircuitState]] = []
        errors = [OSError("x")] * 4
        h = harness(*errors, retry=RetryPolicy(max_retries=0), on_state_change=lambda *c: heard.append(c))
        for _ in range(4):
            deliver(h)
        assert heard == [("sink", CLOSED, OPEN)]
        assert [(m.value, m.labels) for m in h.metrics.get_metrics(STATE.name)] == [(2.0, STATE.labels)]
        [change] = [r for r in h.logger.records if r.message == "circuit breaker state changed"]
        assert (
            change.level,
            change.fields["state"],
            change.fields["previous"],
            change.fields["retry_in"],
        ) == (
            "warning",
            "open",
            "closed",
            30.0,
        )
        h.clock.advance(30)
        assert deliver(h) == (True, ())
        assert [m.value for m in h.metrics.get_metrics(STATE.name)] == [2.0, 1.0, 0.0]
        assert [new for _, _, new in heard] == [OPEN, HALF_OPEN, CLOSED]

    def test_shared_breaker_is_used_as_given(self) -> None:
        """A CircuitBreaker passed in is shared: its state governs this delivery."""
        shared = CircuitBreaker("upstream", clock=FakeClock())
        h = harness(breaker=shared)
        assert h.delivery.breaker is shared
        shared.transition_to_forced_open()
        assert deliver(h) == (False, ())

    def test_full_bulkhead_gives_up(self) -> None:
        """A delivery beyond max_in_flight (no wait) is refused with BulkheadFull, nothing sent."""
        h = harness(max_in_flight=1)
        h.sender.takes = 10

        async def main() -> tuple[bool, bool]:
            first = asyncio.create_task(h.delivery.deliver("a"))
            while h.clock.sleepers == 0:
                await asyncio.sleep(0)
            second = await h.delivery.deliver("b")
            await h.clock.advance_async(10)
            return await first, second

        assert asyncio.run(main()) == (True, False)
        assert h.sender.sent == ["a"]
        [(payload, error)] = h.given_up
        assert payload == "b" and isinstance(error, BulkheadFull) and error.code == "DELIVERY_003"

    def test_bulkhead_wait_lets_the_next_one_through(self) -> None:
        """With in_flight_wait a second delivery waits for the first one's slot on the clock."""
        h = harness(max_in_flight=1, in_flight_wait=20)
        h.sender.takes = 10

        async def main() -> list[bool]:
            return list(await asyncio.gather(h.delivery.deliver("a"), h.delivery.deliver("b")))

        assert h.clock.run(main()) == [True, True]
        assert h.sender.sent == ["a", "b"] and h.clock.now() == 20

    def test_async_give_up_is_awaited_and_a_broken_one_is_logged(self) -> None:
        """An async on_give_up is awaited; one that raises is logged and deliver still returns False."""
        seen: list[str] = []

        async def dead_letter(payload: str, error: BaseException) -> None:
            seen.append(payload)

        h = harness(KeyError("x"), on_give_up=dead_letter)
        assert deliver(h)[0] is False and seen == ["p"]

        def broken(payload: str, error: BaseException) -> None:
            raise RuntimeError("dead letters full")

        h = harness(KeyError("x"), on_give_up=broken)
        assert deliver(h)[0] is False
        assert "delivery give-up callback failed" in h.logger.messages("error")

    def test_broken_recorder_does_not_break_delivery(self) -> None:
        """A metrics recorder that raises is logged; the failure is still handled."""

        class Broken(InMemoryMetricsRecorder):
            def record_counter(self, name: str, value: float = 1.0, labels: object = None) -> None:
                raise RuntimeError("recorder down")

        h = harness(KeyError("x"), metrics=Broken())
        assert deliver(h)[0] is False
        assert [r.level for r in h.logger.records] == ["error", "warning"]

    def test_secrets_are_scrubbed_from_logs(self) -> None:
        """Every redact value (plain or SecretStr-like) is replaced in logged messages."""

        class Secret:
            def get_secret_value(self) -> str:
                return "canary-token"

        h = harness(
            DeliveryError("sent canary-pass and canary-token", status=401), redact=("canary-pass", Secret())
        )
        deliver(h)
        text = repr([r.fields for r in h.logger.records])
        assert "canary" not in text and "**********" in text
        h.delivery.failed("raw canary-pass")
        assert "canary" not in repr(h.logger.records[-1].fields)

    def test_cancellation_propagates_and_releases_the_permit(self) -> None:
        """Cancelling a delivery mid-send raises CancelledError and gives back the half-open permit."""
        h = harness()
        cb = h.delivery.breaker
        cb.transition_to_forced_open()  # then half-open by hand: open, wait, ask
        cb.reset()
        outcomes(cb, "ffff")
        h.clock.advance(30)
        h.sender.takes = 100

        async def main() -> None:
            task = asyncio.create_task(h.delivery.deliver("p"))
            while h.clock.sleepers == 0:
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        assert cb.state is HALF_OPEN and cb.try_acquire_permission()
        assert h.given_up == [] and h.sender.sent == ["p"]

    def test_aclose_closes_the_sender(self) -> None:
        """aclose() closes a sender that can be closed, and ignores one that cannot."""
        h = harness()
        asyncio.run(h.delivery.aclose())
        assert h.sender.closed == 1

        class Plain:
            async def send(self, payload: str) -> None:
                """Accept."""

        asyncio.run(Delivery("plain", Plain()).aclose())

    def test_default_logger_is_bound_to_the_name(self) -> None:
        """Without a logger the delivery logs through sharedconfig.delivery bound with its name."""
        delivery: Delivery[str] = Delivery("orders", FakeSender())
        assert delivery.logger.fields == {"delivery": "orders"}  # type: ignore[attr-defined]
        assert "orders" in repr(delivery)
