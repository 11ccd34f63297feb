"""Silences as Alertmanager keeps them: matchers over a time range that mute the alerts they select.

A silence is ``pending`` before ``starts_at``, ``active`` until ``ends_at``, then ``expired``; only active
ones mute. ``Silences`` is the store: ``add`` validates (at least one matcher that does not match the
empty string, an end after the start) and, given the id of an existing silence, updates it in place
when Alertmanager would (same matchers; an active one keeps its start and does not end in the past; a
pending one does not start in the past) or else expires it and adds a new one, returning the new id.
``expire`` ends a silence now; expired silences are kept ``retention`` (5 days, as Alertmanager) after
their end, then dropped.

Persistence: with a ``path``, silences live in a small SQLite file (WAL, created mode 0600) and survive
a restart; several processes may share it (each re-reads when another wrote: ``PRAGMA data_version``).
Without one they live in memory. ``mutes`` answers from memory, so the dispatcher never waits on disk.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.errors import ConfigError, Location, ValidationError
from sharedconfig.monitoring.alerts.matchers import Matcher, MatchType, matches, parse_matchers
from sharedconfig.monitoring.alerts.promql.values import Labels

__all__ = [
    "DEFAULT_RETENTION",
    "InvalidSilence",
    "Silence",
    "SilenceNotFound",
    "SilenceState",
    "SilenceStoreError",
    "Silences",
]

DEFAULT_RETENTION: Final = timedelta(days=5)
"""How long an expired silence is kept (Alertmanager's ``--data.retention``, 120 h)."""

_SCHEMA_VERSION: Final = 1


class InvalidSilence(ValidationError, ValueError):
    """A silence that cannot be added: no matchers, only matchers that match everything, an end not after
    the start, or an update of an expired silence (``VALIDATION_008``)."""


class SilenceNotFound(ValidationError, KeyError):
    """No silence has this id (``VALIDATION_008``)."""

    def __str__(self) -> str:  # KeyError's str() quotes its argument; keep the error's one line
        return self.format()


class SilenceStoreError(ConfigError):
    """The silences' file cannot be opened, is not a silence store, or cannot be written (``CONFIG_001``)."""


class SilenceState(StrEnum):
    """Where a silence is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence: it mutes alerts that every matcher selects, from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    updated_at: datetime

    def state(self, at: datetime) -> SilenceState:
        """``pending`` before the start, ``active`` until the end, then ``expired``."""
        if at < self.starts_at:
            return SilenceState.PENDING
        if at < self.ends_at:
            return SilenceState.ACTIVE
        return SilenceState.EXPIRED

    def selects(self, labels: Labels) -> bool:
        """Whether every matcher selects ``labels`` (whatever the time)."""
        return matches(self.matchers, labels)

    def mutes(self, labels: Labels, at: datetime) -> bool:
        """Whether the silence is active at ``at`` and selects ``labels``."""
        return self.state(at) is SilenceState.ACTIVE and self.selects(labels)

    def to_json(self) -> dict[str, object]:
        """Alertmanager's API v2 form (``matchers`` with ``isRegex``/``isEqual``, ISO 8601 times)."""
        return {
            "id": self.id,
            "matchers": [
                {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                for m in self.matchers
            ],
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
            "createdBy": self.created_by,
            "comment": self.comment,
            "updatedAt": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Silence:
        """The inverse of ``to_json``."""
        matchers: list[Matcher] = []
        for m in data["matchers"]:  # type: ignore[attr-defined]  # written by to_json
            regex, equal = bool(m["isRegex"]), bool(m["isEqual"])
            kind = (
                (MatchType.REGEX if equal else MatchType.NOT_REGEX)
                if regex
                else (MatchType.EQUAL if equal else MatchType.NOT_EQUAL)
            )
            matchers.append(Matcher(str(m["name"]), kind, str(m["value"])))
        return cls(
            id=str(data["id"]),
            matchers=tuple(matchers),
            starts_at=datetime.fromisoformat(str(data["startsAt"])),
            ends_at=datetime.fromisoformat(str(data["endsAt"])),
            created_by=str(data["createdBy"]),
            comment=str(data["comment"]),
            updated_at=datetime.fromisoformat(str(data["updatedAt"])),
        )


def _invalid(message: str, hint: str | None = None, silence: str = "") -> InvalidSilence:
    return InvalidSilence(message, hint=hint, location=Location("silence", silence), component="alerts")


def _store_error(path: Path, message: str, hint: str) -> SilenceStoreError:
    return SilenceStoreError(message, hint=hint, location=Location("file", str(path)), component="alerts")


def _matchers(given: str | Iterable[Matcher | str]) -> tuple[Matcher, ...]:
    if isinstance(given, str):
        return tuple(parse_matchers(given))
    found: list[Matcher] = []
    for item in given:
        found.extend([item] if isinstance(item, Matcher) else parse_matchers(item))
    return tuple(found)


def _can_update(old: Silence, new: Silence, now: datetime) -> bool:
    """Alertmanager's ``canUpdate``: may ``new`` replace ``old`` in place, keeping its id?"""
    if old.matchers != new.matchers:
        return False
    state = old.state(now)
    if state is SilenceState.ACTIVE:
        return new.starts_at == old.starts_at and new.ends_at >= now
    if state is SilenceState.PENDING:
        return new.starts_at >= now
    return False


class Silences:
    """The silence store: in memory, and in a SQLite file at ``path`` when one is given.

    Thread-safe. Times come from ``clock.wall()``. Raises ``SilenceStoreError`` when the file cannot be
    used, ``InvalidSilence`` and ``SilenceNotFound`` for bad requests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {}
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None
        if self.path is not None:
            self._db = self._open(self.path)
            self._reload()

    # -- reading ----------------------------------------------------------------------------------------

    def get(self, silence_id: str) -> Silence:
        """The silence with this id; ``SilenceNotFound`` when there is none (or it was dropped)."""
        with self._lock:
            self._refresh()
            found = self._silences.get(silence_id)
        if found is None:
            raise SilenceNotFound(
                f"no silence has the id {silence_id!r}",
                hint="List the silences to find its id; expired ones are dropped after the retention.",
                location=Location("silence", silence_id),
                component="alerts",
            )
        return found

    def list(self, state: SilenceState | None = None) -> list[Silence]:
        """The silences (those in ``state`` only, when given), ordered by start, then id."""
        now = self._clock.wall()
        with self._lock:
            self._refresh()
            found = [s for s in self._silences.values() if state is None or s.state(now) is state]
        return sorted(found, key=lambda s: (s.starts_at, s.id))

    def mutes(self, labels: Labels, at: datetime | None = None) -> builtins.list[str]:
        """The ids of the silences active at ``at`` (now) that select ``labels``, sorted."""
        when = self._clock.wall() if at is None else at
        with self._lock:
            self._refresh()
            return sorted(s.id for s in self._silences.values() if s.mutes(labels, when))

    # -- writing ----------------------------------------------------------------------------------------

    def add(
        self,
        matchers: str | Iterable[Matcher | str],
        *,
        ends_at: datetime,
        starts_at: datetime | None = None,
        created_by: str = "",
        comment: str = "",
        silence_id: str | None = None,
    ) -> Silence:
        """Add a silence (``starts_at`` defaults to now; a start in the past becomes now) and return it.

        With the ``silence_id`` of an existing silence, update it: in place when Alertmanager would, else
        the old one is expired and a new one (a new id) returned. An expired silence cannot be updated."""
        now = self._clock.wall()
        start = now if starts_at is None or starts_at < now else starts_at
        if start.tzinfo is None or ends_at.tzinfo is None:
            raise _invalid("the silence's times have no time zone", "Give aware datetimes (UTC).")
        found = _matchers(matchers)
        if not found:
            raise _invalid("a silence needs at least one matcher", 'Add a matcher such as alertname="X".')
        if all(m.matches_empty for m in found):
            raise _invalid(
                "at least one matcher must not match the empty string (this silence would mute every alert)",
                'Add a matcher that selects something, such as alertname="X".',
            )
        if ends_at <= start:
            raise _invalid(
                f"the silence ends ({ends_at.isoformat()}) before it starts ({start.isoformat()})",
                "Give an end time after the start (and after now).",
            )
        new = Silence(str(uuid.uuid4()), found, start, ends_at, created_by, comment, now)
        with self._lock:
            self._refresh()
            if silence_id is not None:
                old = self._silences.get(silence_id)
                if old is None:
                    raise SilenceNotFound(
                        f"no silence has the id {silence_id!r}",
                        hint="Leave the id out to add a new silence.",
                        location=Location("silence", silence_id),
                        component="alerts",
                    )
                # an update may keep the requested start even when it lies in the past (an active
                # silence's start is not to change), so compare with what was asked, not with ``start``
                asked = replace(new, id=silence_id, starts_at=starts_at or old.starts_at)
                if old.state(now) is SilenceState.EXPIRED:
                    raise _invalid(
                        "an expired silence cannot be updated", "Add a new silence instead.", silence_id
                    )
                if _can_update(old, asked, now):
                    self._write([asked])
                    return asked
                self._write([self._ended(old, now), new])
                return new
            self._write([new])
            return new

    def expire(self, silence_id: str) -> Silence:
        """End the silence now (a pending one never starts) and return it; expiring an expired silence is an
        ``InvalidSilence``, an unknown id ``SilenceNotFound``."""
        now = self._clock.wall()
        old = self.get(silence_id)
        with self._lock:
            if old.state(now) is SilenceState.EXPIRED:
                raise _invalid("the silence has already expired", silence=silence_id)
            ended = self._ended(old, now)
            self._write([ended])
        return ended

    def collect(self) -> int:
        """Drop the silences that expired more than ``retention`` ago; return how many went (``add`` and
        ``expire`` do it too, so a store that is written to never grows without bound)."""
        with self._lock:
            self._refresh()
            return self._collect(self._clock.wall())

    def _collect(self, now: datetime) -> int:
        cutoff = now - self.retention
        gone = [s.id for s in self._silences.values() if s.ends_at < cutoff]
        if gone:
            self._delete(gone)
        return len(gone)

    def close(self) -> None:
        """Close the file (memory stays readable); idempotent."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @staticmethod
    def _ended(silence: Silence, now: datetime) -> Silence:
        if silence.state(now) is SilenceState.PENDING:
            return replace(silence, starts_at=now, ends_at=now, updated_at=now)
        return replace(silence, ends_at=now, updated_at=now)

    # -- the file ---------------------------------------------------------------------------------------

    def _open(self, path: Path) -> sqlite3.Connection:
        try:
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise _store_error(
                path,
                f"cannot open the silences' file: {exc}",
                "Check that the directory exists and is writable.",
            ) from None
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("CREATE TABLE silences (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            elif tables != {"silences"} or db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                raise _store_error(
                    path,
                    "the file is not a silence store of this version",
                    "Point the silences at a file of their own; a newer sharedconfig may have written it.",
                )
            else:
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            db.close()
            raise _store_error(
                path, f"the silences' file is not a usable SQLite database: {exc}", "Move the file away."
            ) from None
        except SilenceStoreError:
            db.close()
            raise
        return db

    def _refresh(self) -> None:
        """Re-read the file when another connection wrote to it (called under the lock)."""
        if self._db is None:
            return
        try:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._reload()
        except sqlite3.Error:
            pass  # the file cannot be read now (locked past the timeout, a disk error): answer from memory

    def _reload(self) -> None:
        assert self._db is not None
        self._version = self._db.execute("PRAGMA data_version").fetchone()[0]
        rows = self._db.execute("SELECT body FROM silences").fetchall()
        self._silences = {s.id: s for s in (Silence.from_json(json.loads(body)) for (body,) in rows)}

    def _write(self, silences: Sequence[Silence]) -> None:
        """Store ``silences`` (under the lock): the file first, so memory never holds what it lost."""
        if self._db is not None:
            try:
                with contextlib.closing(self._db.cursor()) as cursor:
                    cursor.execute("BEGIN IMMEDIATE")
                    try:
                        cursor.executemany(
                            "INSERT OR REPLACE INTO silences (id, body) VALUES (?, ?)",
                            [(s.id, json.dumps(s.to_json())) for s in silences],
                        )
                        cursor.execute("COMMIT")
                    except BaseException:
                        cursor.execute("ROLLBACK")
                        raise
            except sqlite3.Error as exc:
                assert self.path is not None
                raise _store_error(
                    self.path,
                    f"cannot write the silences' file: {exc}",
                    "Check the disk and the file's permissions.",
                ) from None
            self._version = self._db.execute("PRAGMA data_version").fetchone()[0]
        for s in silences:
            self._silences[s.id] = s
        self._collect(self._clock.wall())

    def _delete(self, ids: Sequence[str]) -> None:
        if self._db is not None:
            try:
                self._db.executemany("DELETE FROM silences WHERE id = ?", [(i,) for i in ids])
            except sqlite3.Error as exc:
                assert self.path is not None
                raise _store_error(
                    self.path,
                    f"cannot write the silences' file: {exc}",
                    "Check the disk and the file's permissions.",
                ) from None
            self._version = self._db.execute("PRAGMA data_version").fetchone()[0]
        for i in ids:
            self._silences.pop(i, None)
