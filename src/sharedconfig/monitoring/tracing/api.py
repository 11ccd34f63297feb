"""``span(name, **attributes)`` and ``@traced``: spans around blocks and functions, no-ops without a tracer.

Both go through ``sharedconfig.tracecontext``, which costs one global read while no tracer is installed
(tracing disabled, OpenTelemetry missing, Monitoring stopped). Inside a span its trace and span ids are
current: logs, events (``traceparent``) and ``SharedConfigError`` carry them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast, overload

from sharedconfig.tracecontext import AttributeValue, installed_tracer, span

__all__ = ["span", "traced"]

P = ParamSpec("P")
T = TypeVar("T")


@overload
def traced(func: Callable[P, T], /) -> Callable[P, T]: ...
@overload
def traced(
    name: str | None = None, /, **attributes: AttributeValue
) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def traced(
    func_or_name: Callable[P, T] | str | None = None, /, **attributes: AttributeValue
) -> Callable[P, T] | Callable[[Callable[P, T]], Callable[P, T]]:
    """Run a function (sync or ``async def``) in a span: ``@traced``, ``@traced("orders.place", shop="eu")``.

    The span is named ``name``, else the function's ``__qualname__``, and carries ``attributes``; an
    exception leaving the function is recorded on it with error status. For an ``async def`` the span
    covers the whole coroutine, awaits included. Without an installed tracer the function is called
    directly.
    """
    if callable(func_or_name):
        return _decorate(func_or_name, None, attributes)
    name = func_or_name

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        return _decorate(func, name, attributes)

    return decorate


def _decorate(
    func: Callable[P, T], name: str | None, attributes: dict[str, AttributeValue]
) -> Callable[P, T]:
    span_name = name or func.__qualname__
    fixed = dict(attributes)
    if inspect.iscoroutinefunction(func):
        run = cast("Callable[P, Awaitable[Any]]", func)

        @functools.wraps(func)
        async def traced_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            tracer = installed_tracer()
            if tracer is None:
                return await run(*args, **kwargs)
            with tracer.span(span_name, fixed):
                return await run(*args, **kwargs)

        return cast("Callable[P, T]", traced_async)

    @functools.wraps(func)
    def traced_sync(*args: P.args, **kwargs: P.kwargs) -> T:
        tracer = installed_tracer()
        if tracer is None:
            return func(*args, **kwargs)
        with tracer.span(span_name, fixed):
            return func(*args, **kwargs)

    return traced_sync
