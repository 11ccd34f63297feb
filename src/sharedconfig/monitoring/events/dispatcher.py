"""The dispatcher: drains the event buffer in batches to every channel, on the monitoring runtime.

One round (the runtime's ``dispatch`` job runs them back to back): wait until ``batch_size`` events are
there or ``flush_interval`` has passed, take batches (at most ``max_in_flight`` in flight), deliver each
to every channel at once, and acknowledge batches in the order they were taken once every channel has
answered for them, delivered or dead-lettered. The journal's records are acknowledged only then, so a
crash resends them: at-least-once. A second job (``spill``) writes what overflows into the journal, in
chunks of a quarter of the spill backlog's bound (and what is left every ``flush_interval``), so a slow
channel never makes the spill backlog overflow.

At stop, ``close`` delivers what it can within its share of the shutdown budget; what is still in flight
or buffered is written to the journal, so the next start resends it (``drain_to_journal``).

Per channel and batch the dispatcher records ``event_delivery_seconds{channel}`` and the result of
``deliver``: ``events_delivered_total{channel}`` and ``events_failed_total{channel}`` (given up on, so
in the channel's dead-letter file). A channel that raises (a bug) counts its batch as failed, writes it
to its dead-letter file, and is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence

from sharedconfig.clock import Clock, to_thread
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.buffer import Batch, EventBuffer
from sharedconfig.monitoring.events.channel import Channel
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.events.publisher import EventPublisher
from sharedconfig.monitoring.names import (
    EVENT_DELIVERY_DURATION,
    EVENTS_BUFFER_SIZE,
    EVENTS_DELIVERED,
    EVENTS_FAILED,
)

__all__ = ["Dispatcher"]

_SPILL_SHARE = 4
"""The spill job wakes when the backlog holds 1/_SPILL_SHARE of its bound: waking it on every spilled item
cost publish a socket write and a thread switch per call (bench/events.py, publish p99 while spilling, goal
< 20 us), and three quarters of the bound stay free while it writes."""


class Dispatcher:
    """Delivers the buffer's events to ``channels``; ``run_round`` and ``spill`` are runtime jobs."""

    def __init__(
        self,
        buffer: EventBuffer[Event],
        channels: Sequence[Channel],
        *,
        batch_size: int,
        flush_interval: float,
        max_in_flight: int,
        clock: Clock,
        metrics: MetricsRecorder,
        logger: Logger,
        publisher: EventPublisher | None = None,
        dead_letters: Mapping[str, DeadLetterFile] | None = None,
    ) -> None:
        self.buffer = buffer
        self.channels = tuple(channels)
        """The channels batches go to; ``EventsPart.apply`` narrows it to the enabled ones while running."""
        self._owned = self.channels  # every channel given, closed at stop even while disabled
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._metrics = metrics
        self._logger = logger
        self._publisher = publisher
        self._dead_letters = dict(dead_letters or {})
        self._inflight: deque[tuple[Batch[Event], asyncio.Future[None]]] = deque()
        self._pumps: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}  # one per loop: a fork renews it
        self._closing = False
        self.journaled_at_stop = 0
        """Events the last ``close`` wrote to the journal for the next start."""

    # -- the jobs --------------------------------------------------------------------------------------

    async def run_round(self) -> float:
        """One round; returns 0 (the next starts at once: the round itself waits on the buffer)."""
        if self._closing:
            return self.flush_interval
        if not self._inflight:
            await self.buffer.wait(self.flush_interval, want=self.batch_size, clock=self._clock)
            await self._fill(partial=True)
        else:
            await self._fill(partial=False)
            await self._settle()
        self._after_round()
        return 0.0

    async def spill(self) -> float:
        """Write the spill backlog to the journal (file I/O on a worker thread) each time it reaches a
        quarter of the buffer's capacity (or of its own bound, when smaller), and what is left of it every
        ``flush_interval``."""
        buffer = self.buffer
        want = max(1, min(buffer.spill_backlog, buffer.capacity) // _SPILL_SHARE)
        await buffer.wait_spilled(self.flush_interval, want=want, clock=self._clock)
        if buffer.spilled:
            await to_thread(buffer.write_spilled)
        return 0.0

    def _after_round(self) -> None:
        self._metrics.record_gauge(EVENTS_BUFFER_SIZE, float(len(self.buffer)))
        if self._publisher is not None:
            self._publisher.announce_drops()

    # -- batches ---------------------------------------------------------------------------------------

    async def _take(self) -> Batch[Event]:
        buffer = self.buffer
        journal = buffer.journal
        if journal is not None and (buffer.spilled or journal.unread):
            return await to_thread(lambda: buffer.take(self.batch_size))  # reads the journal back
        return buffer.take(self.batch_size)

    async def _fill(self, *, partial: bool) -> None:
        """Start batches while the window has room: full ones, and one partial one when ``partial``."""
        loop = asyncio.get_running_loop()
        pump = self._pumps.get(loop)
        if pump is None:
            self._pumps = {loop: (pump := asyncio.Lock())}
        async with pump:
            while len(self._inflight) < self.max_in_flight and not self._closing:
                waiting = len(self.buffer)
                if waiting == 0 or (not partial and waiting < self.batch_size):
                    return
                batch = await self._take()
                if not batch.items:
                    if batch.journaled:  # undecodable records only: settled with the batches before
                        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                        done.set_result(None)
                        self._inflight.append((batch, done))
                    return
                self._inflight.append((batch, asyncio.ensure_future(self._deliver(batch.items))))
                if len(batch.items) < self.batch_size:
                    return

    async def _settle(self) -> None:
        """Wait for the oldest batch in flight, then acknowledge every finished one at the head, in order."""
        if not self._inflight:
            return
        await asyncio.wait((self._inflight[0][1],))  # cancelling this waiter leaves the delivery running
        acked: list[Batch[Event]] = []
        while self._inflight and self._inflight[0][1].done():
            acked.append(self._inflight.popleft()[0])
        journaled = [b for b in acked if b.journaled]
        if journaled:
            await to_thread(lambda: self._ack(journaled))

    def _ack(self, batches: list[Batch[Event]]) -> None:
        for batch in batches:
            self.buffer.ack(batch)

    async def _deliver(self, events: list[Event]) -> None:
        channels = self.channels
        if len(channels) == 1:  # no gather: its task and future cost each batch two more turns of the loop
            await self._deliver_to(channels[0], events)
            return
        await asyncio.gather(*(self._deliver_to(channel, events) for channel in channels))

    async def _deliver_to(self, channel: Channel, events: list[Event]) -> None:
        name = channel.name
        labels = {"channel": name}
        started = self._clock.now()
        try:
            delivered = await channel.deliver(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a channel's bug: its batch is dead-lettered, the others go on
            delivered = 0
            reason = f"the channel raised {type(exc).__name__}: {exc}"
            self._logger.error("event channel failed", channel=name, error=reason, events=len(events))
            letters = self._dead_letters.get(name)
            if letters is not None:
                letters.append(events, reason)
        delivered = max(0, min(delivered, len(events)))
        self._metrics.record_duration(EVENT_DELIVERY_DURATION, self._clock.now() - started, labels)
        if delivered:
            self._metrics.record_counter(EVENTS_DELIVERED, float(delivered), labels)
        if delivered < len(events):
            self._metrics.record_counter(EVENTS_FAILED, float(len(events) - delivered), labels)

    # -- stop ------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Deliver what can be delivered; journal the rest (also when the stop's budget cancels this)."""
        try:
            while True:
                if self._inflight:
                    await self._settle()
                    continue
                if len(self.buffer) == 0:
                    break
                await self._fill(partial=True)
                if not self._inflight:
                    break  # nothing could be taken (the journal unreadable): journal what is left
        finally:
            self._closing = True
            self._journal_unfinished()
        await self._close_channels()

    def _journal_unfinished(self) -> None:
        """Acknowledge the finished batches at the head; journal what the others and the buffer hold."""
        acked: list[Batch[Event]] = []
        while self._inflight and self._inflight[0][1].done() and not self._inflight[0][1].cancelled():
            acked.append(self._inflight.popleft()[0])
        unfinished: list[Event] = []
        for batch, future in self._inflight:
            finished = future.done() and not future.cancelled()
            future.cancel()
            if not finished:  # a batch's first ``journaled`` items are still in the journal, un-acked
                unfinished.extend(batch.items[min(batch.journaled, len(batch.items)) :])
        self._inflight.clear()
        for batch in acked:
            self.buffer.ack(batch)
        self.journaled_at_stop = self.buffer.drain_to_journal(unfinished)
        self._metrics.record_gauge(EVENTS_BUFFER_SIZE, float(len(self.buffer)))
        if self.journaled_at_stop:
            self._logger.info(
                "events journaled at stop; the next start delivers them", events=self.journaled_at_stop
            )

    async def _close_channels(self) -> None:
        for channel in self._owned:
            with contextlib.suppress(Exception):
                await channel.aclose()

    def reopen(self) -> None:
        """After a stop, before the next start: rounds take batches again."""
        self._closing = False

    def __repr__(self) -> str:
        return f"Dispatcher(channels={[c.name for c in self.channels]}, in_flight={len(self._inflight)})"
