"""``Delivery``: one sender composed with a retry policy, a circuit breaker, a bulkhead and a give-up seam.

``await deliver(payload) -> bool`` never raises: failures are counted, logged without secrets and handed on.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, runtime_checkable

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery._breaker import CircuitBreaker, CircuitBreakerConfig, CircuitState, StateListener
from sharedconfig.delivery._bulkhead import Bulkhead
from sharedconfig.delivery._retry import RetryPolicy, retry_after
from sharedconfig.errors import BulkheadFull, CallNotPermitted, DeliveryError, SharedConfigError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.redaction import hide
from sharedconfig.stdlog import StdlibLogger

__all__ = ["Delivery", "GiveUp", "SecretLike", "Sender", "Series"]

P = TypeVar("P")
P_contra = TypeVar("P_contra", contravariant=True)

_DEFAULT_LOGGER = "sharedconfig.delivery"
_REFUSING = (CircuitState.OPEN, CircuitState.FORCED_OPEN)


class Sender(Protocol[P_contra]):
    """Sends one payload, raising on failure (``DeliveryError`` for protocol answers, ``OSError`` &c.)."""

    async def send(self, payload: P_contra) -> None:
        """Deliver ``payload`` once; return only when the destination took it."""
        ...


@runtime_checkable
class _Closeable(Protocol):
    async def aclose(self) -> None: ...


@runtime_checkable
class SecretLike(Protocol):
    """A value kept secret (pydantic's ``SecretStr`` is one): its text is read only to scrub it."""

    def get_secret_value(self) -> str:
        """The secret text."""
        ...


@dataclass(frozen=True, slots=True)
class Series:
    """One metric series to record into: a name (from ``monitoring.names``) and its labels."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


GiveUp = Callable[[P, BaseException], Awaitable[None] | None]
"""``on_give_up(payload, error)``: a payload that will not be delivered (dead-letter seam); may be async."""


def _describe(error: BaseException) -> str:
    if isinstance(error, SharedConfigError):
        return error.message
    return f"{type(error).__name__}: {error}"


class Delivery(Generic[P]):
    """Delivers payloads through one ``Sender`` with retries, a circuit breaker and a bulkhead.

    ``await deliver(payload)`` returns True once the sender took the payload and False when it gives
    up; it never raises (cancellation aside). Each attempt asks the breaker first and reports to it
    after; a retryable failure waits ``retry.delay(...)`` on the clock (``Retry-After`` honoured) and
    tries again, at most ``retry.max_retries`` times (``single=True``: one attempt, for a last flush).
    Giving up (retries spent, an error not worth retrying, the breaker refusing, the bulkhead full)
    adds 1 to ``failures`` (when ``metrics`` is given), logs a warning (debug for a refusal that made no
    attempt) and calls ``on_give_up(payload, error)``. Logged text has every ``redact`` value replaced
    by ``**********``.

    ``breaker`` may be a ``CircuitBreaker`` shared with others (used as it is), or a config (default
    ``CircuitBreakerConfig()``) for a breaker of this delivery's own, whose transitions are logged,
    recorded into the ``state`` gauge and passed to ``on_state_change``. ``max_in_flight`` bounds the
    deliveries running at once (None: unbounded); one beyond it waits up to ``in_flight_wait`` seconds
    of the clock, then is refused.
    """

    def __init__(
        self,
        name: str,
        sender: Sender[P],
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | CircuitBreakerConfig | None = None,
        max_in_flight: int | None = 10,
        in_flight_wait: float = 0.0,
        on_give_up: GiveUp[P] | None = None,
        on_state_change: StateListener | None = None,
        metrics: MetricsRecorder | None = None,
        failures: Series | None = None,
        state: Series | None = None,
        logger: Logger | None = None,
        clock: Clock = SYSTEM_CLOCK,
        redact: Sequence[str | SecretLike] = (),
    ) -> None:
        self.name = name
        self.sender = sender
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._metrics = metrics
        self._failures = failures
        self._state_series = state
        self._on_give_up = on_give_up
        self._on_state_change = on_state_change
        self._logger = logger or StdlibLogger(_DEFAULT_LOGGER).bind(delivery=name)
        self._redact = tuple(redact)
        if isinstance(breaker, CircuitBreaker):
            self.breaker = breaker
        else:
            self.breaker = CircuitBreaker(
                name, breaker, clock=clock, on_state_change=self._state_changed, logger=self._logger
            )
        self.bulkhead = (
            None if max_in_flight is None else Bulkhead(max_in_flight, max_wait=in_flight_wait, clock=clock)
        )

    @property
    def logger(self) -> Logger:
        """The logger this delivery reports through."""
        return self._logger

    async def deliver(self, payload: P, *, single: bool = False) -> bool:
        """Send ``payload`` with retries; True when it was delivered, False when this gave up."""
        if self.bulkhead is not None and not await self.bulkhead.acquire():
            full = BulkheadFull(
                f"{self.name}: {self.bulkhead.max_concurrent} deliveries already in flight",
                delivery=self.name,
            )
            await self._give_up(payload, full, attempts=0)
            return False
        try:
            return await self._attempt(payload, attempts=1 if single else self.retry.attempts)
        finally:
            if self.bulkhead is not None:
                self.bulkhead.release()

    async def _attempt(self, payload: P, *, attempts: int) -> bool:
        error: BaseException | None = None
        made = 0
        for attempt in range(attempts):
            if attempt:
                await self._clock.sleep(self.retry.delay(attempt - 1, retry_after(error)))
            if not self.breaker.try_acquire_permission():
                if error is None:
                    error = CallNotPermitted(
                        f"{self.name}: circuit breaker is {self.breaker.state.name}",
                        breaker=self.breaker.name,
                        state=self.breaker.state.name,
                        retry_in=self.breaker.retry_in(),
                    )
                break
            made += 1
            start = self._clock.now()
            try:
                await self.sender.send(payload)
            except Exception as exc:
                self.breaker.on_error(self._clock.now() - start, exc)
                error = exc
                if not self.retry.retryable(exc) or self.breaker.state in _REFUSING:
                    break  # not worth it, or the breaker just opened: waiting would be for a refusal
            except BaseException:  # cancelled (or interrupted): the call did not happen
                self.breaker.release_permission()
                raise
            else:
                self.breaker.on_success(self._clock.now() - start)
                return True
        assert error is not None
        await self._give_up(payload, error, attempts=made)
        return False

    async def _give_up(self, payload: P, error: BaseException, *, attempts: int) -> None:
        fields: dict[str, object] = {"attempts": attempts}
        if isinstance(error, DeliveryError) and error.status is not None:
            fields["status"] = error.status
        self.failed(
            error, quiet=attempts == 0 and isinstance(error, CallNotPermitted | BulkheadFull), **fields
        )
        if self._on_give_up is None:
            return
        try:
            outcome = self._on_give_up(payload, error)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:  # the dead-letter seam failing must not break delivery
            self._logger.error("delivery give-up callback failed", error=self.scrub(_describe(exc)))

    def failed(self, error: BaseException | str, *, quiet: bool = False, **fields: object) -> None:
        """Count and log one payload not delivered (also for failures before sending, such as encoding)."""
        if self._metrics is not None and self._failures is not None:
            try:
                self._metrics.record_counter(self._failures.name, 1.0, self._failures.labels)
            except Exception as exc:  # a broken recorder must not break delivery
                self._logger.error("could not count a failed delivery", error=self.scrub(_describe(exc)))
        text = self.scrub(error if isinstance(error, str) else _describe(error))
        if quiet:
            self._logger.debug("delivery refused", error=text, **fields)
        else:
            self._logger.warning("delivery failed", error=text, **fields)

    def _state_changed(self, name: str, old: CircuitState, new: CircuitState) -> None:
        if self._metrics is not None and self._state_series is not None:
            try:
                self._metrics.record_gauge(self._state_series.name, float(new), self._state_series.labels)
            except Exception as exc:  # a broken recorder must not break the breaker
                self._logger.error(
                    "could not record a circuit breaker state", error=self.scrub(_describe(exc))
                )
        log = (
            self._logger.warning
            if new in (CircuitState.OPEN, CircuitState.FORCED_OPEN)
            else self._logger.info
        )
        log(
            "circuit breaker state changed",
            breaker=name,
            state=new.name.lower(),
            previous=old.name.lower(),
            retry_in=round(self.breaker.retry_in(), 3),
        )
        if self._on_state_change is not None:
            self._on_state_change(name, old, new)  # the breaker catches and logs what this raises

    def retry_in(self) -> float:
        """Seconds until the breaker lets a delivery try again (0 unless it is OPEN)."""
        return self.breaker.retry_in()

    def scrub(self, text: str) -> str:
        """``text`` with every ``redact`` value replaced by ``**********``."""
        return hide(text, self._redact)

    async def aclose(self) -> None:
        """Close the sender when it can be closed (``aclose``); delivering afterwards may reopen it."""
        if isinstance(self.sender, _Closeable):
            await self.sender.aclose()

    def __repr__(self) -> str:
        return f"Delivery({self.name!r}, sender={self.sender!r}, breaker={self.breaker!r})"
