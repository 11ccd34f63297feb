"""Redis through redis-py's asyncio client: one hash holds the configuration, one entry per field.

Keys, for a URL whose prefix is ``app``: the hash ``app`` (field ``base.yaml`` holds a document, field
``monitoring/sample_rate`` one leaf), the revision counter ``app:revision`` and the channel
``app:changes``. ``save`` runs under ``WATCH`` of the hash and the counter and checks both against the
snapshot it replaces, then ``MULTI``: the fields, ``INCR`` of the counter and a ``PUBLISH`` of the new
revision. The watch listens to that channel and, where the server has keyspace notifications on
(``notify-keyspace-events`` with ``K`` and ``h``), to the hash's keyspace channel, so an edit made with
``redis-cli HSET`` is seen too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, TypeVar

from sharedconfig.config.stores.base import Entry, Snapshot, StoreConflict, StoreUnavailable
from sharedconfig.config.stores.url import StoreURL
from sharedconfig.errors import ConfigError
from sharedconfig.redaction import hide

__all__ = ["RedisStore"]

T = TypeVar("T")


def _client_module() -> Any:
    try:
        return importlib.import_module("redis.asyncio")
    except ImportError:
        raise ConfigError(
            "the redis store needs redis-py, which is not installed",
            code="CONFIG_045",
            hint="pip install 'sharedconfig[redis]'",
        ) from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class RedisStore:
    """One connection pool to Redis for the configuration in the hash ``url.prefix``."""

    def __init__(self, url: StoreURL) -> None:
        module = _client_module()
        self._exceptions: Any = importlib.import_module("redis.exceptions")
        retry = importlib.import_module("redis.asyncio.retry")
        backoff = importlib.import_module("redis.backoff")
        self.url = url
        options: dict[str, Any] = {
            "host": url.host,
            "port": url.port,
            "db": url.db,
            "username": url.username,
            "password": url.password,
            "socket_connect_timeout": url.timeout,
            # errors reach the source, which reconnects on its own policy and says "lost" meanwhile
            "retry": retry.Retry(backoff.NoBackoff(), 0),
        }
        self._client: Any = module.Redis(socket_timeout=url.timeout, **options)
        # a subscriber waits for messages as long as it takes: no read timeout on its connection
        self._listener: Any = module.Redis(socket_timeout=None, **options)
        self._hash = url.prefix
        self._counter = f"{url.prefix}:revision"
        self.channel = f"{url.prefix}:changes"
        self.keyspace = f"__keyspace@{url.db}__:{url.prefix}"
        self._errors: tuple[type[BaseException], ...] = (
            self._exceptions.ConnectionError,
            self._exceptions.TimeoutError,
            self._exceptions.AuthenticationError,
            self._exceptions.ResponseError,
            OSError,
            TimeoutError,
        )

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        reason = hide(str(exc) or type(exc).__name__, [self.url.password or ""])
        return StoreUnavailable(
            f"the store is unreachable: {what} failed: {reason}", location=self.url.location
        )

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, self.url.timeout)
        except self._errors as exc:
            raise self._unavailable(what, exc) from None

    async def _read(self) -> Snapshot:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._hash)
            pipe.get(self._counter)
            fields, counter = await pipe.execute()
        revision = int(counter or 0)
        return Snapshot(revision, {_text(k): Entry(_text(v), revision) for k, v in fields.items()})

    async def read(self) -> Snapshot:
        """The hash and its revision, read in one ``MULTI``."""
        return await self._call("reading the configuration", self._read())

    async def _save(self, entries: Mapping[str, str], base: Snapshot) -> int:
        async with self._client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self._hash, self._counter)
                fields = await pipe.hgetall(self._hash)
                revision = int(await pipe.get(self._counter) or 0)
                current = {_text(k): _text(v) for k, v in fields.items()}
                if revision != base.revision or current != base.texts:
                    raise self._conflict(base, revision)
                removed = [name for name in base.entries if name not in entries]
                changed = {name: text for name, text in entries.items() if current.get(name) != text}
                if not removed and not changed:
                    await pipe.unwatch()
                    return revision
                pipe.multi()
                if removed:
                    pipe.hdel(self._hash, *removed)
                if changed:
                    pipe.hset(self._hash, mapping=changed)
                pipe.incr(self._counter)
                pipe.publish(self.channel, str(revision + 1))
                results = await pipe.execute()
            except self._exceptions.WatchError:  # written between our WATCH and EXEC
                raise self._conflict(base, (await self._read()).revision) from None
        return int(results[-2])

    def _conflict(self, base: Snapshot, revision: int) -> StoreConflict:
        return StoreConflict(
            f"the store changed after it was read at revision {base.revision}: lost to revision {revision}",
            expected=base.revision,
            revision=revision,
            location=self.url.location,
        )

    async def save(self, entries: Mapping[str, str], base: Snapshot) -> int:
        """Replace the hash's fields if it is still ``base``: ``WATCH``, compare, ``MULTI``/``EXEC``."""
        return await self._call("saving", self._save(entries, base))

    async def watch(self, since: int) -> AsyncIterator[int]:
        """The revision after every published save and every keyspace event of the hash."""
        pubsub = self._listener.pubsub()
        try:
            await self._call("subscribing", pubsub.subscribe(self.channel, self.keyspace))
            # a save between the caller's read and the subscription published to nobody: look once
            now = int(await self._call("reading the revision", self._client.get(self._counter)) or 0)
            if now != since:
                yield now
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                except self._errors as exc:
                    raise self._unavailable("the subscription", exc) from None
                if message is None:
                    continue
                if _text(message["channel"]) == self.channel:
                    yield int(_text(message["data"]))
                else:  # a keyspace event: an edit that may not have moved the counter
                    yield int(await self._call("reading the revision", self._client.get(self._counter)) or 0)
        finally:
            with contextlib.suppress(*self._errors, RuntimeError):  # the connection is already gone
                await asyncio.wait_for(pubsub.aclose(), self.url.timeout)

    async def aclose(self) -> None:
        """Close both connection pools."""
        for client in (self._client, self._listener):
            # closing connections to a server that is gone: nothing is left to release
            with contextlib.suppress(*self._errors):
                await asyncio.wait_for(client.aclose(), self.url.timeout)
