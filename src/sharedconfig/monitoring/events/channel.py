"""The channel seam: what the dispatcher delivers to, and how a channel is built from its settings.

A ``Channel`` has a name and ``await deliver(events) -> int``: it sends a batch, never raises for delivery
problems, and returns how many events reached the destination; the others were given up on (retries
spent, an answer not worth retrying, the breaker open) and written to its dead-letter file. The dispatcher
times every call and counts the result (``events_delivered_total``/``events_failed_total``/
``event_delivery_seconds{channel}``), so a channel records none of them itself.

A channel that sends over a network is usually an encoder (events to payloads) and a sender
(``async send(payload)``) composed by ``sharedconfig.delivery.Delivery``: ``DeliveryChannel``, built by
``ChannelContext.channel`` from the channel's ``retry``/``circuit_breaker``/``max_in_flight`` settings.
A destination that answers for each event (kafka, nats, elasticsearch) gets ``ItemBatch`` batches
(from ``ItemBatches``): its sender sets each item's outcome, and ``DeliveryChannel`` resends or dead-letters
the items that failed, within one ``Tries`` shared by the batch and its resends.

Channels are found by the ``type`` of their settings through the entry point group
``sharedconfig.channels`` (this package registers its own six there): the entry point is a
``ChannelFactory``, called with the channel's settings (for another package's channel, a
``PluginChannelSettings`` carrying its extra keys) and a ``ChannelContext``. Importing a channel's module
(and its client library) happens only when a configuration names it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import Delivery, Sender, Series
from sharedconfig.errors import ConfigError, Location, SharedConfigError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.names import CIRCUIT_BREAKER_STATE
from sharedconfig.monitoring.settings import CHANNEL_ENTRY_POINTS, channel_entry_points

if TYPE_CHECKING:
    from sharedconfig.delivery import SecretLike
    from sharedconfig.monitoring.settings import EventChannelSettings

__all__ = [
    "ENTRY_POINT_GROUP",
    "Channel",
    "ChannelContext",
    "ChannelFactory",
    "DeliveryChannel",
    "Encoder",
    "ItemBatch",
    "ItemBatches",
    "ItemFailure",
    "Tries",
    "UnknownChannel",
    "WholeBatches",
    "build_channel",
    "installed_channels",
    "summarize",
]

ENTRY_POINT_GROUP: Final = CHANNEL_ENTRY_POINTS


@runtime_checkable
class Channel(Protocol):
    """Where the dispatcher delivers batches of events."""

    @property
    def name(self) -> str:
        """The ``channel`` label of its metrics; unique among a Monitoring's channels."""
        ...

    async def deliver(self, events: Sequence[Event]) -> int:
        """Send ``events``; how many reached the destination (never raises for delivery problems)."""
        ...

    async def aclose(self) -> None:
        """Release connections (at stop, after the last delivery)."""
        ...


class Encoder(Protocol):
    """Events to the payloads a sender takes: batches, and the events that could not be encoded."""

    def encode(
        self, events: Sequence[Event]
    ) -> tuple[Sequence[Batch[Event]], list[tuple[Event, SharedConfigError]]]:
        """``(batches, rejected)``: every event is in exactly one of them."""
        ...


@dataclass(frozen=True, slots=True)
class WholeBatches:
    """The encoder of a sender that takes events as they are (no ``body``): batches of ``size`` at most."""

    size: int = 1_000_000

    def encode(
        self, events: Sequence[Event]
    ) -> tuple[list[Batch[Event]], list[tuple[Event, SharedConfigError]]]:
        """``events`` cut into batches of ``size``; nothing is rejected."""
        items = tuple(events)
        return [Batch(b"", items[i : i + self.size]) for i in range(0, len(items), self.size)], []


@dataclass(slots=True)
class Tries:
    """The attempts the events of one batch may take in all (the retry policy's), shared by its resends:
    no event is sent more than ``limit`` times, whoever retries (the delivery or the channel)."""

    limit: int
    made: int = 0

    @property
    def left(self) -> int:
        """Attempts still allowed."""
        return self.limit - self.made


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


class ItemFailure(Protocol):
    """Why the destination did not take one item of an ``ItemBatch``; ``str()`` is the reason dead letters
    and log lines give."""

    @property
    def retryable(self) -> bool:
        """Whether another attempt may deliver the item (it is resent while its tries last)."""
        ...

    @property
    def kind(self) -> str:
        """What a log line counts failures by: an error's name, a status and type, a reason."""
        ...


def summarize(failures: Iterable[ItemFailure], most: int = 3) -> str:
    """Failures by ``kind``, commonest first, each as its first failure's text and its count, at most
    ``most`` kinds: ``429 es_rejected_execution_exception: rejected execution of bulk (3); ...``."""
    first: dict[str, ItemFailure] = {}
    counts: Counter[str] = Counter()
    for failure in failures:
        first.setdefault(failure.kind, failure)
        counts[failure.kind] += 1
    shown = [f"{first[kind]} ({count})" for kind, count in counts.most_common(most)]
    if len(counts) > most:
        shown.append(f"{len(counts) - most} more kind(s)")
    return "; ".join(shown)


@dataclass(frozen=True, slots=True, eq=False)
class ItemBatch(Batch[Event]):
    """A batch whose destination answers for each item (a delivery report, an ack, a ``_bulk`` item).

    ``parts[i]`` is ``items[i]`` encoded, kept byte for byte for its resends (no parts: the sender encodes
    each event itself; ``body`` is unused, a sender sending one body joins the parts). The sender sets
    ``outcomes[i]`` on each attempt that went through: None when ``items[i]`` was delivered, else its
    ``ItemFailure``. ``tries`` is shared with the batch's resends and counted by the sender (``attempt``);
    None: no limit but the delivery's.
    """

    parts: tuple[bytes, ...] = ()
    outcomes: list[ItemFailure | None] = field(default_factory=list)
    tries: Tries | None = None

    @classmethod
    def of(
        cls, events: Iterable[Event], parts: Iterable[bytes] = (), tries: Tries | None = None
    ) -> ItemBatch:
        """The batch of ``events`` and their ``parts`` (none, or one per event)."""
        return cls(b"", tuple(events), tuple(parts), tries=tries)

    def only(self, keep: Iterable[int]) -> ItemBatch:
        """A new batch of the items at ``keep`` alone (a resend), their parts byte for byte, sharing
        ``tries``."""
        keep = tuple(keep)
        parts = tuple(self.parts[i] for i in keep) if self.parts else ()
        return ItemBatch(b"", tuple(self.items[i] for i in keep), parts, tries=self.tries)

    def attempt(self) -> str:
        """Count one attempt at sending this batch (a sender calls it first): ``""`` while another may
        follow, else ``"; retries spent (N attempts)"``, for the sender's error, which must then be final."""
        tries = self.tries
        if tries is None:
            return ""
        tries.made += 1
        return "" if tries.left > 0 else f"; retries spent ({_attempts(tries.made)})"


@dataclass(frozen=True, slots=True)
class ItemBatches:
    """The encoder of a sender that answers per item: ``ItemBatch`` batches of at most ``size`` events and
    ``max_bytes`` of parts (an event larger than that goes alone), each event's part written by ``part``.

    Without ``part`` the batches have no parts (the sender encodes each event) and ``max_bytes`` is unused.
    An event ``part`` refuses with a ``SharedConfigError`` (data that is not JSON) is rejected, never sent.
    """

    part: Callable[[Event], bytes] | None = None
    size: int = 1_000_000
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.size < 1 or (self.max_bytes is not None and self.max_bytes < 1):
            raise ValueError("size and max_bytes must be at least 1")

    def encode(
        self, events: Sequence[Event]
    ) -> tuple[list[ItemBatch], list[tuple[Event, SharedConfigError]]]:
        """The batches to send, in order, and the events that could not be encoded."""
        size = self.size
        if self.part is None:
            items = tuple(events)
            return [ItemBatch(b"", items[i : i + size]) for i in range(0, len(items), size)], []
        encode, limit = self.part, self.max_bytes
        groups: list[tuple[list[Event], list[bytes]]] = []
        rejected: list[tuple[Event, SharedConfigError]] = []
        taken = 0
        for event in events:
            try:
                part = encode(event)
            except SharedConfigError as exc:
                rejected.append((event, exc))
                continue
            if not groups or len(groups[-1][0]) >= size or (limit is not None and taken + len(part) > limit):
                groups.append(([], []))
                taken = 0
            groups[-1][0].append(event)
            groups[-1][1].append(part)
            taken += len(part)
        return [ItemBatch.of(items, parts) for items, parts in groups], rejected

    def __repr__(self) -> str:
        part = "" if self.part is None else f"{getattr(self.part, '__name__', self.part)!s}, "
        limit = "" if self.max_bytes is None else f", max_bytes={self.max_bytes}"
        return f"ItemBatches({part}size={self.size}{limit})"


@dataclass(eq=False)
class DeliveryChannel:
    """An encoder and a delivery (which owns the sender): ``await deliver(events)`` never raises.

    The batches of one call go out concurrently, at most the delivery's ``max_in_flight`` at once (the
    others wait for a slot). A batch the delivery gives up on (retries spent, a final answer, the breaker
    open) goes to the dead-letter file through the delivery's ``on_give_up``; an event that cannot be
    encoded is counted as a failure and dead-lettered too (it is lost only if that write fails, which the
    dead-letter file counts).

    An ``ItemBatch`` the delivery took is settled item by item from its ``outcomes``: an item delivered
    counts; one refused for good is dead-lettered with its own reason; those worth another attempt go
    again, alone, in a batch of their own after the retry policy's ``delay`` on ``clock``, and are
    dead-lettered with their reasons once its ``Tries`` are spent. A resend that fails whole is a batch
    like any other (the delivery's retries, then its give-up). The batch and its resends share one
    ``Tries`` of the policy's attempts, which the sender counts: an event is sent at most
    ``max_retries + 1`` times in all, whoever retries. What a settling dead-letters is logged once, by kind.
    """

    encoder: Encoder
    delivery: Delivery[Batch[Event]]
    dead_letter: DeadLetterFile | None = None
    clock: Clock = SYSTEM_CLOCK

    @property
    def name(self) -> str:
        """The channel's name (the ``channel`` label): the delivery's name."""
        return self.delivery.name

    async def deliver(self, events: Sequence[Event]) -> int:
        """Send ``events``; how many reached the destination (the rest were dead-lettered)."""
        batches, rejected = self.encoder.encode(events)
        for event, error in rejected:
            self.delivery.failed(error, event=event.id)
            self._write((event,), self.delivery.scrub(error.message))
        if len(batches) == 1:  # no task to gather: two turns of the loop fewer (bench/events.py, kafka)
            return await self._send(batches[0])
        return sum(await asyncio.gather(*(self._send(batch) for batch in batches)))

    async def _send(self, batch: Batch[Event]) -> int:
        if isinstance(batch, ItemBatch):
            return await self._settle(batch)
        return len(batch.items) if await self.delivery.deliver(batch) else 0

    async def _settle(self, batch: ItemBatch) -> int:
        """Deliver ``batch``, resending the items worth it; how many of its events were delivered."""
        retry = self.delivery.retry
        tries = Tries(retry.attempts)
        batch = ItemBatch(batch.body, batch.items, batch.parts, tries=tries)
        delivered = 0
        while True:
            if not await self.delivery.deliver(batch):
                return delivered  # given up: the delivery dead-lettered batch.items
            resend: list[int] = []
            refused: list[int] = []
            for index, outcome in enumerate(batch.outcomes):
                if outcome is None:
                    delivered += 1
                else:
                    (resend if outcome.retryable else refused).append(index)
            self._refuse(batch, refused, "not delivered")
            if not resend:
                return delivered
            if tries.left <= 0:
                self._refuse(batch, resend, f"not delivered after {_attempts(tries.made)}")
                return delivered
            await self.clock.sleep(retry.delay(tries.made - 1))
            batch = batch.only(resend)

    def _refuse(self, batch: ItemBatch, indexes: Sequence[int], what: str) -> None:
        """Log the items at ``indexes`` as failed, once, and dead-letter each with its own reason."""
        if not indexes:
            return
        failures = [failure for i in indexes if (failure := batch.outcomes[i]) is not None]
        self.delivery.failed(
            f"{self.name}: {len(indexes)} event(s) {what}: {summarize(failures)}", events=len(indexes)
        )
        by_reason: dict[str, list[Event]] = {}
        for i in indexes:
            reason = self.delivery.scrub(f"{self.name}: {what}: {batch.outcomes[i]}")
            by_reason.setdefault(reason, []).append(batch.items[i])
        for reason, same in by_reason.items():  # one write (and fsync) per distinct reason
            self._write(same, reason)

    def _write(self, events: Sequence[Event], reason: str) -> None:
        if self.dead_letter is not None:
            self.dead_letter.append(events, reason)

    async def aclose(self) -> None:
        """Close the sender's client."""
        await self.delivery.aclose()

    def __repr__(self) -> str:
        return f"DeliveryChannel({self.name!r}, {self.encoder!r}, {self.delivery.sender!r})"


def _reason(error: BaseException) -> str:
    return error.message if isinstance(error, SharedConfigError) else f"{type(error).__name__}: {error}"


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the events part lends a channel factory: its name, time, logs, metrics and dead letters.

    ``logger`` is already bound to ``channel=<name>``; ``dead_letter`` is the channel's file (its
    ``dead_letter`` setting, or ``<events.dead_letter_dir>/<name>.jsonl``); ``batch_size`` is the
    dispatcher's (``events.batch_size``), the most a ``deliver`` call gets.
    """

    name: str
    clock: Clock
    logger: Logger
    metrics: MetricsRecorder
    dead_letter: DeadLetterFile
    batch_size: int

    def delivery(
        self,
        sender: Sender[Batch[Event]],
        settings: Any,
        *,
        redact: Sequence[str | SecretLike] = (),
    ) -> Delivery[Batch[Event]]:
        """A ``Delivery`` around ``sender`` from a network channel's settings.

        Reads ``retry``, ``circuit_breaker``, ``max_in_flight`` and ``in_flight_wait`` when ``settings``
        has them; a batch given up on goes to ``dead_letter``; ``redact`` values never reach a log line.
        """
        letters = self.dead_letter
        delivery: Delivery[Batch[Event]]

        def give_up(batch: Batch[Event], error: BaseException) -> None:
            letters.append(batch.items, delivery.scrub(_reason(error)))

        retry = getattr(settings, "retry", None)
        breaker = getattr(settings, "circuit_breaker", None)
        wait = getattr(settings, "in_flight_wait", None)
        delivery = Delivery(
            self.name,
            sender,
            retry=retry.policy() if retry is not None else None,
            breaker=breaker.config() if breaker is not None else None,
            max_in_flight=getattr(settings, "max_in_flight", 4),
            in_flight_wait=wait.total_seconds() if wait is not None else 60.0,
            on_give_up=give_up,
            metrics=self.metrics,  # the breaker's state; events_failed_total is the dispatcher's
            state=Series(CIRCUIT_BREAKER_STATE, {"name": self.name, "component": "events"}),
            logger=self.logger,
            clock=self.clock,
            redact=redact,
        )
        if breaker is not None:  # enabled: false / forced_open: true are states, not a window
            breaker.apply_state(delivery.breaker)
        return delivery

    def channel(
        self,
        sender: Sender[Batch[Event]],
        settings: Any,
        *,
        encoder: Encoder | None = None,
        redact: Sequence[str | SecretLike] = (),
    ) -> DeliveryChannel:
        """``DeliveryChannel(encoder, self.delivery(sender, settings), dead_letter, clock)``; whole
        batches of ``batch_size`` by default."""
        return DeliveryChannel(
            encoder or WholeBatches(self.batch_size),
            self.delivery(sender, settings, redact=redact),
            self.dead_letter,
            self.clock,
        )


ChannelFactory = Callable[[Any, ChannelContext], Channel]
"""Builds a channel from its settings (the entry point of group ``sharedconfig.channels``)."""


class UnknownChannel(ConfigError):
    """A channel ``type`` no installed package provides, or whose entry point fails to load (CONFIG_032)."""

    default_code = "CONFIG_032"


installed_channels = channel_entry_points
"""The entry points of group ``sharedconfig.channels``, by name: the one reading the settings validate
against (``monitoring.settings.channel_entry_points``)."""


def build_channel(settings: EventChannelSettings, ctx: ChannelContext, *, path: str = "") -> Channel:
    """The channel ``settings`` describe, from the entry point named by its ``type``.

    Raises ``UnknownChannel`` (``CONFIG_032``, at ``path``) when no installed package provides the type,
    its entry point fails to import (a missing client library names its extra) or returns something
    that is not a ``Channel``.
    """
    kind = settings.type
    where = Location("key", path) if path else None
    found = installed_channels().get(kind)
    if found is None:
        known = ", ".join(sorted(installed_channels())) or "none"
        raise UnknownChannel(
            f"no event channel of type {kind!r} is installed (installed: {known})",
            location=where,
            hint="Check the spelling, or install the package that provides the channel "
            f"(entry point group {ENTRY_POINT_GROUP}).",
        )
    try:
        factory: ChannelFactory = found.load()
    except ImportError as exc:
        raise UnknownChannel(
            f"the {kind!r} event channel cannot be imported: {exc}",
            location=where,
            hint=f"Install its dependencies, e.g. pip install 'sharedconfig[{kind}]'.",
        ) from None
    channel = factory(settings, ctx)
    if not isinstance(channel, Channel):
        raise UnknownChannel(
            f"the {kind!r} event channel's factory returned {type(channel).__name__}, not a Channel",
            location=where,
        )
    return channel
