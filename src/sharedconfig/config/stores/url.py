"""Store URLs: ``etcd://HOST[:PORT]/PREFIX`` and ``redis://[USER:PASSWORD@]HOST[:PORT][/DB]/PREFIX``.

One syntax for the CLI (``--source``, ``push --to``, ``pull --from``) and ``load(stores=...)``. The query
may name a local cache of the last good snapshot (``?cache=PATH``) and a timeout (``&timeout=SECONDS``).
A URL's ``name`` never holds its credentials: it is what errors, logs and provenance show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from sharedconfig.errors import ConfigError, Location
from sharedconfig.redaction import mask_userinfo

__all__ = ["DEFAULT_PORTS", "DEFAULT_TIMEOUT", "StoreURL", "parse_store_url"]

Scheme = Literal["etcd", "redis"]

DEFAULT_PORTS: dict[str, int] = {"etcd": 2379, "redis": 6379}
DEFAULT_TIMEOUT = 5.0
"""Seconds a store may take to answer one call (connecting included) before it counts as unreachable."""

_QUERY_KEYS = ("cache", "timeout")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL. ``prefix`` is the etcd key prefix (keys ``PREFIX/NAME``) or the Redis key of
    the hash that holds the configuration; ``password`` is never part of ``name`` or ``repr``."""

    scheme: Scheme
    host: str
    port: int
    prefix: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cache: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def name(self) -> str:
        """The URL without credentials or query: ``etcd://127.0.0.1:2379/app``, ``redis://h:6379/0/app``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        db = f"/{self.db}" if self.scheme == "redis" else ""
        return f"{self.scheme}://{host}:{self.port}{db}/{self.prefix}"

    def entry(self, key: str) -> str:
        """The name of one entry under the prefix: ``etcd://127.0.0.1:2379/app/base.yaml``."""
        return f"{self.name}/{key}"

    @property
    def location(self) -> Location:
        """Where a problem with the store as a whole is reported."""
        return Location("store", self.name)


def _bad(url: str, why: str) -> ConfigError:
    shown = mask_userinfo(url)
    return ConfigError(
        f"invalid store URL {shown!r}: {why}", code="CONFIG_041", location=Location("option", "store")
    )


def parse_store_url(url: str) -> StoreURL:
    """Parse ``url``; raises ``ConfigError`` (CONFIG_041) saying what is wrong, credentials masked."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # a port that is not a number, an unclosed [ of an IPv6 address
        raise _bad(url, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _bad(
            url, f"the scheme must be etcd:// or redis://, not {parts.scheme + '://' if scheme else 'none'}"
        )
    if not parts.hostname:
        raise _bad(url, "the URL names no host")
    if parts.fragment:
        raise _bad(url, "a store URL takes no #fragment")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    db = 0
    if scheme == "redis" and segments and segments[0].isdigit():
        db = int(segments.pop(0))
    if not segments:
        raise _bad(url, "the URL names no key prefix (etcd://HOST:PORT/PREFIX, redis://HOST:PORT/DB/PREFIX)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise _bad(url, f"unknown query parameter {unknown[0]!r} (known: {', '.join(_QUERY_KEYS)})")
    if any(len(values) > 1 for values in query.values()):
        raise _bad(url, "a query parameter is given twice")
    cache = query.get("cache", [None])[0] or None
    timeout = DEFAULT_TIMEOUT
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][0])
        except ValueError:
            raise _bad(url, f"timeout must be a number of seconds, not {query['timeout'][0]!r}") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise _bad(url, "timeout must be a positive number of seconds")
    password = unquote(parts.password) if parts.password is not None else None
    return StoreURL(
        scheme="etcd" if scheme == "etcd" else "redis",
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        prefix="/".join(segments),
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=password,
        cache=cache,
        timeout=timeout,
    )
