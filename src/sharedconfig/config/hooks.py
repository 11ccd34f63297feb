"""The configuration system's hook points: how the loader reports loads, validations and reloads.

Components never import monitoring; ``sharedconfig.monitoring.hooks.config`` implements this protocol
with metrics, events and logs. The default (``NO_HOOKS``) is the toolkit's ``noop``; see sharedconfig.hooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sharedconfig.hooks import noop

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.config.validation import ValidationReport

__all__ = ["NO_HOOKS", "ConfigHooks"]


@runtime_checkable
class ConfigHooks(Protocol):
    """Called by the loader (and later the watcher) with results and durations in seconds."""

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """A load finished: ``config`` is None when the report has errors."""
        ...

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """The validation stage finished."""
        ...

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """A reload finished; ``new`` is None when it was rejected and ``old`` stays in force."""
        ...

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """A new snapshot replaced ``old``; ``changed`` lists the dotted paths that differ."""
        ...

    def on_source(self, source: str, available: bool, message: str) -> None:
        """A watched source (a store's URL, credentials removed) was lost or is back.

        While a source is lost the last snapshot stays in force and the watcher reconnects; ``message``
        says why (never a secret).
        """
        ...


NO_HOOKS: ConfigHooks = noop(ConfigHooks)
"""The default hooks: ``sharedconfig.hooks.noop(ConfigHooks)``, doing nothing at no cost."""
