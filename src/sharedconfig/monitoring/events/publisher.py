"""``EventPublisher``: ``publish(event)`` and ``emit(...)``, which never block and never raise on delivery.

What ``publish`` does, in the caller's thread and in this order (no I/O, a few microseconds):

1. every processor (``Processor``: a plain callable ``Event -> Event | None``) may replace the event
   (enrich, redact) or drop it (None: counted as ``filtered``; a processor that raises: counted as
   ``processor_error``, logged once, the event dropped, since a failed redaction must not leak);
2. sampling: with ``sample_rate`` below 1, an ``info``/``low``/``medium`` event of the ``system`` or
   ``business`` category is kept with that probability and stamped ``sampledrate`` (1 in N kept);
   ``high``/``critical`` events and the ``error``, ``security`` and ``audit`` categories are never
   sampled out. What sampling leaves out is counted as ``sampled``;
3. the JSON Schema of the event's type, when one is registered: a violation raises ``SchemaViolation``
   (``schema_violation: raise``, development) or is counted as ``schema`` and written to the schema
   dead-letter file (``dead_letter``, production);
4. the bounded buffer (``EventBuffer``): its overflow policy decides, and every drop is counted by reason.

Every event left out is counted in ``events_dropped_total{reason}``; every accepted one in
``events_published_total{type}``. The dispatcher (``dispatcher.py``) takes batches from the same buffer.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.buffer import DropReason, EventBuffer, Offer
from sharedconfig.monitoring.events.event import Category, Event, JsonValue, Severity
from sharedconfig.monitoring.metrics.instruments import Counter
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import EVENTS_DROPPED, EVENTS_PUBLISHED, HELP
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from sharedconfig.monitoring.events.channel import Channel
    from sharedconfig.monitoring.events.channels.sqlite import EventStore
    from sharedconfig.monitoring.events.deadletter import DeadLetterFile
    from sharedconfig.monitoring.events.schema import EventSchemas

__all__ = [
    "DROPS_EVENT",
    "NEVER_SAMPLED",
    "EventPublisher",
    "Processor",
    "drop",
    "enrich",
    "keep",
]

Processor = Callable[[Event], "Event | None"]
"""Enriches, redacts, filters or drops an event (None: drop it). Runs in the publisher's thread: keep it
cheap, and never block."""

DROPS_EVENT: Final = "events_dropped"
"""The type of the rate-limited event that announces drops (at most one per ``announce_every``)."""

NEVER_SAMPLED: Final = frozenset({Category.ERROR, Category.SECURITY, Category.AUDIT})
"""Categories sampling never leaves out (nor does it any ``high`` or ``critical`` event)."""

FILTERED: Final = "filtered"
SAMPLED: Final = "sampled"
SCHEMA: Final = "schema"
PROCESSOR_ERROR: Final = "processor_error"


def _matches(value: str | None, patterns: frozenset[str]) -> bool:
    return value is not None and any(fnmatch.fnmatchcase(value, p) for p in patterns)


def keep(
    *,
    types: Iterable[str] = (),
    min_severity: Severity | str | None = None,
    categories: Iterable[Category | str] = (),
    subjects: Iterable[str] = (),
) -> Processor:
    """A processor keeping only events that match every criterion given (the others are ``filtered``).

    ``types`` and ``subjects`` are glob patterns (``order.*``); ``min_severity`` keeps that severity and
    above; ``categories`` keeps those categories. No criterion: every event is kept.
    """
    type_set, subject_set = frozenset(types), frozenset(subjects)
    category_set = frozenset(Category(c) for c in categories)
    rank = Severity(min_severity).rank if min_severity is not None else None

    def process(event: Event) -> Event | None:
        if type_set and not _matches(event.type, type_set):
            return None
        if rank is not None and event.severity.rank < rank:
            return None
        if category_set and event.category not in category_set:
            return None
        if subject_set and not _matches(event.subject, subject_set):
            return None
        return event

    return process


def drop(
    *,
    types: Iterable[str] = (),
    max_severity: Severity | str | None = None,
    categories: Iterable[Category | str] = (),
    subjects: Iterable[str] = (),
) -> Processor:
    """A processor dropping events that match any criterion given (``max_severity``: that and below)."""
    type_set, subject_set = frozenset(types), frozenset(subjects)
    category_set = frozenset(Category(c) for c in categories)
    rank = Severity(max_severity).rank if max_severity is not None else None

    def process(event: Event) -> Event | None:
        if (
            (type_set and _matches(event.type, type_set))
            or (rank is not None and event.severity.rank <= rank)
            or (category_set and event.category in category_set)
            or (subject_set and _matches(event.subject, subject_set))
        ):
            return None
        return event

    return process


def enrich(**extensions: str) -> Processor:
    """A processor adding extension attributes (an event's own values win)."""
    from dataclasses import replace

    def process(event: Event) -> Event:
        return replace(event, extensions={**extensions, **event.extensions})

    return process


def _sampledrate(rate: float) -> int | None:
    """The ``sampledrate`` stamped on events kept at ``rate`` (1 in N), None at 0."""
    return max(1, round(1 / rate)) if rate > 0 else None


class EventPublisher:
    """Publishes events into the bounded buffer a dispatcher drains; ``Monitoring.events`` is one.

    Without a buffer (``monitoring.events`` disabled, or no channel configured) it is disabled:
    ``publish`` returns False and ``emit`` None, counting nothing, because no event is ever kept. The
    events part attaches the buffer, channels and store when it is built (``attach``).
    """

    def __init__(
        self,
        *,
        source: str,
        sample_rate: float = 1.0,
        metrics: MetricsRecorder | None = None,
        clock: Clock = SYSTEM_CLOCK,
        logger: Logger | None = None,
        rng: Callable[[], float] = random.random,
        announce_every: float = 60.0,
    ) -> None:
        self.source = source
        self.sample_rate = sample_rate
        self._sampledrate = _sampledrate(sample_rate)
        self._metrics = metrics
        self._clock = clock
        self._logger = logger or StdlibLogger("sharedconfig.monitoring.events")
        self._rng = rng
        self._processors: tuple[Processor, ...] = ()
        self._buffer: EventBuffer[Event] | None = None
        self._published: Counter | None = None
        self._schemas: EventSchemas | None = None
        self._schema_letters: DeadLetterFile | None = None
        self.channels: tuple[Channel, ...] = ()
        """The channels the dispatcher delivers to."""
        self.store: EventStore | None = None
        """The store of the first ``sqlite`` channel (what ``/api/v1/events`` reads), or None."""
        self._lock = threading.Lock()
        self._unannounced: dict[str, int] = {}
        self._ever_dropped: dict[str, int] = {}
        self._announce_every = announce_every
        self._next_announce = float("-inf")
        self._processor_failed = False

    # -- wiring ----------------------------------------------------------------------------------------

    def attach(
        self,
        buffer: EventBuffer[Event],
        *,
        channels: Sequence[Channel] = (),
        store: EventStore | None = None,
        schemas: EventSchemas | None = None,
        schema_dead_letter: DeadLetterFile | None = None,
    ) -> None:
        """Start keeping events in ``buffer`` (the events part calls it once, when it is built)."""
        self._published = self._published_counter()
        self._buffer = buffer
        self.channels = tuple(channels)
        self.store = store
        self._schemas = schemas
        self._schema_letters = schema_dead_letter

    def _published_counter(self) -> Counter | None:
        """``events_published_total`` declared on the registry, or None for any other recorder.

        Its child per type, cached by the counter, costs ``publish`` about 0.2 us where ``record_counter``
        (a labels dict, a key built, the series looked up) costs 0.5: bench/events.py's publish latency,
        and the kafka channel's events/s, since publish holds the interpreter lock the channel needs.
        """
        metrics = self._metrics
        if not isinstance(metrics, MetricsRegistry):
            return None
        try:
            return metrics.counter(EVENTS_PUBLISHED, HELP[EVENTS_PUBLISHED], ("type",))
        except ValueError:  # the application declared it otherwise: record_counter, as for any recorder
            return None

    def set_sample_rate(self, rate: float) -> None:
        """Sample with ``rate`` from the next ``publish`` on (``monitoring.sample_rate`` applied live)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, not {rate!r}")
        # publish reads the two attributes separately: a publish in between stamps the old 1-in-N, harmless
        self._sampledrate = _sampledrate(rate)
        self.sample_rate = rate

    @property
    def enabled(self) -> bool:
        """True when published events are kept (a buffer is attached)."""
        return self._buffer is not None

    @property
    def buffer(self) -> EventBuffer[Event] | None:
        """The buffer events wait in, or None when disabled."""
        return self._buffer

    @property
    def schemas(self) -> EventSchemas | None:
        """The JSON Schemas events are checked against (``register`` more at any time), or None."""
        return self._schemas

    def add_processor(self, processor: Processor) -> None:
        """Run ``processor`` on every event published from now on, after the ones added before."""
        with self._lock:
            self._processors = (*self._processors, processor)

    def remove_processor(self, processor: Processor) -> None:
        """Stop running ``processor`` (nothing happens when it was not added)."""
        with self._lock:
            self._processors = tuple(p for p in self._processors if p is not processor)

    # -- publishing ------------------------------------------------------------------------------------

    def publish(self, event: Event) -> bool:
        """Keep ``event`` for delivery; True when the buffer took it (spilled counts as taken).

        Never blocks and never raises for delivery problems; the one exception raised is a
        ``SchemaViolation`` under ``schema_violation: raise`` (a development setting).
        """
        buffer = self._buffer
        if buffer is None:
            return False
        for processor in self._processors:
            try:
                processed = processor(event)
            except Exception as exc:  # a processor's bug must not reach the caller, nor leak the event
                self._dropped(PROCESSOR_ERROR)
                self._processor_error(processor, exc)
                return False
            if processed is None:
                self._dropped(FILTERED)
                return False
            event = processed
        if self._sampledrate is not None and self.sample_rate < 1.0 and self._samplable(event):
            if self._rng() >= self.sample_rate:
                self._dropped(SAMPLED)
                return False
            if event.sampledrate is None:
                from dataclasses import replace

                event = replace(event, sampledrate=self._sampledrate)
        elif self.sample_rate <= 0.0 and self._samplable(event):
            self._dropped(SAMPLED)
            return False
        schemas = self._schemas
        if schemas is not None:
            violation = schemas.check(event)  # raises under schema_violation: raise
            if violation is not None:
                self._dropped(SCHEMA)
                if self._schema_letters is not None:
                    self._schema_letters.append((event,), violation.message)
                return False
        outcome = buffer.offer(event)
        if outcome is Offer.DROPPED_NEWEST:
            return False
        published = self._published
        if published is not None:
            try:
                published.labels(event.type).inc()
                return True
            except Exception:  # a series the registry refused: record_counter counts it, never raises
                pass
        if self._metrics is not None:
            self._metrics.record_counter(EVENTS_PUBLISHED, 1.0, {"type": event.type})
        return True

    def emit(
        self,
        type: str,
        subject: str | None = None,
        data: JsonValue = None,
        *,
        severity: Severity | str = Severity.INFO,
        category: Category | str = Category.SYSTEM,
        extensions: Mapping[str, str] | None = None,
    ) -> Event | None:
        """Build an event from this service's ``source`` and publish it; the event, or None when left out.

        Raises ``InvalidEvent`` (``VALIDATION_050``) for attributes that cannot make an event: a mistake
        in the calling code, not a delivery problem.
        """
        if self._buffer is None:
            return None
        event = Event(
            type,
            self.source,
            data,
            subject,
            severity=severity,  # type: ignore[arg-type]  # Event converts (and names a bad one, coded)
            category=category,  # type: ignore[arg-type]
            extensions=extensions or {},
        )
        return event if self.publish(event) else None

    @staticmethod
    def _samplable(event: Event) -> bool:
        return event.severity.rank < Severity.HIGH.rank and event.category not in NEVER_SAMPLED

    # -- drops -----------------------------------------------------------------------------------------

    def on_drop(self, reason: DropReason, n: int) -> None:
        """The buffer's drop callback: count and remember for the next announcement."""
        self._dropped(reason.value, n, announce=True)

    def _dropped(self, reason: str, n: int = 1, *, announce: bool = False) -> None:
        if self._metrics is not None:
            self._metrics.record_counter(EVENTS_DROPPED, float(n), {"reason": reason})
        if announce:
            with self._lock:
                self._unannounced[reason] = self._unannounced.get(reason, 0) + n
                self._ever_dropped[reason] = self._ever_dropped.get(reason, 0) + n

    def _processor_error(self, processor: Processor, error: Exception) -> None:
        with self._lock:
            first, self._processor_failed = not self._processor_failed, True
        if first:
            name = getattr(processor, "__qualname__", type(processor).__name__)
            self._logger.error(
                "an event processor raised; its events are dropped (reported once)",
                processor=name,
                error=f"{type(error).__name__}: {error}",
            )

    def announce_drops(self) -> Event | None:
        """Publish one ``events_dropped`` event for the drops since the last one, at most once per
        ``announce_every`` seconds of the clock (the dispatcher calls it after every round).

        Data: ``dropped`` (by reason, since the last announcement), ``total`` (their sum) and
        ``dropped_since_start`` (by reason, since this process started). One that is left out itself (the
        buffer it reports on is still full under ``drop_newest``, the journal is down) hands its counts on
        to the next; one pushed out of the buffer later (``drop_oldest``) cannot, but the next one's
        ``dropped_since_start`` still says every drop.
        """
        now = self._clock.now()
        with self._lock:
            if not self._unannounced or now < self._next_announce:
                return None
            dropped, self._unannounced = self._unannounced, {}
            since_start = dict(sorted(self._ever_dropped.items()))
            self._next_announce = now + self._announce_every
        total = sum(dropped.values())
        self._logger.warning("events were dropped", dropped=dropped)
        announced = self.emit(
            DROPS_EVENT,
            "events",
            {"dropped": dict(sorted(dropped.items())), "total": total, "dropped_since_start": since_start},
            severity=Severity.HIGH,
            category=Category.ERROR,
        )
        if announced is None:  # refused (the full buffer it reports on, say): the next one carries the counts
            with self._lock:
                for reason, n in dropped.items():
                    self._unannounced[reason] = self._unannounced.get(reason, 0) + n
        return announced

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"EventPublisher({self.source!r}, {state}, channels={[c.name for c in self.channels]})"
