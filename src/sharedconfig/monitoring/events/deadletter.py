"""The dead-letter file: events a channel gave up on, one structured CloudEvent per line (JSON lines).

``DeadLetterFile.append`` never raises into the channel (a failure is reported once and counted);
``read`` gives the events back, in order, for ``sharedconfig events replay FILE``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.errors import DeliveryError, Location, SharedConfigError
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.events.encoding import from_structured, to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.redaction import mask_userinfo
from sharedconfig.stdlog import StdlibLogger

__all__ = ["REASON_ATTRIBUTE", "TIME_ATTRIBUTE", "DeadLetterError", "DeadLetterFile", "read"]

REASON_ATTRIBUTE: Final = "deadletterreason"
"""The extension attribute a dead-letter line adds: why the channel gave up (secrets scrubbed)."""

TIME_ATTRIBUTE: Final = "deadlettertime"
"""The extension attribute a dead-letter line adds: when it was written (RFC 3339, UTC)."""

_ADDED: Final = (REASON_ATTRIBUTE, TIME_ATTRIBUTE)
_REASON_LIMIT: Final = 500  # characters of a reason kept on each line


class DeadLetterError(DeliveryError):
    """A dead-letter file that cannot be written or read (``DELIVERY_004``)."""

    default_code = "DELIVERY_004"


def _describe(error: BaseException) -> str:
    if isinstance(error, SharedConfigError):
        return error.message
    return f"{type(error).__name__}: {error}"


class DeadLetterFile:
    """Appends events a channel gave up on to ``path``, one structured CloudEvent per line.

    Each line is the event as the channel would have sent it (redacted), plus two extension attributes:
    ``deadletterreason`` (why, at most 500 characters, URL passwords masked) and ``deadlettertime``.
    ``read`` takes them off again. A line is written whole with one ``write`` (then flushed, and
    fsynced when ``fsync``), under a lock, so concurrent appends never interleave.

    ``append`` never raises: an event that cannot be encoded, or a file that cannot be written (a full
    disk, no permission), is logged at error level the first time only and counted in ``lost`` (events)
    and ``failures`` (calls); ``written`` counts the events on disk.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        logger: Logger | None = None,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._clock = clock
        self._logger = logger or StdlibLogger("sharedconfig.monitoring.events").bind(dead_letter=str(path))
        self._lock = threading.Lock()
        self._reported = False
        self.written = 0
        self.lost = 0
        self.failures = 0

    def append(self, events: Iterable[Event], reason: str) -> int:
        """Write ``events`` with ``reason``; the number written (never raises)."""
        reason = mask_userinfo(reason)[:_REASON_LIMIT]
        stamp = self._clock.wall().isoformat().replace("+00:00", "Z")
        lines: list[bytes] = []
        unencodable = 0
        for event in events:
            extensions = {**event.extensions, REASON_ATTRIBUTE: reason, TIME_ATTRIBUTE: stamp}
            try:
                lines.append(to_structured(replace(event, extensions=extensions)) + b"\n")
            except Exception as exc:  # data that is not JSON: counted, the others are still written
                unencodable += 1
                self._failed(exc, 1)
        if not lines:
            return 0
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as file:
                    file.write(b"".join(lines))
                    file.flush()
                    if self.fsync:
                        os.fsync(file.fileno())
                self.written += len(lines)
        except Exception as exc:  # a full disk or a bad path must not break the channel
            self._failed(exc, len(lines))
            return 0
        return len(lines)

    def _failed(self, error: BaseException, lost: int) -> None:
        with self._lock:
            self.lost += lost
            self.failures += 1
            first, self._reported = not self._reported, True
        if first:
            self._logger.error(
                "could not write to the dead-letter file; events are lost (reported once)",
                error=mask_userinfo(_describe(error)),
                events=lost,
            )

    def __repr__(self) -> str:
        return f"DeadLetterFile({str(self.path)!r}, written={self.written}, lost={self.lost})"


def read(path: str | os.PathLike[str]) -> Iterator[Event]:
    """The events of a dead-letter file, in order, without the attributes ``DeadLetterFile`` added.

    Blank lines are skipped, and so is a last line without its newline that does not decode (a write
    cut short by a crash). Any other bad line raises ``UndecodableEvent`` (``VALIDATION_052``) naming
    ``file:line``; a file that cannot be opened raises ``DeadLetterError`` (``DELIVERY_004``).
    """
    name = os.fspath(path)
    try:
        file = open(name, "rb")  # noqa: SIM115 -- closed by the with below; opened first to raise coded
    except OSError as exc:
        raise DeadLetterError(
            f"cannot read dead-letter file {name}: {type(exc).__name__}: {exc.strerror or exc}",
            retryable=False,
            location=Location("file", name),
            hint="Give the path of a dead-letter file a channel wrote (its dead_letter setting).",
            component="events",
        ) from None
    with file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            location = Location("file", name, line=number)
            try:
                event = from_structured(line, location=location)
            except SharedConfigError:
                if not line.endswith(b"\n") and not file.read(1):
                    return  # a torn last line: its events were never fully written
                raise
            if any(key in event.extensions for key in _ADDED):
                kept = {k: v for k, v in event.extensions.items() if k not in _ADDED}
                event = replace(event, extensions=kept)
            yield event
