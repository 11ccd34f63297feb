"""The local HTTP server: /metrics, /health and the JSON API as a FastAPI app, served by uvicorn.

Importing this package is cheap; ``create_app`` and ``serve_in_background`` load FastAPI on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

__all__ = ["BackgroundServer", "create_app", "serve_in_background"]

_EXPORTS = {
    "create_app": "sharedconfig.server.app",
    "BackgroundServer": "sharedconfig.server.background",
    "serve_in_background": "sharedconfig.server.background",
}

if TYPE_CHECKING:
    from sharedconfig.server.app import create_app
    from sharedconfig.server.background import BackgroundServer, serve_in_background


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
