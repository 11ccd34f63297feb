"""Where configuration layers come from: each source is a small object with one method, ``read``.

Precedence is the order of the tuple of sources handed to ``load``; later sources win.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sharedconfig.config.sources.env import DotenvSource, EnvSource
from sharedconfig.config.sources.files import FileSource, ProfileSource, read_file
from sharedconfig.config.sources.overrides import DefaultsSource, OverrideSource
from sharedconfig.config.sources.secrets import SecretsSource
from sharedconfig.config.tree import Layer, ReadContext

__all__ = [
    "DefaultsSource",
    "DotenvSource",
    "EnvSource",
    "FileSource",
    "OverrideSource",
    "ProfileSource",
    "SecretsSource",
    "Source",
    "read_file",
]


@runtime_checkable
class Source(Protocol):
    """Produces configuration layers (a file source gives one per file)."""

    def read(self, ctx: ReadContext) -> list[Layer]:
        """Read the source; problems are recorded as issues on the layers, not raised."""
        ...
