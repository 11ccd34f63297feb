"""The hook toolkit: a no-op default and fan-out for every hook protocol (``ConfigHooks``, HTTP, events...).

Foundation layer: both are generated from a Protocol's methods, once per protocol; testing.Recording too.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar, cast

if TYPE_CHECKING:
    # ``type[P]`` would be the obvious parameter type, but mypy refuses a Protocol class there
    # ("Only concrete class can be given", type-abstract); PEP 747's TypeForm accepts it and still binds P
    from typing_extensions import TypeForm

    from sharedconfig.interfaces import Logger, MetricsRecorder

__all__ = [
    "HOOK_ERRORS",
    "HOOK_ERRORS_HELP",
    "HookMethod",
    "fan_out",
    "hook_methods",
    "implement",
    "noop",
]

P = TypeVar("P")

HOOK_ERRORS: Final = "hook_errors_total"
"""Counter of hook calls that raised inside a ``fan_out``, labelled ``hook`` (the protocol) and ``method``."""

HOOK_ERRORS_HELP: Final = "Hook calls that raised, by hook protocol and method; the other hooks still ran."

_RETURNS_NONE: Final = (None, "None", inspect.Signature.empty)
_NOT_PROTOCOL_MEMBERS: Final = frozenset({object, Protocol, Generic})


@dataclass(frozen=True, slots=True)
class HookMethod:
    """One method of a hook protocol: its name, its signature without ``self``, and whether it is async."""

    name: str
    signature: inspect.Signature
    is_async: bool
    doc: str = ""


def _protocol_class(protocol: object) -> type:
    """``protocol`` itself when it is a ``typing.Protocol`` class, else a ``TypeError``."""
    if isinstance(protocol, type) and protocol is not Protocol and getattr(protocol, "_is_protocol", False):
        return protocol
    raise TypeError(f"expected a typing.Protocol class (a hook protocol), got {protocol!r}")


@functools.cache
def _methods_of(protocol: type) -> tuple[HookMethod, ...]:
    methods: dict[str, HookMethod] = {}
    for cls in protocol.__mro__:
        if cls in _NOT_PROTOCOL_MEMBERS:
            continue
        data = [name for name in vars(cls).get("__annotations__", {}) if not name.startswith("_")]
        if data:
            raise TypeError(f"{protocol.__name__}: a hook protocol declares methods only, not {data}")
        for name, value in vars(cls).items():
            if name.startswith("_") or name in methods:
                continue
            if not inspect.isfunction(value):
                raise TypeError(f"{protocol.__name__}.{name}: a hook protocol member must be a plain method")
            signature = inspect.signature(value)
            if signature.return_annotation not in _RETURNS_NONE:
                raise TypeError(
                    f"{protocol.__name__}.{name} returns {signature.return_annotation}: hook methods return "
                    "None, so that no-op and fan-out mean something"
                )
            parameters = list(signature.parameters.values())[1:]  # drop ``self``
            methods[name] = HookMethod(
                name,
                signature.replace(parameters=parameters),
                inspect.iscoroutinefunction(value),
                inspect.getdoc(value) or "",
            )
    return tuple(methods.values())


def hook_methods(protocol: TypeForm[object]) -> tuple[HookMethod, ...]:
    """The methods of the hook protocol ``protocol``, in definition order (inspected once, then cached).

    A hook protocol is a ``typing.Protocol`` whose public members are methods returning ``None`` (plain
    or ``async def``): a hook reports, it never decides, so calling none of its implementations
    (``noop``) or all of them (``fan_out``) are both well defined. Raises ``TypeError`` when ``protocol``
    is not a ``typing.Protocol`` class or is not a hook protocol (a data member, a property or
    classmethod, or a method returning something other than ``None``).
    """
    return _methods_of(_protocol_class(protocol))


def implement(
    protocol: TypeForm[object],
    name: str,
    make_method: Callable[[HookMethod], Callable[..., object]],
    *,
    bases: tuple[type, ...] = (),
    namespace: Mapping[str, object] | None = None,
) -> type:
    """A new class ``name`` with one method per method of ``protocol``, each made by ``make_method``.

    The building block of ``noop``, ``fan_out`` and ``sharedconfig.testing.Recording``: ``make_method``
    gets a ``HookMethod`` and returns the function to install (taking ``self``); it carries the
    protocol method's name, docstring and signature. ``bases`` and ``namespace`` (``__slots__``,
    ``__init__``, ``__repr__``...) are passed to ``type()``. Callers cache the class per protocol.
    """
    body: dict[str, object] = dict(namespace or {})
    for method in hook_methods(protocol):
        function = make_method(method)
        function.__name__ = method.name
        function.__qualname__ = f"{name}.{method.name}"
        function.__doc__ = method.doc or None
        body[method.name] = function
    body.setdefault("__module__", __name__)
    body.setdefault("__qualname__", name)
    return type(name, bases, body)


# -- no-op ---------------------------------------------------------------------------------------------


def _noop_method(method: HookMethod) -> Callable[..., object]:
    if method.is_async:

        async def ignore_async(self: object, *args: object, **kwargs: object) -> None:
            return None

        return ignore_async

    def ignore(self: object, *args: object, **kwargs: object) -> None:
        return None

    return ignore


@functools.cache
def _noop_of(protocol: type) -> object:
    def describe(self: object) -> str:
        return f"noop({protocol.__name__})"

    cls = implement(
        protocol, f"No{protocol.__name__}", _noop_method, namespace={"__slots__": (), "__repr__": describe}
    )
    return cls()


def noop(protocol: TypeForm[P]) -> P:
    """The do-nothing implementation of the hook protocol ``protocol``: every method returns at once.

    The default of every ``hooks=`` parameter. One shared instance per protocol (``noop(ConfigHooks) is
    noop(ConfigHooks)``), so ``hooks is noop(X)`` tells a component that nobody is listening.
    """
    return cast("P", _noop_of(_protocol_class(protocol)))


# -- fan-out -------------------------------------------------------------------------------------------


class _FanOut:
    """State shared by every generated fan-out class: the targets' bound methods and where failures go."""

    __slots__ = ("_bound", "_hook", "_logger", "_metrics", "_targets")

    def __init__(
        self,
        protocol: type,
        targets: tuple[object, ...],
        logger: Logger,
        metrics: MetricsRecorder | None,
    ) -> None:
        self._hook = protocol.__name__
        self._targets = targets
        self._logger = logger
        self._metrics = metrics
        bound: dict[str, tuple[tuple[object, Callable[..., object]], ...]] = {}
        for method in _methods_of(protocol):
            pairs = []
            for target in targets:
                function = getattr(target, method.name, None)
                if not callable(function):
                    raise TypeError(
                        f"fan_out({self._hook}, ...): {type(target).__qualname__} has no method {method.name}"
                    )
                pairs.append((target, function))
            bound[method.name] = tuple(pairs)
        self._bound = bound

    def _failed(self, target: object, method: str, error: Exception) -> None:
        """Log and count one hook that raised; reporting never raises either."""
        with contextlib.suppress(Exception):
            self._logger.error(
                "hook raised; the other hooks still ran",
                hook=self._hook,
                method=method,
                implementation=type(target).__qualname__,
                error=type(error).__name__,
                exc_info=error,
            )
        if self._metrics is not None:
            with contextlib.suppress(Exception):
                self._metrics.record_counter(HOOK_ERRORS, 1.0, {"hook": self._hook, "method": method})

    def __repr__(self) -> str:
        names = ", ".join(type(target).__qualname__ for target in self._targets)
        return f"fan_out({self._hook}, {names})"


def _fan_out_method(method: HookMethod) -> Callable[..., object]:
    name = method.name
    if method.is_async:

        async def call_each_async(self: _FanOut, *args: object, **kwargs: object) -> None:
            for target, function in self._bound[name]:
                try:
                    await cast("Awaitable[object]", function(*args, **kwargs))
                except Exception as error:
                    self._failed(target, name, error)

        return call_each_async

    def call_each(self: _FanOut, *args: object, **kwargs: object) -> None:
        for target, function in self._bound[name]:
            try:
                function(*args, **kwargs)
            except Exception as error:
                self._failed(target, name, error)

    return call_each


@functools.cache
def _fan_out_class(protocol: type) -> type[_FanOut]:
    cls = implement(
        protocol, f"FanOut{protocol.__name__}", _fan_out_method, bases=(_FanOut,), namespace={"__slots__": ()}
    )
    return cast("type[_FanOut]", cls)


@functools.cache
def _default_logger() -> Logger:
    # stdlib logging is imported on the first fan-out without a logger, not by every import of config
    from sharedconfig.stdlog import StdlibLogger

    return StdlibLogger("sharedconfig.hooks")


def fan_out(
    protocol: TypeForm[P],
    *hooks: P,
    logger: Logger | None = None,
    metrics: MetricsRecorder | None = None,
) -> P:
    """One implementation of ``protocol`` calling each of ``hooks`` in turn, whatever the others do.

    A hook that raises (an ``Exception``; ``KeyboardInterrupt`` and cancellation pass through) does not
    stop the ones after it nor reach the caller: it is logged at error level with its traceback through
    ``logger`` (default: stdlib logger ``sharedconfig.hooks``) and counted in ``metrics`` as
    ``hook_errors_total{hook,method}`` (``HOOK_ERRORS``). Async methods are awaited one after the other.
    ``noop`` hooks are left out; with nothing left the result is ``noop(protocol)``. Each hook must have
    every method of the protocol (``TypeError`` otherwise, at once rather than at the first call).
    """
    cls = _protocol_class(protocol)
    nothing = _noop_of(cls)
    targets = tuple(hook for hook in hooks if hook is not nothing)
    if not targets:
        return cast("P", nothing)
    report_to = logger if logger is not None else _default_logger()
    return cast("P", _fan_out_class(cls)(cls, targets, report_to, metrics))
