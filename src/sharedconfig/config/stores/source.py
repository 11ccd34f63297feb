"""``StoreSource``: a store as a configuration source, read at every load and watched for changes.

``read`` layers the store's snapshot into a load (and saves it to the local cache when the URL names
one); when the store cannot be reached it loads the cache instead, with a ``CONFIG_043`` warning, or
reports ``CONFIG_040`` naming the URL. ``changes`` is the ``WatchedSource`` side: a store lost while
running yields ``lost``, reconnects with backoff on the given clock, then yields ``restored`` (and
``changed`` when the content moved meanwhile).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sharedconfig.config.issues import Issue, IssueSeverity
from sharedconfig.config.sources import SourceChange
from sharedconfig.config.stores.base import Snapshot, Store, StoreUnavailable, blocking
from sharedconfig.config.stores.cache import read_cache, write_cache
from sharedconfig.config.stores.layers import snapshot_layers
from sharedconfig.config.stores.url import StoreURL, parse_store_url
from sharedconfig.config.tree import Layer, ReadContext
from sharedconfig.delivery import Jitter, RetryPolicy
from sharedconfig.errors import ConfigError

if TYPE_CHECKING:
    from sharedconfig.clock import Clock

__all__ = ["RECONNECT", "StoreSource", "open_store", "read_snapshot"]

RECONNECT = RetryPolicy(max_retries=0, initial_delay=0.2, multiplier=2.0, max_delay=10.0, jitter=Jitter.FULL)
"""Waits between reconnection attempts to a lost store: 0.2 s doubling to 10 s, full jitter (so the
services sharing a store do not come back in step). ``max_retries`` is unused: a lost store is retried
for as long as the source is watched."""


_LAST_READ: dict[str, str] = {}
"""Per store name, the fingerprint of the snapshot this process last loaded (from the store or its cache):
what ``changes()`` compares its first read with, since a load's sources are built afresh for each load
and a change pushed between the load and the watch must still be reported."""


def open_store(url: str | StoreURL) -> Store:
    """A store for ``url`` (a string is parsed: CONFIG_041 when invalid); the client library is imported
    here, so a missing extra is CONFIG_045 naming it."""
    parsed = parse_store_url(url) if isinstance(url, str) else url
    if parsed.scheme == "etcd":
        from sharedconfig.config.stores.etcd import EtcdStore

        return EtcdStore(parsed)
    from sharedconfig.config.stores.redis import RedisStore

    return RedisStore(parsed)


async def read_snapshot(opener: Callable[[StoreURL], Store], url: StoreURL) -> Snapshot:
    """Open a store, read one snapshot, close it."""
    store = opener(url)
    try:
        return await store.read()
    finally:
        await store.aclose()


@dataclass(frozen=True, slots=True)
class StoreSource:
    """A store's configuration as one layer per entry, its values located at the entry and revision.

    ``opener`` makes the ``Store`` for the URL (``open_store``; tests give a fake); ``reconnect`` is the
    backoff after the store is lost.
    """

    url: StoreURL
    opener: Callable[[StoreURL], Store] = field(default=open_store, compare=False)
    reconnect: RetryPolicy = field(default=RECONNECT, compare=False)

    @classmethod
    def parse(cls, url: str, **kwargs: object) -> StoreSource:
        """A source for a URL string; ``ConfigError`` (CONFIG_041) when it is not a store URL."""
        return cls(parse_store_url(url), **kwargs)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """The URL without credentials."""
        return self.url.name

    def read(self, ctx: ReadContext) -> list[Layer]:
        """The snapshot's layers; the cache's while the store is unreachable; else a CONFIG_040 issue."""
        try:
            snapshot = blocking(lambda: read_snapshot(self.opener, self.url))
        except StoreUnavailable as exc:
            return self._from_cache(exc, ctx)
        except ConfigError as exc:  # a client library that is not installed
            return [self._problem(exc)]
        _LAST_READ[self.name] = snapshot.fingerprint
        layers = snapshot_layers(self.url, snapshot, ctx)
        if self.url.cache:
            try:
                write_cache(self.url.cache, self.url.name, snapshot)
            except ConfigError as exc:
                layers.append(self._problem(exc, severity="warning"))
        return layers

    def _problem(self, exc: ConfigError, *, severity: IssueSeverity = "error", message: str = "") -> Layer:
        layer = Layer("store", self.url.name)
        layer.issues.append(
            Issue(
                exc.code,
                "",
                message or exc.message,
                severity=severity,
                hint=exc.hint,
                location=exc.location or self.url.location,
            )
        )
        return layer

    def _from_cache(self, unavailable: StoreUnavailable, ctx: ReadContext) -> list[Layer]:
        if not self.url.cache:
            return [self._problem(unavailable)]
        try:
            snapshot = read_cache(self.url.cache, self.url.name)
        except ConfigError as exc:
            return [
                self._problem(unavailable),
                self._problem(exc, message=f"{exc.message}, so there is no snapshot to start from"),
            ]
        _LAST_READ[self.name] = snapshot.fingerprint
        warning = ConfigError(
            f"{unavailable.message}; loaded revision {snapshot.revision} from the cache {self.url.cache}",
            code="CONFIG_043",
            location=self.url.location,
        )
        return [*snapshot_layers(self.url, snapshot, ctx), self._problem(warning, severity="warning")]

    async def changes(self, clock: Clock) -> AsyncIterator[SourceChange]:
        """Yield each change of the store until cancelled; ``lost``/``restored`` around an outage."""
        last = _LAST_READ.get(self.name)  # what the configuration in force was loaded from, if known
        revision: int | None = None
        lost = False
        attempt = 0
        while True:
            store: Store | None = None
            try:
                store = self.opener(self.url)
                snapshot = await store.read()
                if lost:
                    lost, attempt = False, 0
                    yield SourceChange("restored", snapshot.revision, f"{self.name} is reachable again")
                if last is not None and snapshot.fingerprint != last:
                    message = f"{self.name} is at revision {snapshot.revision}"
                    yield SourceChange("changed", snapshot.revision, message)
                last, revision = snapshot.fingerprint, snapshot.revision
                async for _revision in store.watch(snapshot.revision):
                    snapshot = await store.read()
                    if snapshot.fingerprint == last:
                        continue  # our own keyspace echo, or a write of the same text
                    last, revision = snapshot.fingerprint, snapshot.revision
                    message = f"{self.name} is at revision {snapshot.revision}"
                    yield SourceChange("changed", snapshot.revision, message)
            except StoreUnavailable as exc:
                if not lost:
                    lost = True
                    yield SourceChange("lost", revision, f"{self.name}: {exc.message}")
            except ConfigError as exc:  # a client library that is not installed: nothing will change that
                if not lost:
                    lost = True
                    yield SourceChange("lost", None, f"{self.name}: {exc.message}")
            finally:
                if store is not None:
                    await store.aclose()
            await clock.sleep(self.reconnect.delay(attempt))
            attempt += 1
