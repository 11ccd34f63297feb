"""``ErrorHandler``: the seed's error handler (handle, recover, is_retryable, should_alert) on RetryPolicy.

It lives beside ``RetryPolicy`` so that recovering and delivering share one vocabulary, and so that the
error tree in ``sharedconfig.errors`` imports nothing above it; ``sharedconfig.ErrorHandler`` re-exports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sharedconfig.delivery._retry import RetryPolicy
from sharedconfig.errors import REGISTRY, DeliveryError, Severity, SharedConfigError

__all__ = ["ErrorHandler"]

T = TypeVar("T")


class ErrorHandler:
    """Turns any exception into a ``SharedConfigError``, retries what can be retried, says what alerts.

    ``retry`` is the same ``RetryPolicy`` deliveries use: which errors are
    retryable, how many retries, how long between them (default: 3 retries from 0.1 s, at most 5 s, full
    jitter). ``on_error`` is called with every handled error (log it, count it); ``recover`` is
    synchronous, so it waits with ``sleep`` (injectable so tests never wait).
    """

    def __init__(
        self,
        *,
        on_error: Callable[[SharedConfigError], None] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retry is None:
            retry = RetryPolicy(max_retries=3, initial_delay=0.1, max_delay=5.0)
        self._on_error = on_error
        self._sleep = sleep
        self.retry = retry

    def handle(self, error: BaseException, *, component: str = "", operation: str = "") -> SharedConfigError:
        """Wrap ``error`` (unless it already is one), report it to ``on_error`` and return it."""
        if isinstance(error, SharedConfigError):
            handled = error
        else:
            handled = SharedConfigError(
                f"{type(error).__name__}: {error}",
                code="CONFIG_001" if isinstance(error, OSError) else "VALIDATION_099",
                cause=error,
                component=component,
                operation=operation,
                recoverable=self.retry.retryable(error),
            )
        if self._on_error is not None:
            self._on_error(handled)
        return handled

    def is_retryable(self, error: BaseException) -> bool:
        """The retry policy's verdict (``RetryPolicy.retryable``)."""
        return self.retry.retryable(error)

    def should_alert(self, error: BaseException) -> bool:
        """True when the code asks for an alert and the severity is error or worse."""
        if not isinstance(error, SharedConfigError):
            return True  # an unexpected exception is always worth a look
        registered = REGISTRY.get(error.code)
        return bool(registered and registered.alert) and error.severity in (Severity.ERROR, Severity.CRITICAL)

    def delays(self) -> Iterator[float]:
        """The waits the retry policy gives before each retry (drawn afresh: jitter is random)."""
        return self.retry.delays()

    def recover(self, operation: Callable[[], T], *, name: str = "") -> T:
        """Run ``operation``; retry it (bounded) while it fails with retryable errors; raise the last."""
        attempt = 0
        while True:
            try:
                return operation()
            except Exception as exc:
                handled = self.handle(exc, operation=name)
                if attempt >= self.retry.max_retries or not self.retry.retryable(exc):
                    if handled is exc:
                        raise
                    raise handled from exc
                retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
                self._sleep(self.retry.delay(attempt, retry_after))
                attempt += 1
