"""The store seam: what etcd and Redis both give (a snapshot with a revision, a compare-and-swap save, a
stream of revisions), and the errors a store raises.

A store holds *entries* under its prefix: ``base.yaml`` (a YAML, JSON or TOML document, by its suffix) or
``monitoring/sample_rate`` (one leaf, a YAML value). Entries are merged in name order.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sharedconfig.config.stores.url import StoreURL
from sharedconfig.errors import ConfigError

__all__ = ["Entry", "Snapshot", "Store", "StoreConflict", "StoreUnavailable", "blocking"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry's text as stored, and the revision that last wrote it (etcd's ``mod_revision``; in Redis,
    which keeps one counter per configuration, the snapshot's revision)."""

    text: str
    revision: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every entry under a prefix at one revision (0: nothing was ever written), in name order."""

    revision: int
    entries: Mapping[str, Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", dict(sorted(self.entries.items())))

    @property
    def texts(self) -> dict[str, str]:
        """Entry name -> text."""
        return {name: entry.text for name, entry in self.entries.items()}

    @property
    def fingerprint(self) -> str:
        """A digest of the entries' names and texts: equal when the content is, whatever the revisions."""
        digest = hashlib.sha256()
        for name, entry in self.entries.items():
            for part in (name, entry.text):
                data = part.encode("utf-8", "surrogatepass")
                digest.update(len(data).to_bytes(8, "big") + data)
        return digest.hexdigest()


class StoreUnavailable(ConfigError):
    """The store cannot be reached, or it dropped the connection (CONFIG_040); names the URL, never its
    credentials."""

    default_code = "CONFIG_040"


class StoreConflict(ConfigError):
    """A compare-and-swap lost (CONFIG_042): the store moved from ``expected`` to ``revision`` after it was
    read."""

    default_code = "CONFIG_042"

    def __init__(self, message: str, *, expected: int, revision: int, **kwargs: Any) -> None:
        self.expected = expected
        self.revision = revision
        super().__init__(message, **kwargs)


class Store(Protocol):
    """A configuration store. One instance is one connection, used from one event loop; ``aclose`` it."""

    url: StoreURL

    async def read(self) -> Snapshot:
        """Every entry under the prefix; raises ``StoreUnavailable``."""
        ...

    async def save(self, entries: Mapping[str, str], base: Snapshot) -> int:
        """Make ``entries`` the whole content under the prefix, if it is still ``base``; returns the new
        revision. Raises ``StoreConflict`` (naming the revision that won) when anything under the prefix
        changed since ``base`` was read, ``StoreUnavailable`` when the store cannot be reached."""
        ...

    def watch(self, since: int) -> AsyncIterator[int]:
        """Yield a revision each time something under the prefix changes after ``since``; raises
        ``StoreUnavailable`` when the connection is lost (never ends otherwise)."""
        ...

    async def aclose(self) -> None:
        """Close the connection."""
        ...


def blocking(call: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``call()`` to its end from synchronous code and return its result.

    In a thread without an event loop that is ``asyncio.run``; inside a running loop (a reload called
    from the loop's own thread), a thread of its own runs it, so the running loop is never re-entered.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(call))
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(_awaited(call)))
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=run, name="sharedconfig-store", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()
