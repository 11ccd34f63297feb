"""Getting payloads to a destination that may fail: retry policy, circuit breaker, bulkhead, give-up seam.

Written once for sync and async callers; metric exporters use it now, event channels and notifiers next.

The pieces, each usable alone::

    RetryPolicy        how many retries, how long between them (full jitter), which errors are worth it
    CircuitBreaker     resilience4j's state machine: CLOSED -> OPEN -> HALF_OPEN -> CLOSED | OPEN,
                       plus DISABLED and FORCED_OPEN; count- or time-based sliding window
    Bulkhead           at most N deliveries at once; a caller waits up to ``max_wait`` on the clock
    Delivery           the composition around one ``Sender``: ``await deliver(payload) -> bool``
    ErrorHandler       the seed's handler: wrap, recover (sync retries on the same policy), alert

Every wait is ``await clock.sleep(...)`` on the injected ``Clock``; the breaker reads the clock and never
waits. Failures are values to the caller of ``deliver``: counted, logged without secrets, and handed to
``on_give_up`` (the dead-letter seam).
"""

from __future__ import annotations

from sharedconfig.delivery._breaker import (
    BreakerMetrics,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    StateListener,
    WindowType,
    records_failure,
)
from sharedconfig.delivery._bulkhead import Bulkhead
from sharedconfig.delivery._delivery import Delivery, GiveUp, SecretLike, Sender, Series
from sharedconfig.delivery._handler import ErrorHandler
from sharedconfig.delivery._retry import Jitter, RetryPolicy, retry_after
from sharedconfig.errors import RETRYABLE_STATUSES, BulkheadFull, CallNotPermitted, DeliveryError

__all__ = [
    "RETRYABLE_STATUSES",
    "BreakerMetrics",
    "Bulkhead",
    "BulkheadFull",
    "CallNotPermitted",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "Delivery",
    "DeliveryError",
    "ErrorHandler",
    "GiveUp",
    "Jitter",
    "RetryPolicy",
    "SecretLike",
    "Sender",
    "Series",
    "StateListener",
    "WindowType",
    "records_failure",
    "retry_after",
]
