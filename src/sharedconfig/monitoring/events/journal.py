"""An append-only on-disk journal of opaque records: where events spill when the buffer is full or at stop.

A record is ``length (4 bytes, big-endian) | crc32 (4 bytes) | payload`` in segment files that start with
the magic ``SCJ1``. Length-prefixed rather than JSON lines because the payload is whatever the caller's
``serialize`` returns (bytes with newlines, a binary encoding) and a torn or corrupt tail is found by the
length and checksum alone, with no escaping and no base64. Segments rotate at ``segment_bytes``; the
journal as a whole holds at most ``max_bytes``. A ``cursor`` file remembers how many records were
acknowledged (``ack(n)`` after delivery), so a new process with the same directory resends exactly what
was not: at-least-once, since a crash between sending and ``ack`` resends the batch.

Failures never raise: ``append`` says how many records it wrote and why it stopped (``full`` at the size
cap, ``error`` for ENOSPC, EACCES, a read-only disk...); each failure streak is reported once through
``on_error`` and counted in ``errors``. A torn last record found when opening (a crash mid-write) is
truncated and counted in ``torn``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from sharedconfig.clock import SYSTEM_CLOCK, Clock

__all__ = ["AppendResult", "FsyncPolicy", "Journal", "Opener"]

MAGIC = b"SCJ1"
_HEADER = struct.Struct(">II")
_MAX_RECORD = 64 * 1024 * 1024
"""A length above this is corruption, not a record (an event is kilobytes)."""
_SUFFIX = ".seg"

Opener = Callable[[Path, str], BinaryIO]
"""How the journal opens files (``path``, binary mode): the seam tests use to simulate a full disk."""


def _open(path: Path, mode: str) -> BinaryIO:
    return cast("BinaryIO", open(path, mode))  # segment files stay open across calls


class FsyncPolicy(enum.StrEnum):
    """When appended records are forced to disk: after every batch, at most every interval, or never."""

    BATCH = "batch"
    INTERVAL = "interval"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What ``append`` did: ``written`` records, and why it stopped early (``"full"``, ``"error"``)."""

    written: int
    failure: str | None = None


class Journal:
    """Segment files of checksummed records, a persisted read cursor, and recovery of a torn tail.

    Thread-safe: one lock guards the files; the caller decides which thread does the I/O (the event
    buffer does it on the dispatcher's side, never in ``publish``'s caller).
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 8 * 1024 * 1024,
        max_bytes: int = 256 * 1024 * 1024,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
        opener: Opener = _open,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        if segment_bytes <= len(MAGIC) or max_bytes < segment_bytes:
            raise ValueError("need len(MAGIC) < segment_bytes <= max_bytes")
        self.directory = Path(directory)
        self._segment_bytes = segment_bytes
        self._max_bytes = max_bytes
        self._fsync = fsync
        self._fsync_interval = fsync_interval
        self._clock = clock
        self._opener = opener
        self._on_error = on_error
        self._lock = threading.Lock()
        self.errors = 0
        """Failed file operations (each failure streak is reported once through ``on_error``)."""
        self.torn = 0
        """Torn or corrupt records truncated when the journal was opened."""
        self._failing = False
        self._opened = False
        self._writer: BinaryIO | None = None
        self._write_seg = 0
        self._write_size = 0
        self._sizes: dict[int, int] = {}
        self._ack = (0, len(MAGIC))  # (segment, offset) of the first unacknowledged record
        self._read = self._ack
        self._reader: tuple[int, BinaryIO] | None = None
        self._unread = 0
        self._read_ends: deque[tuple[int, int]] = deque()  # end of every record read but not acked
        self._last_sync = clock.now()
        self._dirty = False
        with self._lock:
            self._ensure_open()

    # ------------------------------------------------------------------ public

    @property
    def unread(self) -> int:
        """Records on disk not yet returned by ``read`` (a plain read of an int: safe without the lock)."""
        return self._unread

    @property
    def unacked(self) -> int:
        """Records read but not yet acknowledged."""
        return len(self._read_ends)

    @property
    def size(self) -> int:
        """Bytes the journal's segments take on disk."""
        return sum(self._sizes.values())

    def append(self, payloads: Sequence[bytes]) -> AppendResult:
        """Write ``payloads`` in order; stop at the size cap or the first failure (never raises)."""
        with self._lock:
            if not self._ensure_open():
                return AppendResult(0, "error")
            written = 0
            try:
                for payload in payloads:
                    record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
                    rotate = self._write_size + len(record) > self._segment_bytes
                    rotate = rotate and self._write_size > len(MAGIC)
                    if self.size + len(record) + (len(MAGIC) if rotate else 0) > self._max_bytes:
                        self._maybe_sync(force=False)
                        return AppendResult(written, "full")
                    if rotate:
                        self._rotate()
                    assert self._writer is not None
                    try:
                        self._writer.write(record)
                        self._writer.flush()
                    except OSError:
                        self._truncate_writer()
                        raise
                    self._write_size += len(record)
                    self._sizes[self._write_seg] = self._write_size
                    self._unread += 1
                    written += 1
                    self._dirty = True
                self._maybe_sync(force=False)
            except OSError as exc:
                self._fail(exc)
                return AppendResult(written, "error")
            self._failing = False
            return AppendResult(written)

    def read(self, n: int) -> list[bytes]:
        """Up to ``n`` unread records, oldest first; they stay on disk until ``ack``."""
        out: list[bytes] = []
        with self._lock:
            try:
                while len(out) < n and self._unread:
                    seg, offset = self._read
                    if offset >= self._sizes.get(seg, 0):
                        self._read = (self._next_seg(seg), len(MAGIC))
                        continue
                    handle = self._reader_for(seg)
                    handle.seek(offset)
                    length, crc = _HEADER.unpack(handle.read(_HEADER.size))
                    payload = handle.read(length)
                    if zlib.crc32(payload) != crc:
                        raise OSError(f"journal record at {seg}:{offset} changed on disk")
                    end = offset + _HEADER.size + length
                    self._read = (seg, end)
                    self._read_ends.append((seg, end))
                    self._unread -= 1
                    out.append(payload)
            except OSError as exc:
                self._fail(exc)
        return out

    def ack(self, n: int) -> None:
        """Acknowledge the oldest ``n`` records read: a restart no longer resends them."""
        with self._lock:
            n = min(n, len(self._read_ends))
            if n <= 0:
                return
            for _ in range(n):
                self._ack = self._read_ends.popleft()
            try:
                self._write_cursor()
                self._drop_acked_segments()
            except OSError as exc:  # the records stay un-acked on disk: a restart resends them
                self._fail(exc)

    def rewind(self) -> None:
        """Forget what was read but not acknowledged: the next ``read`` returns it again."""
        with self._lock:
            self._unread += len(self._read_ends)
            self._read_ends.clear()
            self._read = self._ack

    def sync(self) -> None:
        """Force written records and the cursor to disk now, whatever the fsync policy."""
        with self._lock:
            try:
                self._maybe_sync(force=True)
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        """Sync and close the files (the journal reopens them if used again)."""
        with self._lock:
            try:
                if self._fsync is not FsyncPolicy.NEVER:
                    self._maybe_sync(force=True)
            except OSError as exc:
                self._fail(exc)
            self._close_files()
            self._opened = False

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals (lock held)

    def _fail(self, exc: OSError) -> None:
        self.errors += 1
        if self._failing:
            return
        self._failing = True
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a reporting problem must not become a journal problem
                self._on_error(exc)

    def _ensure_open(self) -> bool:
        if self._opened:
            return True
        try:
            self._close_files()
            self._recover()
        except OSError as exc:
            self._close_files()
            self._fail(exc)
            return False
        self._opened = True
        return True

    def _close_files(self) -> None:
        for handle in (self._writer, self._reader[1] if self._reader else None):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self._writer = None
        self._reader = None

    def _path(self, seg: int) -> Path:
        return self.directory / f"{seg:020d}{_SUFFIX}"

    def _recover(self) -> None:
        """Read the cursor, count the unread records, truncate a torn record, open the last segment."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cursor = self._load_cursor()
        segs = sorted(int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit())
        self._sizes = {}
        unread = 0
        ack = cursor
        for seg in segs:
            if seg < cursor[0]:  # fully acknowledged, left behind by a crash before its deletion
                self._path(seg).unlink(missing_ok=True)
                continue
            start = cursor[1] if seg == cursor[0] else len(MAGIC)
            count, size = self._scan(seg, start)
            if seg == cursor[0] and cursor[1] > size:  # the segment lost its tail: resume at its end
                cursor = ack = (seg, size)
            unread += count
            self._sizes[seg] = size
        if not self._sizes:
            seg = max(cursor[0], 1)
            self._create(seg)
            ack = (seg, len(MAGIC))
        elif cursor[0] not in self._sizes:
            ack = (min(self._sizes), len(MAGIC))
        self._ack = self._read = ack
        self._read_ends.clear()
        self._unread = unread
        self._write_seg = max(self._sizes)
        self._write_size = self._sizes[self._write_seg]
        self._writer = self._opener(self._path(self._write_seg), "ab")

    def _load_cursor(self) -> tuple[int, int]:
        path = self.directory / "cursor"
        try:
            with self._opener(path, "rb") as handle:
                data = json.loads(handle.read())
            return int(data["segment"]), int(data["offset"])
        except FileNotFoundError:
            return (0, len(MAGIC))
        except (ValueError, KeyError, TypeError):  # a torn cursor: resend from the start (at-least-once)
            self.torn += 1
            return (0, len(MAGIC))

    def _scan(self, seg: int, start: int) -> tuple[int, int]:
        """Count the valid records of ``seg`` from ``start``, cut the first torn one: (count, size)."""
        path = self._path(seg)
        with self._opener(path, "r+b") as handle:
            if handle.read(len(MAGIC)) != MAGIC:  # created but never written (a crash right after)
                handle.seek(0)
                handle.truncate()
                handle.write(MAGIC)
                return 0, len(MAGIC)
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            offset, count = max(start, len(MAGIC)), 0
            handle.seek(offset)
            while offset < size:
                header = handle.read(_HEADER.size)
                if len(header) == _HEADER.size:
                    length, crc = _HEADER.unpack(header)
                    if length <= _MAX_RECORD:
                        payload = handle.read(length)
                        if len(payload) == length and zlib.crc32(payload) == crc:
                            offset += _HEADER.size + length
                            count += 1
                            continue
                self.torn += 1
                handle.seek(offset)
                handle.truncate()
                size = offset
                break
            return count, size

    def _create(self, seg: int) -> None:
        with self._opener(self._path(seg), "wb") as handle:
            handle.write(MAGIC)
        self._sizes[seg] = len(MAGIC)

    def _rotate(self) -> None:
        self._maybe_sync(force=self._fsync is not FsyncPolicy.NEVER)
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        seg = self._write_seg + 1
        self._create(seg)
        self._write_seg, self._write_size = seg, len(MAGIC)
        self._writer = self._opener(self._path(seg), "ab")

    def _truncate_writer(self) -> None:
        """Cut a half-written record so the segment ends on a record boundary again."""
        with contextlib.suppress(OSError):
            assert self._writer is not None
            self._writer.truncate(self._write_size)

    def _next_seg(self, seg: int) -> int:
        return min(s for s in self._sizes if s > seg)

    def _reader_for(self, seg: int) -> BinaryIO:
        if self._reader is None or self._reader[0] != seg:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (seg, self._opener(self._path(seg), "rb"))
        return self._reader[1]

    def _maybe_sync(self, *, force: bool) -> None:
        if not self._dirty or self._writer is None:
            return
        if not force:
            if self._fsync is FsyncPolicy.NEVER:
                return
            due = self._last_sync + self._fsync_interval
            if self._fsync is FsyncPolicy.INTERVAL and self._clock.now() < due:
                return
        os.fsync(self._writer.fileno())
        self._last_sync = self._clock.now()
        self._dirty = False

    def _write_cursor(self) -> None:
        path = self.directory / "cursor"
        tmp = path.with_suffix(".tmp")
        with self._opener(tmp, "wb") as handle:
            handle.write(json.dumps({"segment": self._ack[0], "offset": self._ack[1]}).encode())
            handle.flush()
            if self._fsync is not FsyncPolicy.NEVER:
                os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _drop_acked_segments(self) -> None:
        for seg in sorted(self._sizes):
            if seg >= self._ack[0] or seg == self._write_seg:
                break
            if self._reader is not None and self._reader[0] == seg:
                self._reader[1].close()
                self._reader = None
            self._path(seg).unlink(missing_ok=True)
            del self._sizes[seg]
