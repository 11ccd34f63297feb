"""An in-memory ``Store`` for unit tests: the seam's semantics (snapshot, compare-and-swap on the
revision, a stream of revisions), and a switch that makes it unreachable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from sharedconfig.config.stores import Entry, Snapshot, StoreConflict, StoreUnavailable, StoreURL


class Backend:
    """What the fake stores share: entries, the revision, who is watching, and whether it is up."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.revision = 0
        self.up = True
        self.opened = 0
        self.waiters: list[asyncio.Event] = []

    def notify(self) -> None:
        """Wake every watcher (on the loop the test runs)."""
        for event in self.waiters:
            event.set()

    def put(self, texts: Mapping[str, str]) -> int:
        """Write as another operator would, unconditionally."""
        self.revision += 1
        self.entries = {name: Entry(text, self.revision) for name, text in texts.items()}
        self.notify()
        return self.revision

    def set_up(self, up: bool) -> None:
        """Bring the store down (watchers see the connection drop) or back."""
        self.up = up
        self.notify()


class MemoryStore:
    """One connection to a ``Backend``."""

    def __init__(self, url: StoreURL, backend: Backend) -> None:
        self.url = url
        self.backend = backend
        backend.opened += 1

    def _check(self) -> None:
        if not self.backend.up:
            raise StoreUnavailable("the store is unreachable: connection refused", location=self.url.location)

    async def read(self) -> Snapshot:
        self._check()
        return Snapshot(self.backend.revision, dict(self.backend.entries))

    async def save(self, entries: Mapping[str, str], base: Snapshot) -> int:
        self._check()
        if self.backend.revision != base.revision:
            raise StoreConflict(
                f"lost to revision {self.backend.revision}",
                expected=base.revision,
                revision=self.backend.revision,
            )
        return self.backend.put(entries)

    async def watch(self, since: int) -> AsyncIterator[int]:
        seen = since
        while True:
            self._check()
            if self.backend.revision != seen:
                seen = self.backend.revision
                yield seen
                continue
            event = asyncio.Event()
            self.backend.waiters.append(event)
            try:
                await event.wait()
            finally:
                self.backend.waiters.remove(event)

    async def aclose(self) -> None:
        pass
