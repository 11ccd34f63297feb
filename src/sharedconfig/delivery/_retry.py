"""Retry policy: how many retries, how long between them (capped exponential, full jitter), which errors.

One vocabulary for every retry in sharedconfig: ``Delivery`` and ``ErrorHandler.recover`` both read it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from sharedconfig.errors import RETRYABLE_STATUSES, DeliveryError, SharedConfigError

__all__ = ["Jitter", "RetryPolicy", "retry_after"]

_PERMANENT_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)
"""OSErrors about paths and permissions: the same answer on every attempt, so never retried."""


class Jitter(StrEnum):
    """How a retry delay is randomised: ``full`` (uniform in [0, capped exponential]) or ``none``."""

    FULL = "full"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with capped exponential backoff and full jitter, and which errors deserve them.

    Retry ``n`` (0-based) waits ``uniform(0, min(max_delay, initial_delay * multiplier**n))`` (AWS's
    "full jitter", so that many clients do not retry in step) or, with ``jitter=Jitter.NONE``, the cap
    itself. A server's ``Retry-After`` raises the wait to what it asked, never above ``max_delay``.
    ``max_retries`` counts retries after the first attempt: ``max_retries=3`` makes at most 4 attempts.

    ``retryable(error)``: ``retry_on(error)`` when given; otherwise a ``DeliveryError``'s explicit
    ``retryable`` flag, else whether its ``status`` is in ``retryable_statuses``; a ``SharedConfigError``'s
    ``recoverable``; ``True`` for ``OSError`` (``TimeoutError`` and ``ConnectionError`` included) except
    the path and permission errors, which repeat; ``False`` for anything else (a bug does not heal).
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0
    jitter: Jitter = Jitter.FULL
    retryable_statuses: frozenset[int] = RETRYABLE_STATUSES
    retry_on: Callable[[BaseException], bool] | None = field(default=None, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Refuse settings that would never stop or never wait sensibly."""
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must be >= 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")

    @property
    def attempts(self) -> int:
        """Attempts in total, the first included."""
        return self.max_retries + 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), honouring a ``Retry-After``."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        try:
            cap = min(self.max_delay, self.initial_delay * self.multiplier**attempt)
        except OverflowError:
            cap = self.max_delay
        wait_for = cap * self.random() if self.jitter is Jitter.FULL else cap
        if retry_after is not None and retry_after > 0:
            wait_for = max(wait_for, min(retry_after, self.max_delay))
        return wait_for

    def delays(self) -> Iterator[float]:
        """The waits before each retry, in order (``max_retries`` of them)."""
        for attempt in range(self.max_retries):
            yield self.delay(attempt)

    def retryable(self, error: BaseException) -> bool:
        """Whether another attempt may succeed where this one failed with ``error``."""
        if self.retry_on is not None:
            return self.retry_on(error)
        if isinstance(error, DeliveryError):
            if error.retryable is not None:
                return error.retryable
            if error.status is not None:
                return error.status in self.retryable_statuses
            return error.recoverable
        if isinstance(error, SharedConfigError):
            return error.recoverable
        if isinstance(error, OSError):
            return not isinstance(error, _PERMANENT_OS_ERRORS)
        return False


def retry_after(error: BaseException | None) -> float | None:
    """The seconds a ``DeliveryError`` says the server asked us to wait, else None."""
    return error.retry_after if isinstance(error, DeliveryError) else None
