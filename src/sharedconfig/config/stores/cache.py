"""The local cache of a store's last good snapshot (``?cache=PATH``): what a service starts from while
the store is unreachable.

One JSON file, written after every good read: to a temporary file in the same directory, created with
mode 0600 (the entries are as written, so a value someone wrote in plain text is in it), flushed and
fsynced, then renamed over the old one, so a reader sees the old snapshot or the new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from sharedconfig.config.stores.base import Entry, Snapshot
from sharedconfig.errors import ConfigError, Location

__all__ = ["read_cache", "write_cache"]

FORMAT = 1


def _error(path: str, why: str) -> ConfigError:
    return ConfigError(f"the store cache {why}", code="CONFIG_044", location=Location("file", path))


def write_cache(path: str, name: str, snapshot: Snapshot) -> None:
    """Save ``snapshot`` of the store ``name`` (its URL without credentials) at ``path``, atomically."""
    document = {
        "format": FORMAT,
        "store": name,
        "revision": snapshot.revision,
        "entries": {key: {"text": e.text, "revision": e.revision} for key, e in snapshot.entries.items()},
    }
    target = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise _error(path, f"cannot be written: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise _error(path, f"cannot be written: {exc.strerror or exc}") from None


def read_cache(path: str, name: str) -> Snapshot:
    """The snapshot saved at ``path`` for the store ``name``; raises ``ConfigError`` (CONFIG_044) when it is
    missing, unreadable, not a cache, or the cache of another store."""
    try:
        with open(path, encoding="utf-8") as fh:
            document: Any = json.load(fh)
    except FileNotFoundError:
        raise _error(path, "does not exist yet (it is written after the first good read)") from None
    except OSError as exc:
        raise _error(path, f"cannot be read: {exc.strerror or exc}") from None
    except ValueError:
        raise _error(path, "is not valid JSON: delete it") from None
    try:
        if document["format"] != FORMAT:
            raise _error(path, f"has format {document['format']!r}, not {FORMAT}")
        if document["store"] != name:
            raise _error(path, f"holds the snapshot of {document['store']}, not of {name}")
        entries = {
            str(key): Entry(str(item["text"]), int(item["revision"]))
            for key, item in document["entries"].items()
        }
        return Snapshot(int(document["revision"]), entries)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise _error(path, "is not a store cache: delete it") from None
