"""The channel seam: what the dispatcher delivers to, and how a channel is built from its settings.

A ``Channel`` has a name and ``await deliver(events) -> int``: it sends a batch, never raises for delivery
problems, and returns how many events reached the destination; the others were given up on (retries
spent, an answer not worth retrying, the breaker open) and written to its dead-letter file. The dispatcher
times every call and counts the result (``events_delivered_total``/``events_failed_total``/
``event_delivery_seconds{channel}``), so a channel records none of them itself.

A channel that sends over a network is usually an encoder (events to payloads) and a sender
(``async send(payload)``) composed by ``sharedconfig.delivery.Delivery``: ``DeliveryChannel``, built by
``ChannelContext.delivery`` from the channel's ``retry``/``circuit_breaker``/``max_in_flight`` settings.

Channels are found by the ``type`` of their settings through the entry point group
``sharedconfig.channels`` (this package registers its own six there): the entry point is a
``ChannelFactory``, called with the channel's settings (for another package's channel, a
``PluginChannelSettings`` carrying its extra keys) and a ``ChannelContext``. Importing a channel's module
(and its client library) happens only when a configuration names it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from sharedconfig.clock import Clock
from sharedconfig.delivery import Delivery, Sender, Series
from sharedconfig.errors import ConfigError, Location, SharedConfigError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.metrics.push import Batch
from sharedconfig.monitoring.names import CIRCUIT_BREAKER_STATE

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
    "UnknownChannel",
    "WholeBatches",
    "build_channel",
    "installed_channels",
]

ENTRY_POINT_GROUP: Final = "sharedconfig.channels"


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
    ) -> tuple[list[Batch[Event]], list[tuple[Event, SharedConfigError]]]:
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


@dataclass(eq=False)
class DeliveryChannel:
    """An encoder and a delivery (which owns the sender): ``await deliver(events)`` never raises.

    The batches of one call go out concurrently, at most the delivery's ``max_in_flight`` at once (the
    others wait for a slot). A batch the delivery gives up on (retries spent, a final answer, the breaker
    open) goes to the dead-letter file through the delivery's ``on_give_up``; an event that cannot be
    encoded is counted as a failure and dead-lettered too (it is lost only if that write fails, which the
    dead-letter file counts).
    """

    encoder: Encoder
    delivery: Delivery[Batch[Event]]
    dead_letter: DeadLetterFile | None = None

    @property
    def name(self) -> str:
        """The channel's name (the ``channel`` label): the delivery's name."""
        return self.delivery.name

    async def deliver(self, events: Sequence[Event]) -> int:
        """Send ``events``; how many reached the destination (the rest were dead-lettered)."""
        batches, rejected = self.encoder.encode(events)
        for event, error in rejected:
            self.delivery.failed(error, event=event.id)
            if self.dead_letter is not None:
                self.dead_letter.append((event,), self.delivery.scrub(error.message))
        outcomes = await asyncio.gather(*(self.delivery.deliver(batch) for batch in batches))
        return sum(len(batch.items) for batch, ok in zip(batches, outcomes, strict=True) if ok)

    async def aclose(self) -> None:
        """Close the sender's client."""
        await self.delivery.aclose()

    def __repr__(self) -> str:
        return f"DeliveryChannel({self.name!r}, {self.encoder!r})"


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
        """``DeliveryChannel(encoder, self.delivery(sender, settings), dead_letter)``; batches of
        ``batch_size`` by default."""
        return DeliveryChannel(
            encoder or WholeBatches(self.batch_size),
            self.delivery(sender, settings, redact=redact),
            self.dead_letter,
        )


ChannelFactory = Callable[[Any, ChannelContext], Channel]
"""Builds a channel from its settings (the entry point of group ``sharedconfig.channels``)."""


class UnknownChannel(ConfigError):
    """A channel ``type`` no installed package provides, or whose entry point fails to load (CONFIG_032)."""

    default_code = "CONFIG_032"


@cache
def installed_channels() -> dict[str, EntryPoint]:
    """The entry points of group ``sharedconfig.channels``, by name (read once per process)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


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
