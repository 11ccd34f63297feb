"""The ``log`` channel: each event as one record of the service's structured logger.

The level follows the event's severity (``info``/``low`` info, ``medium`` warning, ``high``/``critical``
error) unless the channel's ``level`` fixes one. The record carries the event's attributes and its
redacted data, so the log never shows what an encoder would hide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.events.channel import ChannelContext
from sharedconfig.monitoring.events.encoding import redacted
from sharedconfig.monitoring.events.event import Event, Severity

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import LogChannelSettings

__all__ = ["LogChannel", "build"]

_LEVELS: Final[Mapping[Severity, str]] = {
    Severity.INFO: "info",
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}


@dataclass(eq=False)
class LogChannel:
    """Writes every event to ``logger`` (``event`` records); delivering never fails."""

    logger: Logger
    level: str | None = None
    name: str = "log"

    async def deliver(self, events: Sequence[Event]) -> int:
        """Log each event; all of them count as delivered."""
        for event in events:
            shown = redacted(event)
            log: Callable[..., None] = getattr(self.logger, self.level or _LEVELS[shown.severity])
            log(
                "event",
                event_type=shown.type,
                event_id=shown.id,
                event_source=shown.source,
                subject=shown.subject,
                severity=shown.severity.value,
                category=shown.category.value,
                data=shown.data,
                **({"traceparent": shown.traceparent} if shown.traceparent else {}),
            )
        return len(events)

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"LogChannel({self.name!r}, level={self.level!r})"


def build(settings: LogChannelSettings, ctx: ChannelContext) -> LogChannel:
    """The ``log`` channel from its settings (entry point ``log`` of ``sharedconfig.channels``)."""
    return LogChannel(ctx.logger, settings.level, ctx.name)
