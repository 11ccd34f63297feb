"""Start ``Monitoring`` when an ASGI app starts and stop it (last pushes, flushes) when the app shuts down.

Servers such as uvicorn end the process on SIGTERM without running ``atexit``; the ASGI lifespan is the
one hook they do run. ``monitoring_lifespan`` is a Starlette/FastAPI ``lifespan=``; the middleware wraps
any ASGI app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from sharedconfig.monitoring.hub import Monitoring

__all__ = ["MonitoringLifespanMiddleware", "monitoring_lifespan", "running"]

AppT = TypeVar("AppT")
StateT = TypeVar("StateT")


@contextlib.asynccontextmanager
async def running(monitoring: Monitoring, timeout: float | None = None) -> AsyncIterator[Monitoring]:
    """Start ``monitoring`` (if not started) on entry; stop it on exit, whatever ended the block.

    The stop is bounded by ``timeout`` seconds, else ``monitoring.shutdown_timeout``, and runs on a worker
    thread: the budget is spent waiting on the monitoring runtime, not blocking the app's event loop.
    """
    import anyio  # httpx's dependency, so always installed; works under asyncio and trio
    import anyio.to_thread

    monitoring.start()
    try:
        yield monitoring
    finally:
        # a limiter of its own: the default one may be full of the app's hung sync endpoints at shutdown
        await anyio.to_thread.run_sync(lambda: monitoring.stop(timeout), limiter=anyio.CapacityLimiter(1))


@overload
def monitoring_lifespan(
    monitoring: Monitoring, lifespan: None = None, *, timeout: float | None = None
) -> Callable[[object], AbstractAsyncContextManager[None]]: ...


@overload
def monitoring_lifespan(
    monitoring: Monitoring,
    lifespan: Callable[[AppT], AbstractAsyncContextManager[StateT]],
    *,
    timeout: float | None = None,
) -> Callable[[AppT], AbstractAsyncContextManager[StateT]]: ...


def monitoring_lifespan(
    monitoring: Monitoring,
    lifespan: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None,
    *,
    timeout: float | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    """A lifespan for ``FastAPI(lifespan=...)`` or ``Starlette(lifespan=...)`` that runs ``monitoring``.

    Monitoring starts before ``lifespan`` (your own, optional) enters and stops after it exits, so what
    your startup and shutdown record is pushed too; the state your lifespan yields is the app's state.
    To wrap the lifespan an app already has: ``app.router.lifespan_context =
    monitoring_lifespan(monitoring, app.router.lifespan_context)``. A mounted app's lifespan never runs:
    give it to the outer app.
    """

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        async with running(monitoring, timeout):
            if lifespan is None:
                yield None
            else:
                async with lifespan(app) as state:
                    yield state

    return run


class MonitoringLifespanMiddleware:
    """ASGI middleware running ``monitoring`` over the app's lifespan; other scopes pass through untouched.

    Monitoring starts when the server sends ``lifespan.startup`` (before the app sees it) and stops before
    the app's ``lifespan.shutdown.complete`` (or a failure) reaches the server. An app that does not speak
    the lifespan protocol (it returns or raises before reading a message) gets it answered for it.
    """

    def __init__(self, app: ASGIApp, monitoring: Monitoring, *, timeout: float | None = None) -> None:
        self.app = app
        self.monitoring = monitoring
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the scope on; for ``lifespan``, start and stop monitoring around the app's own."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        stack = contextlib.AsyncExitStack()
        heard = False

        async def receive_startup() -> Message:
            nonlocal heard
            message = await receive()
            heard = True
            if message["type"] == "lifespan.startup":
                await stack.enter_async_context(running(self.monitoring, self.timeout))
            return message

        async def send_stopped(message: Message) -> None:
            if message["type"] in (
                "lifespan.startup.failed",
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
            ):
                await stack.aclose()
            await send(message)

        async with stack:  # also stops monitoring if the app raises mid-protocol
            try:
                await self.app(scope, receive_startup, send_stopped)
            except Exception:
                if heard:
                    raise
            if not heard:  # the app ignores lifespan: the protocol is ours to answer
                await self._answer(receive, send)

    async def _answer(self, receive: Receive, send: Send) -> None:
        """The whole lifespan protocol for an app that has none: start, wait for shutdown, stop."""
        await receive()  # lifespan.startup
        async with running(self.monitoring, self.timeout):
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})
