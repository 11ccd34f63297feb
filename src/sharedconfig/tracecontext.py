"""The current trace and span ids: one context variable that logging, errors, events and middleware read.

Foundation layer (stdlib only): tracing sets it with ``use()``; W3C ``traceparent`` helpers live here too.
``span(name, **attributes)`` is the seam any layer (config included) opens spans through: a no-op until a
tracer is installed with ``set_tracer`` (``sharedconfig.monitoring.tracing`` installs OpenTelemetry's).
An installed tracer also answers ``current()`` (so spans opened by other code through its own API are seen)
and follows ``use()`` (so what that code opens inside the block is a child of the trace made current).
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, final

__all__ = [
    "AttributeValue",
    "TraceContext",
    "Tracer",
    "current",
    "current_trace",
    "format_traceparent",
    "installed_tracer",
    "parse_traceparent",
    "set_tracer",
    "span",
    "use",
]

_HEX: Final = frozenset("0123456789abcdef")
_TRACE_ID_LEN: Final = 32
_SPAN_ID_LEN: Final = 16
_VERSION_00_LEN: Final = 55  # "00-" + 32 + "-" + 16 + "-" + 2
_SAMPLED: Final = 0x01


def _random_id(bits: int) -> str:
    # ids are identifiers, not secrets: ``random`` is what OpenTelemetry's SDK uses, and never all zeros;
    # imported here because only tracers make ids, and errors.py (imported everywhere) imports this module
    import random

    value = 0
    while value == 0:
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The trace a piece of work belongs to and the span it runs in.

    W3C Trace Context spells ``trace_id`` as 32 and ``span_id`` as 16 lowercase hex digits;
    ``parse_traceparent`` only accepts those, the constructor takes any ids (other tracers' ids, tests).
    ``sampled`` is the traceparent's sampled flag: whether the trace is being recorded.
    """

    trace_id: str
    span_id: str
    sampled: bool = True

    @classmethod
    def new(cls, *, sampled: bool = True) -> TraceContext:
        """A new trace with random W3C ids: the root of a trace started here."""
        return cls(_random_id(128), _random_id(64), sampled)

    def child(self) -> TraceContext:
        """The same trace with a new random span id: a span started inside this one."""
        return TraceContext(self.trace_id, _random_id(64), self.sampled)

    @property
    def traceparent(self) -> str:
        """This context as a W3C ``traceparent`` header value (``format_traceparent``)."""
        return format_traceparent(self)


current_trace: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar(
    "sharedconfig_current_trace", default=None
)
"""The context variable itself; prefer ``current()`` to read it and ``use()`` to set it for a block."""


def current() -> TraceContext | None:
    """The trace context of the code running now, or None outside any trace.

    With a tracer installed, its current span when it has one (a span opened through its own API
    counts), else the variable.
    """
    tracer = _tracer
    if tracer is not None:
        found = tracer.current()
        if found is not None:
            return found
    return current_trace.get()


class use:  # lower case: it reads as a function, ``with use(trace):``
    """Context manager making ``trace`` current for the block, and the previous one current again after.

    ``use(None)`` runs the block outside any trace. The variable is a ``contextvars.ContextVar``: tasks
    and ``contextvars.copy_context()`` runs started inside the block inherit the trace. Yields ``trace``.
    An installed tracer is told too (``Tracer.attach``), so spans it opens in the block are children of
    ``trace``.
    """

    __slots__ = ("_attached", "_token", "_trace", "_tracer")

    def __init__(self, trace: TraceContext | None) -> None:
        self._trace = trace
        self._token: contextvars.Token[TraceContext | None] | None = None
        self._tracer: Tracer | None = None
        self._attached: object = None

    def __enter__(self) -> TraceContext | None:
        self._token = current_trace.set(self._trace)
        tracer = _tracer
        if tracer is not None:
            self._attached = tracer.attach(self._trace)
            self._tracer = tracer
        return self._trace

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tracer = self._tracer
        if tracer is not None:
            self._tracer = None
            tracer.detach(self._attached)
        if self._token is not None:
            current_trace.reset(self._token)
            self._token = None


def format_traceparent(trace: TraceContext) -> str:
    """The W3C ``traceparent`` header value of ``trace``: ``00-<trace_id>-<span_id>-<flags>``."""
    return f"00-{trace.trace_id}-{trace.span_id}-{'01' if trace.sampled else '00'}"


def _is_hex_id(value: str, length: int) -> bool:
    return len(value) == length and _HEX.issuperset(value) and value != "0" * length


def parse_traceparent(header: str) -> TraceContext | None:
    """The trace context in a W3C ``traceparent`` header value, or None when it is not a valid one.

    Follows the W3C rules: lowercase hex ids that are not all zeros, version ``ff`` is invalid, version
    ``00`` has exactly four fields, and a later version may add fields after the flags (ignored). A
    receiver that gets None starts a new trace, as the recommendation says.
    """
    value = header.strip()
    if len(value) < _VERSION_00_LEN:
        return None
    version, trace_id, span_id, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    if not _HEX.issuperset(version) or version == "ff":
        return None
    if version == "00" and len(value) != _VERSION_00_LEN:
        return None
    if len(value) > _VERSION_00_LEN and value[_VERSION_00_LEN] != "-":
        return None
    if not (_is_hex_id(trace_id, _TRACE_ID_LEN) and _is_hex_id(span_id, _SPAN_ID_LEN)):
        return None
    if not _HEX.issuperset(flags):
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & _SAMPLED))


AttributeValue = str | bool | int | float
"""What a span attribute may hold (OpenTelemetry's primitive attribute values)."""


class Tracer(Protocol):
    """What ``span()`` delegates to once installed, and what ``current()`` and ``use()`` consult.

    ``span`` opens a span as a child of the current one; its context manager makes the span's trace
    context current (the variable and the tracer's own context) for the block, records an exception that
    leaves the block on the span (error status), and yields the context (``sampled`` False when the
    trace is not recorded). ``current`` is the tracer's own current span, None when it has none;
    ``attach`` makes a context current in the tracer's own context and returns what ``detach`` needs to
    undo it (``use()`` calls both, in the same context).
    """

    def span(
        self, name: str, attributes: dict[str, AttributeValue]
    ) -> contextlib.AbstractContextManager[TraceContext | None]:
        """Open ``name`` with ``attributes``; ends when the block does."""
        ...

    def current(self) -> TraceContext | None:
        """The tracer's current span as a trace context, or None when it has no valid one."""
        ...

    def attach(self, trace: TraceContext | None) -> object:
        """Make ``trace`` (None: no trace) current in the tracer's context; returns the undo token."""
        ...

    def detach(self, token: object) -> None:
        """Undo the ``attach`` that returned ``token``."""
        ...


_tracer: Tracer | None = None


def set_tracer(tracer: Tracer | None) -> Tracer | None:
    """Install ``tracer`` for ``span()`` process-wide (None: spans are no-ops again); returns the previous."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def installed_tracer() -> Tracer | None:
    """The tracer ``set_tracer`` installed, or None."""
    return _tracer


@final
class _NoSpan:
    """``span()`` without a tracer: one shared object, nothing to set up or undo (no generator)."""

    __slots__ = ()

    def __enter__(self) -> TraceContext | None:
        return current_trace.get()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


def span(
    name: str, /, **attributes: AttributeValue
) -> contextlib.AbstractContextManager[TraceContext | None]:
    """A span called ``name`` around a block: ``with span("config.load", files=2): ...``.

    Without an installed tracer it changes nothing and yields the current context (maybe None).
    """
    tracer = _tracer
    if tracer is None:
        return _NO_SPAN
    return tracer.span(name, attributes)
