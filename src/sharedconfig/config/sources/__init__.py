"""Where configuration layers come from: each source is a small object with one method, ``read``.

Precedence is the order of the tuple of sources handed to ``load``; later sources win.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from sharedconfig.config.sources.env import DotenvSource, EnvSource
from sharedconfig.config.sources.files import FileSource, ProfileSource, read_file
from sharedconfig.config.sources.overrides import DefaultsSource, OverrideSource
from sharedconfig.config.sources.secrets import SecretsSource
from sharedconfig.config.tree import Layer, ReadContext

if TYPE_CHECKING:
    from sharedconfig.clock import Clock

__all__ = [
    "DefaultsSource",
    "DotenvSource",
    "EnvSource",
    "FileSource",
    "OverrideSource",
    "ProfileSource",
    "SecretsSource",
    "Source",
    "SourceChange",
    "WatchedSource",
    "read_file",
]


@runtime_checkable
class Source(Protocol):
    """Produces configuration layers (a file source gives one per file)."""

    def read(self, ctx: ReadContext) -> list[Layer]:
        """Read the source; problems are recorded as issues on the layers, not raised."""
        ...


@dataclass(frozen=True, slots=True)
class SourceChange:
    """What a watched source reports: its content ``changed``, or the source was ``lost`` or is ``restored``.

    ``revision`` is the store's revision when it knows one; ``message`` says what happened, for logs and
    health details (never a secret: a store's URL appears without its credentials).
    """

    kind: Literal["changed", "lost", "restored"]
    revision: int | None = None
    message: str = ""


@runtime_checkable
class WatchedSource(Source, Protocol):
    """A source that can tell when it changes: a shared store (etcd, Redis). Files are watched by the
    ``ConfigWatcher`` itself, through their directories.

    ``name`` is the source's URL without credentials. ``changes`` runs on the watcher's event loop until
    cancelled: it yields a ``SourceChange`` per change, ``lost`` when the connection drops (then it
    reconnects with backoff, waiting on ``clock``, and yields ``restored`` once back, followed by
    ``changed`` if the content moved meanwhile); it never raises for a connection problem.
    """

    name: str

    def changes(self, clock: Clock) -> AsyncIterator[SourceChange]:
        """Yield each change until cancelled."""
        ...
