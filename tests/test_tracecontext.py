"""Tests for sharedconfig.tracecontext: the current trace, ``use()`` blocks, and W3C traceparent helpers.

Also that errors read it, and that the documented ``errors.current_trace`` is the same variable.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedconfig import errors, tracecontext
from sharedconfig.tracecontext import TraceContext, current, format_traceparent, parse_traceparent, use

TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
HEADER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TestCurrent:
    def test_none_outside_any_trace(self) -> None:
        """Nothing is current until some code makes a trace current."""
        assert current() is None

    def test_use_sets_for_the_block_and_restores_nested(self) -> None:
        """Nested blocks each see their own trace and the outer one comes back after each."""
        inner = TRACE.child()
        with use(TRACE) as entered:
            assert entered is TRACE and current() is TRACE
            with use(inner):
                assert current() is inner
            assert current() is TRACE
            with use(None):
                assert current() is None
            assert current() is TRACE
        assert current() is None

    def test_restored_when_the_block_raises(self) -> None:
        """An exception leaving the block still restores the previous trace."""
        with pytest.raises(RuntimeError), use(TRACE):
            raise RuntimeError("inside")
        assert current() is None

    def test_tasks_inherit_and_other_threads_do_not(self) -> None:
        """A task started inside the block and a copied context see the trace; a plain new thread does not."""
        seen: dict[str, TraceContext | None] = {}

        async def task() -> None:
            seen["task"] = current()

        async def main() -> None:
            with use(TRACE):
                await asyncio.create_task(task())

        asyncio.run(main())
        with use(TRACE):
            context = contextvars.copy_context()
            thread = threading.Thread(target=lambda: seen.setdefault("thread", current()))
            thread.start()
            thread.join()
        seen["copied"] = context.run(current)
        assert seen == {"task": TRACE, "thread": None, "copied": TRACE}

    def test_errors_carry_the_current_ids(self) -> None:
        """A SharedConfigError made inside a trace holds its ids; outside, empty strings."""
        with use(TRACE):
            inside = errors.SharedConfigError("x")
        outside = errors.SharedConfigError("y")
        assert (inside.trace_id, inside.span_id) == (TRACE.trace_id, TRACE.span_id)
        assert (outside.trace_id, outside.span_id) == ("", "")

    def test_errors_current_trace_is_the_same_variable(self) -> None:
        """The documented sharedconfig.errors.current_trace is this module's variable, not a second one."""
        assert errors.current_trace is tracecontext.current_trace
        token = errors.current_trace.set(TRACE)
        try:
            assert current() is TRACE
        finally:
            errors.current_trace.reset(token)


class TestIds:
    def test_new_trace_has_w3c_ids(self) -> None:
        """A new trace has 32 and 16 lowercase hex digits, sampled by default, and differs each time."""
        trace = TraceContext.new()
        assert re.fullmatch("[0-9a-f]{32}", trace.trace_id)
        assert re.fullmatch("[0-9a-f]{16}", trace.span_id)
        assert trace.sampled
        assert TraceContext.new().trace_id != trace.trace_id
        assert not TraceContext.new(sampled=False).sampled

    def test_child_keeps_trace_and_flag_with_a_new_span(self) -> None:
        """A child span shares the trace id and the sampled flag and has its own span id."""
        parent = TraceContext(TRACE.trace_id, TRACE.span_id, sampled=False)
        child = parent.child()
        assert (child.trace_id, child.sampled) == (parent.trace_id, False)
        assert child.span_id != parent.span_id and re.fullmatch("[0-9a-f]{16}", child.span_id)

    def test_is_a_frozen_value(self) -> None:
        """Trace contexts compare by value and cannot be changed."""
        assert TraceContext("a", "b") == TraceContext("a", "b", sampled=True)
        with pytest.raises(AttributeError):
            TRACE.span_id = "x"  # type: ignore[misc]


class TestTraceparent:
    def test_format(self) -> None:
        """The header is version 00, the ids and the sampled flag."""
        assert format_traceparent(TRACE) == HEADER
        assert TraceContext(TRACE.trace_id, TRACE.span_id, sampled=False).traceparent == HEADER[:-2] + "00"

    def test_parse(self) -> None:
        """A valid header gives its ids and flag; surrounding whitespace is ignored; other flag bits too."""
        assert parse_traceparent(HEADER) == TRACE
        assert parse_traceparent(f"  {HEADER}\t") == TRACE
        assert parse_traceparent(HEADER[:-2] + "00") == TraceContext(TRACE.trace_id, TRACE.span_id, False)
        assert parse_traceparent(HEADER[:-2] + "03") == TRACE

    def test_a_later_version_may_add_fields(self) -> None:
        """Version 01 with a field after the flags still parses (the extra field is ignored)."""
        assert parse_traceparent("01" + HEADER[2:] + "-what-comes-next") == TRACE
        assert parse_traceparent("01" + HEADER[2:]) == TRACE

    @pytest.mark.parametrize(
        "header",
        [
            "",
            "garbage",
            HEADER.upper(),  # hex must be lowercase
            "ff" + HEADER[2:],  # version ff is invalid
            HEADER + "-extra",  # version 00 has exactly four fields
            "01" + HEADER[2:] + "x",  # a later version's extra fields start with a dash
            "00-" + "0" * 32 + "-00f067aa0ba902b7-01",  # all-zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",  # all-zero span id
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  # misplaced dash
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  # bad flags
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # bad version
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  # not dashes
        ],
    )
    def test_invalid_headers_give_none(self, header: str) -> None:
        """Anything the W3C rules reject parses to None, so the receiver starts a new trace."""
        assert parse_traceparent(header) is None

    @given(st.booleans())
    def test_format_then_parse_round_trips(self, sampled: bool) -> None:
        """Any new trace survives formatting and parsing unchanged."""
        trace = TraceContext.new(sampled=sampled)
        assert parse_traceparent(trace.traceparent) == trace
