"""etcd (v3 API, gRPC) through ``aetcd``: a key prefix holds the configuration, one entry per key.

Keys are ``PREFIX/NAME``. A snapshot's revision is the highest ``mod_revision`` under the prefix (0 when
empty). ``save`` is one transaction that compares every key of the snapshot it replaces (its
``mod_revision``, so a deletion shows) and the whole prefix (no key modified or created after the
snapshot), then deletes and puts; the watch is a prefix watch from the snapshot's revision + 1.
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

__all__ = ["EtcdStore"]

T = TypeVar("T")


def _client_module() -> Any:
    try:
        return importlib.import_module("aetcd")
    except ImportError:
        raise ConfigError(
            "the etcd store needs the aetcd client, which is not installed",
            code="CONFIG_045",
            hint="pip install 'sharedconfig[etcd]'",
        ) from None


class EtcdStore:
    """One connection to etcd for the configuration under ``url.prefix``."""

    def __init__(self, url: StoreURL) -> None:
        aetcd = _client_module()
        self.url = url
        rpc_error = importlib.import_module("grpc.aio").AioRpcError
        self._errors: tuple[type[BaseException], ...] = (aetcd.ClientError, rpc_error, OSError, TimeoutError)
        self._compacted: type[BaseException] = aetcd.RevisionCompactedError
        # aetcd takes whole seconds in its type hints; gRPC deadlines are floats
        self._client: Any = aetcd.Client(
            host=url.host,
            port=url.port,
            username=url.username,
            password=url.password,
            timeout=url.timeout,
        )
        self._transactions: Any = self._client.transactions
        self._root = f"{url.prefix}/".encode()
        self._end: bytes = importlib.import_module("aetcd.utils").prefix_range_end(self._root)

    def _key(self, name: str) -> bytes:
        return self._root + name.encode()

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        reason = hide(str(exc) or type(exc).__name__, [self.url.password or ""])
        return StoreUnavailable(
            f"the store is unreachable: {what} failed: {reason.splitlines()[0]}",
            location=self.url.location,
            cause=None,
        )

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, self.url.timeout)
        except self._errors as exc:
            raise self._unavailable(what, exc) from None

    async def _range(self) -> tuple[Snapshot, int]:
        result = await self._call("reading the prefix", self._client.get_prefix(self._root))
        entries: dict[str, Entry] = {}
        for kv in result:
            name = kv.key[len(self._root) :].decode("utf-8", "replace")
            entries[name] = Entry(kv.value.decode("utf-8", "replace"), kv.mod_revision)
        revision = max((e.revision for e in entries.values()), default=0)
        return Snapshot(revision, entries), result.header.revision

    async def read(self) -> Snapshot:
        """Every key under the prefix, at one revision."""
        snapshot, _ = await self._range()
        return snapshot

    async def save(self, entries: Mapping[str, str], base: Snapshot) -> int:
        """One transaction: if nothing under the prefix moved since ``base``, delete and put."""
        t = self._transactions
        compare = [t.mod(self._root, self._end) < base.revision + 1]
        compare += [t.mod(self._key(name)) == entry.revision for name, entry in base.entries.items()]
        ops = [t.delete(self._key(name)) for name in base.entries if name not in entries]
        for name, text in entries.items():
            old = base.entries.get(name)
            if old is None or old.text != text:
                ops.append(t.put(self._key(name), text.encode()))
        if not ops:
            return base.revision
        succeeded, responses = await self._call("the transaction", self._client.transaction(compare, ops, []))
        if succeeded:
            response = responses[-1]
            return int(getattr(response, response.WhichOneof("response")).header.revision)
        now, header = await self._range()
        winner = now.revision if now.revision > base.revision else header
        raise StoreConflict(
            f"the store changed after it was read at revision {base.revision}: lost to revision {winner}",
            expected=base.revision,
            revision=winner,
            location=self.url.location,
        )

    async def watch(self, since: int) -> AsyncIterator[int]:
        """The revision of every change under the prefix after ``since``, as etcd reports it."""
        await self._call("connecting", self._client.connect())
        last = since
        while True:
            watch = await self._call(
                "starting the watch", self._client.watch_prefix(self._root, start_revision=last + 1)
            )
            try:
                async for event in watch:
                    revision = int(event.kv.mod_revision)
                    if revision > last:  # a transaction's events share its revision: one change
                        last = revision
                        yield revision
            except self._compacted:  # the history since ``last`` is gone: read where it is now
                last = max(last + 1, (await self.read()).revision)
                yield last
                continue
            except self._errors as exc:
                raise self._unavailable("the watch", exc) from None
            raise self._unavailable("the watch", ConnectionError("the watch stream ended"))

    async def aclose(self) -> None:
        """Close the gRPC channel."""
        # closing a channel to a store that is gone: nothing is left to release
        with contextlib.suppress(*self._errors):
            await asyncio.wait_for(self._client.close(), self.url.timeout)
