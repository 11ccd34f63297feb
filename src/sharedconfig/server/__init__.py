"""The local HTTP server: /metrics, /health and the JSON API as a FastAPI app, served by uvicorn.

Importing this package is cheap; ``create_app`` and ``serve_in_background`` load FastAPI on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["BackgroundServer", "create_app", "serve_in_background"]

_EXPORTS = {
    "create_app": "sharedconfig.server.app",
    "BackgroundServer": "sharedconfig.server.background",
    "serve_in_background": "sharedconfig.server.background",
}

if TYPE_CHECKING:
    from sharedconfig.server.app import create_app
    from sharedconfig.server.background import BackgroundServer, serve_in_background


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sharedconfig.server' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
