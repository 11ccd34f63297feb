"""The app test_multiprocess_uvicorn runs under ``uvicorn --workers 2``: Monitoring in multiprocess mode.

The directory comes from ``SHAREDCONFIG_METRICS_MULTIPROCESS_DIR``; ``/hit`` counts ``test_hits_total``;
``/hold`` blocks its worker for a second; every response names the worker that served it in
``x-worker-pid``. Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.app import create_app

monitoring = Monitoring(MonitoringSettings())
hits = monitoring.metrics.counter("test_hits", "Requests to /hit.")
api = create_app(monitoring)
PID = str(os.getpid()).encode()


@api.get("/hold")
async def hold() -> StreamingResponse:
    """Send a first line at once, then keep this worker's event loop busy for a second, so a scrape sent
    meanwhile goes to the other worker (Monitoring's runtime, on its own thread, still answers its peers)."""

    async def body() -> AsyncIterator[bytes]:
        yield b"holding\n"
        time.sleep(1.0)  # blocks the loop on purpose: this worker accepts nothing meanwhile
        yield b"done\n"

    return StreamingResponse(body(), media_type="text/plain")


@api.get("/hit")
def hit() -> dict[str, int]:
    """Count one hit."""
    hits.inc()
    return {"pid": os.getpid()}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Start and stop Monitoring with the worker (ASGI lifespan); name the worker in every response."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                monitoring.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(monitoring.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def named(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-worker-pid", PID)]}
        await send(message)

    await api(scope, receive, named)
