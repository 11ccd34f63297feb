"""The multiprocess part of ``Monitoring``: keeps this worker's file in the shared directory up to date.

Built when ``Monitoring`` runs in multiprocess mode (its ``exposition`` is a ``ProcessGroup``): it joins
the directory at start, writes every ``multiprocess_interval`` and answers peers' scrapes from the
runtime's loop, and writes a last time at stop so a stopped worker's totals stay in every later scrape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sharedconfig.monitoring.metrics.multiprocess import ProcessGroup
from sharedconfig.monitoring.part import Job, Part, PartContext, QuietPart

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import MonitoringSettings

__all__ = ["MultiprocessPart", "multiprocess_part"]


@dataclass(eq=False)
class MultiprocessPart(QuietPart):
    """Joins the directory at start, writes this process's file periodically and at stop, answers peers.

    The merged view is ``Monitoring.exposition``, not a collector; the sync failure counter is built in."""

    group: ProcessGroup
    interval: float
    name: str = "multiprocess"

    def jobs(self) -> Sequence[Job]:
        """The writer: joins (first run, or in a forked child), listens for peers, writes."""
        return (Job("write", self.interval, self.group.tick),)

    def open(self) -> None:
        """Join the directory (archive a dead run's files, write this process's first file).

        File work in the caller's thread, once per start: before it, peers' scrapes would miss this worker.
        """
        self.group.join()

    async def close(self) -> None:
        """Stop answering peers, write the final file, hand pushing over to another process."""
        await self.group.close()

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """The directory is read when built: the hub names ``monitoring.metrics`` changes already."""
        return ()


def multiprocess_part(ctx: PartContext) -> Part | None:
    """The multiprocess part, when the hub's ``exposition`` is a ``ProcessGroup``."""
    if not isinstance(ctx.exposition, ProcessGroup):
        return None
    return MultiprocessPart(ctx.exposition, ctx.settings.metrics.multiprocess_interval.total_seconds())
