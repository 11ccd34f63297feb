"""The events part of ``Monitoring``: the buffer, the journal, the channels and the dispatcher's jobs.

Built by ``events_part`` when ``monitoring.events`` is enabled and at least one channel is: it claims a
journal directory, builds each channel from its entry point, attaches the buffer to the hub's
``EventPublisher`` (``Monitoring.events``) and gives the runtime three jobs: ``dispatch`` (batches to the
channels), ``spill`` (overflow to the journal) and ``watch`` (metrics that hit their cardinality limit
become events). At stop it delivers what it can and journals the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from sharedconfig.errors import ConfigError, Location
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.events.buffer import EventBuffer, OverflowPolicy
from sharedconfig.monitoring.events.channel import Channel, ChannelContext, build_channel
from sharedconfig.monitoring.events.channels.sqlite import EventStore
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.dispatcher import Dispatcher
from sharedconfig.monitoring.events.encoding import from_structured, to_structured
from sharedconfig.monitoring.events.event import Category, Event, Severity
from sharedconfig.monitoring.events.journal import FsyncPolicy, Journal
from sharedconfig.monitoring.events.publisher import EventPublisher
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.part import Job, PartContext, QuietPart, changed_keys
from sharedconfig.monitoring.settings import EventsSettings, MonitoringSettings, channel_name

__all__ = ["CARDINALITY_EVENT", "EventsPart", "claim_journal", "events_part"]

CARDINALITY_EVENT: Final = "metrics_cardinality_overflow"
"""The type of the event published once per metric that hits its cardinality limit."""

SPILL_BACKLOG_FACTOR: Final = 10
"""Spilled events waiting in memory for the spill job, as a multiple of ``buffer_size``: room for a burst
faster than the journal can be written (encoding each event costs ~15 µs there), before anything drops."""

_SLOTS: Final = 64
"""Journal slots under one directory: one per process sharing it (the workers of one service)."""


def claim_journal(directory: Path) -> tuple[Path, IO[bytes]]:
    """A journal directory no other live process uses: ``DIR/0``, else ``DIR/1``, ... (held by ``flock``).

    Workers of one service configured with the same path each get a slot; a restarted worker takes a
    free slot and delivers what the process before it left there. The returned file keeps the lock until
    it is closed or the process ends. ``OSError`` when the directory cannot be made; ``ConfigError``
    when every slot is taken.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for slot in range(_SLOTS):
        path = directory / str(slot)
        path.mkdir(exist_ok=True)
        handle = open(path / ".lock", "ab")  # noqa: SIM115 -- held for the process's life, closed by the part
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return path, handle
    raise ConfigError(
        f"all {_SLOTS} journal slots under {directory} are held by other processes",
        location=Location("file", str(directory)),
        hint="Give each service its own monitoring.events.journal.path.",
    )


def _schemas(settings: EventsSettings) -> dict[str, Mapping[str, Any]]:
    """The configured schemas, files read (``ConfigError`` naming the file when one cannot be)."""
    found: dict[str, Mapping[str, Any]] = {}
    for event_type, schema in settings.schemas.items():
        if isinstance(schema, str):
            try:
                found[event_type] = json.loads(Path(schema).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"the JSON Schema of event type {event_type!r} cannot be read: {exc}",
                    location=Location("file", schema),
                    path=f"monitoring.events.schemas.{event_type}",
                    hint="Point it at a readable JSON file, or write the schema inline.",
                ) from None
        else:
            found[event_type] = schema
    return found


@dataclass(eq=False)
class EventsPart(QuietPart):
    """Runs the dispatcher on the runtime; closes it (deliver, then journal) at stop. No checks, HELP or
    collectors of its own: drops and failures are metrics and events, the ``events_*`` names built in."""

    publisher: EventPublisher
    dispatcher: Dispatcher
    settings: MonitoringSettings = field(repr=False)
    registry: MetricsRegistry = field(repr=False)
    closers: Sequence[Callable[[], object]] = field(default=(), repr=False)
    built: Sequence[tuple[int, Channel]] = field(default=(), repr=False)
    """Each channel built at start with its index in ``monitoring.events.exporters``."""
    name: str = "events"
    _announced: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        # the journal, its slot's lock and the stores stay open across stop/start; they are released when
        # the part goes away (or at interpreter exit), never left to the garbage collector's warnings
        self._release = weakref.finalize(self, _close_all, tuple(self.closers))

    def release(self) -> None:
        """Close the journal, give up its slot and close the channels' stores (once; after the last stop)."""
        self._release()

    def jobs(self) -> Sequence[Job]:
        """``dispatch``, ``spill`` and ``watch`` (cardinality overflows, every ``flush_interval``)."""
        every = self.dispatcher.flush_interval
        return (
            Job("dispatch", every, self.dispatcher.run_round),
            Job("spill", every, self.dispatcher.spill),
            Job("watch", every, self.watch),
        )

    def open(self) -> None:
        """Let the dispatcher take batches again after a stop."""
        self.dispatcher.reopen()

    async def close(self) -> None:
        """Deliver what can be delivered in the stop's budget; journal the rest for the next start."""
        await self.dispatcher.close()

    async def watch(self) -> float | None:
        """Publish one event per metric that hit its cardinality limit since the last look."""
        for metric in self.registry.overflowed():
            if metric not in self._announced:
                self._announced.add(metric)
                self.publisher.emit(
                    CARDINALITY_EVENT,
                    metric,
                    {"metric": metric, "limit": self.settings.metrics.cardinality_limit},
                    severity=Severity.MEDIUM,
                    category=Category.SYSTEM,
                )
        return None

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Turn channels on and off live (``exporters[i].enabled``); name every other change.

        A channel built at start stops receiving batches when disabled and receives them again when
        enabled (events published meanwhile are not kept for it); one that was disabled at start was never
        built, so enabling it needs a restart, as does any other change (the buffer, the journal, a
        channel's own settings, a channel added or removed).
        """
        keys = changed_keys(self.settings.events, settings.events, "monitoring.events")
        given = settings.events.exporters
        if len(given) != len(self.settings.events.exporters):
            return keys
        live = {f"monitoring.events.exporters.{i}.enabled" for i, _ in self.built}
        enabled = tuple(channel for i, channel in self.built if given[i].enabled)
        self.dispatcher.channels = enabled
        self.publisher.channels = enabled
        return [key for key in keys if key not in live]


def _close_all(closers: Sequence[Callable[[], object]]) -> None:
    for close in closers:
        with contextlib.suppress(Exception):
            close()


def _dead_letter(
    settings: EventsSettings, name: str, given: str | None, ctx: PartContext, *, fsync: bool = True
) -> DeadLetterFile:
    path = given if given is not None else os.path.join(settings.dead_letter_dir, f"{name}.jsonl")
    logger = ctx.logger.bind(component="events", channel=name)
    return DeadLetterFile(path, fsync=fsync, clock=ctx.clock, logger=logger)


def events_part(ctx: PartContext) -> EventsPart | None:
    """The events part, when events are enabled, a publisher is lent and at least one channel is on."""
    s = ctx.settings
    events = s.events
    publisher = ctx.events if isinstance(ctx.events, EventPublisher) else None
    configured = [(i, c) for i, c in enumerate(events.exporters) if c.enabled]
    if not (s.enabled and events.enabled) or publisher is None or not configured:
        return None
    logger: Logger = ctx.logger.bind(component="events")
    lock: IO[bytes] | None
    try:
        slot, lock = claim_journal(Path(events.journal.path))
    except OSError as exc:  # unwritable: the journal reports its failures once; spills count journal_error
        slot, lock = Path(events.journal.path) / "0", None
        logger.error(
            "the events journal directory cannot be used",
            journal=events.journal.path,
            error=f"{type(exc).__name__}: {exc}",
        )
    max_bytes = max(events.journal.max_bytes, 64 * 1024)
    journal = Journal(
        slot,
        segment_bytes=min(8 * 1024 * 1024, max_bytes // 4),
        max_bytes=max_bytes,
        fsync=FsyncPolicy(events.journal.fsync),
        clock=ctx.clock,
        on_error=lambda error: logger.error(
            "the events journal cannot be written; overflowing events are dropped and counted",
            journal=str(slot),
            error=f"{type(error).__name__}: {error}",
        ),
    )
    closers: list[Callable[[], object]] = [journal.close]
    if lock is not None:
        closers.append(lock.close)
    try:
        buffer: EventBuffer[Event] = EventBuffer(
            events.buffer_size,
            policy=OverflowPolicy(events.overflow),
            journal=journal,
            spill_backlog=events.buffer_size * SPILL_BACKLOG_FACTOR,
            serialize=to_structured,
            deserialize=from_structured,
            clock=ctx.clock,
            on_drop=publisher.on_drop,
        )
        channels: list[Channel] = []
        built: list[tuple[int, Channel]] = []
        letters: dict[str, DeadLetterFile] = {}
        store: EventStore | None = None
        for i, settings in configured:
            name = channel_name(settings)
            letters[name] = _dead_letter(events, name, settings.dead_letter, ctx)
            channel_ctx = ChannelContext(
                name,
                ctx.clock,
                logger.bind(channel=name),
                ctx.metrics,
                letters[name],
                events.batch_size,
            )
            channel = build_channel(settings, channel_ctx, path=f"monitoring.events.exporters[{i}]")
            channels.append(channel)
            built.append((i, channel))
            found = getattr(channel, "store", None)
            if isinstance(found, EventStore):
                closers.append(found.close)
                store = store or found
        schemas = None
        if events.schemas:
            from sharedconfig.monitoring.events.schema import EventSchemas, OnViolation

            on_violation = OnViolation.RAISE if events.schema_violation == "raise" else OnViolation.RETURN
            schemas = EventSchemas(_schemas(events), on_violation=on_violation)
        publisher.attach(
            buffer,
            channels=channels,
            store=store,
            schemas=schemas,
            # written in publish's thread (the event never reaches the buffer): flushed, not fsynced
            schema_dead_letter=_dead_letter(events, "schema", None, ctx, fsync=False),
        )
        dispatcher = Dispatcher(
            buffer,
            channels,
            batch_size=events.batch_size,
            flush_interval=events.flush_interval.total_seconds(),
            max_in_flight=events.max_in_flight,
            clock=ctx.clock,
            metrics=ctx.metrics,
            logger=logger,
            publisher=publisher,
            dead_letters=letters,
        )
    except BaseException:
        _close_all(closers)
        raise
    return EventsPart(publisher, dispatcher, s, ctx.metrics, closers, built)
