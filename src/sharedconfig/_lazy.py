"""Lazy re-exports for package ``__init__`` modules: names load from their home module on first use.

Keeps ``import sharedconfig`` (and ``.monitoring``, ``.server``) cheap while the public names stay flat.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` serving ``exports`` (name -> home module) for ``package``.

    A loaded name is cached in ``namespace`` (the package's ``globals()``), so each loads once.
    """

    def __getattr__(name: str) -> Any:
        home = exports.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *namespace.get("__all__", ())})

    return __getattr__, __dir__
