"""Injectable time: everything time-based takes a ``Clock``; tests pass ``testing.FakeClock``.

``now()`` is monotonic seconds (for intervals and timeouts), ``wall()`` an aware UTC datetime.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> datetime:
        """The current time of day, UTC."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


SYSTEM_CLOCK: Clock = SystemClock()
