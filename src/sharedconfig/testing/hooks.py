"""Recording hooks for any hook protocol: every call kept in order with its arguments, and replayed at will.

Tests assert on what a component reported; ``sharedconfig serve`` replays a load onto monitoring's hooks.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from sharedconfig.hooks import HookMethod, hook_methods, implement

if TYPE_CHECKING:
    from typing_extensions import TypeForm

__all__ = ["HookCall", "Recording"]

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class HookCall:
    """One call to a recorded hook: the method, its arguments as given, and the same bound by name.

    ``arguments`` maps every parameter of the protocol's method to its value (defaults filled in), so a
    test reads ``call.arguments["seconds"]`` whether the caller passed it by position or by keyword.
    """

    method: str
    args: tuple[object, ...]
    kwargs: Mapping[str, object]
    arguments: Mapping[str, object]


class _Recorder:
    """State of every generated recorder class: the ``Recording`` its calls go to."""

    __slots__ = ("_recording",)

    def __init__(self, recording: Recording[object]) -> None:
        self._recording = recording

    def __repr__(self) -> str:
        return f"{self._recording!r}.hooks"


def _record_method(method: HookMethod) -> Callable[..., object]:
    if method.is_async:

        async def record_async(self: _Recorder, *args: object, **kwargs: object) -> None:
            self._recording._record(method, args, kwargs)

        return record_async

    def record(self: _Recorder, *args: object, **kwargs: object) -> None:
        self._recording._record(method, args, kwargs)

    return record


@functools.cache
def _recorder_class(protocol: type) -> type[_Recorder]:
    cls = implement(
        protocol,
        f"Recording{protocol.__name__}",
        _record_method,
        bases=(_Recorder,),
        namespace={"__slots__": ()},
    )
    return cast("type[_Recorder]", cls)


class Recording(Generic[P]):
    """Records every call made to ``hooks``, an implementation of the hook protocol given.

    ``rec = Recording(ConfigHooks)``; pass ``rec.hooks`` (typed as a ``ConfigHooks``) to the component;
    then read ``rec.calls`` / ``rec.calls_to("on_load")``, or ``rec.replay(other)`` to make the same calls,
    in the same order, on another implementation. A call with arguments the protocol's method does not
    accept raises ``TypeError``, as a real implementation would. Safe to call from several threads.
    """

    __slots__ = ("_calls", "_hooks", "_lock", "_methods", "_protocol")

    def __init__(self, protocol: TypeForm[P]) -> None:
        methods = hook_methods(protocol)  # checks that it is a hook protocol
        self._protocol = cast("type", protocol)
        self._methods = {method.name: method for method in methods}
        self._calls: list[HookCall] = []
        self._lock = threading.Lock()
        self._hooks = _recorder_class(self._protocol)(cast("Recording[object]", self))

    @property
    def hooks(self) -> P:
        """The recording implementation of the protocol, to hand to the component under test."""
        return cast("P", self._hooks)

    @property
    def calls(self) -> tuple[HookCall, ...]:
        """Every call so far, oldest first."""
        with self._lock:
            return tuple(self._calls)

    def calls_to(self, method: str) -> tuple[HookCall, ...]:
        """The calls to ``method`` so far, oldest first; ``ValueError`` if the protocol has no such method."""
        if method not in self._methods:
            known = ", ".join(self._methods)
            raise ValueError(f"{self._protocol.__name__} has no method {method!r}; it has {known}")
        return tuple(call for call in self.calls if call.method == method)

    def clear(self) -> None:
        """Forget every call recorded so far."""
        with self._lock:
            self._calls.clear()

    def replay(self, target: P) -> None:
        """Make every recorded call on ``target``, in order; an exception from ``target`` propagates.

        ``TypeError`` (before any call) when a recorded call is to an async method: use ``replay_async``.
        """
        calls = self.calls
        asynchronous = sorted({call.method for call in calls if self._methods[call.method].is_async})
        if asynchronous:
            raise TypeError(f"recorded calls to async methods {asynchronous}: await replay_async(target)")
        for call in calls:
            getattr(target, call.method)(*call.args, **call.kwargs)

    async def replay_async(self, target: P) -> None:
        """Make every recorded call on ``target``, in order, awaiting those to async methods."""
        for call in self.calls:
            result = getattr(target, call.method)(*call.args, **call.kwargs)
            if self._methods[call.method].is_async:
                await cast("Awaitable[object]", result)

    def _record(self, method: HookMethod, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        bound = method.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        call = HookCall(method.name, args, dict(kwargs), dict(bound.arguments))
        with self._lock:
            self._calls.append(call)

    def __repr__(self) -> str:
        return f"Recording({self._protocol.__name__}, calls={len(self._calls)})"
