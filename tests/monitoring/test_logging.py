"""Tests for sharedconfig.monitoring.logging: JSON and console lines, levels, bind, redaction, trace ids.

Also stdlib routing into the same chain and isolation between loggers; every logger writes to a StringIO.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
import structlog
from pydantic import SecretStr
from structlog.typing import EventDict

from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.logging import (
    StructLogger,
    capture_stdlib,
    default_processors,
    make_logger,
    module_logger,
)
from sharedconfig.monitoring.settings import LoggingSettings
from sharedconfig.redaction import REDACTED
from sharedconfig.stdlog import StdlibLogger
from sharedconfig.testing import LogRecord
from sharedconfig.testing.compliance import LoggerContract
from sharedconfig.tracecontext import TraceContext, use

CANARY = "canary-7f3a-do-not-log"
TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


class TerminalIO(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        """Claim to be a TTY."""
        return True


class Unprintable:
    """A value whose ``str`` and ``repr`` both raise."""

    def __str__(self) -> str:
        """Fail."""
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        """Fail."""
        raise RuntimeError("no repr")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line written to ``stream``, parsed as JSON."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def json_logger(stream: io.StringIO, level: str = "debug", **bound: str) -> StructLogger:
    """A JSON-lines logger at ``level`` writing to ``stream``, with ``bound`` as module/component."""
    settings = LoggingSettings(level=level, format="json")
    return make_logger(settings, stream=stream, **bound)


@pytest.fixture
def stream() -> io.StringIO:
    """A fresh in-memory output stream."""
    return io.StringIO()


@pytest.fixture
def root_state() -> Iterator[tuple[int, list[logging.Handler]]]:
    """The root logger's level and handlers before the test, checked unchanged after it."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    yield before
    assert (root.level, list(root.handlers)) == before


class TestStructLoggerContract(LoggerContract):
    """StructLogger passes the Logger contract, read back from the JSON lines it writes."""

    stream: io.StringIO

    def make(self) -> Logger:
        """A JSON logger at debug level writing to a StringIO."""
        self.stream = io.StringIO()
        return json_logger(self.stream)

    def records(self, logger: Logger) -> Sequence[LogRecord]:
        """Each line: its level and event, and the other keys but the timestamp as fields."""
        found = []
        for line in lines(self.stream):
            level, event = line.pop("level"), line.pop("event")
            line.pop("timestamp", None)
            found.append(LogRecord(str(level), str(event), line))
        return found


class TestJsonLines:
    """Lines are JSON objects with timestamp, level, event and the bound and call fields."""

    def test_line_has_standard_keys_module_and_component(self, stream: io.StringIO) -> None:
        """A line parses as JSON and starts with an ISO UTC timestamp, level, event, module, component."""
        json_logger(stream, module="config", component="loader").info("config loaded", files=3)
        (line,) = lines(stream)
        assert list(line)[:5] == ["timestamp", "level", "event", "module", "component"]
        assert line["level"] == "info"
        assert line["event"] == "config loaded"
        assert line["module"] == "config" and line["component"] == "loader"
        assert line["files"] == 3
        stamp = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
        assert str(line["timestamp"]).endswith("Z") and stamp.utcoffset() == timedelta(0)

    def test_each_level_is_named_by_its_method(self, stream: io.StringIO) -> None:
        """debug/info/warning/error/critical write the level names of the methods."""
        logger = json_logger(stream)
        for method in (logger.debug, logger.info, logger.warning, logger.error, logger.critical):
            method("m")
        assert [line["level"] for line in lines(stream)] == ["debug", "info", "warning", "error", "critical"]

    def test_values_json_cannot_hold_are_rendered_with_str(self, stream: io.StringIO) -> None:
        """Exceptions, timedeltas, sets, NaN, non-string keys and cycles render without raising."""
        cyclic: dict[str, object] = {}
        cyclic["self"] = cyclic
        json_logger(stream).info(
            "odd values",
            error=ValueError("boom"),
            duration=timedelta(seconds=1.5),
            tags={"a"},
            ratio=float("nan"),
            by_id={1: "one"},
            cyclic=cyclic,
            when=datetime(2026, 1, 2, 3, 4, 5),
        )
        (line,) = lines(stream)
        assert line["error"] == "boom"
        assert line["duration"] == "0:00:01.500000"
        assert line["tags"] == ["a"]
        assert line["ratio"] == "nan"
        assert line["by_id"] == {"1": "one"}
        assert line["cyclic"] == {"self": "<cycle>"}
        assert line["when"] == "2026-01-02T03:04:05"

    def test_unprintable_values_never_raise(self, stream: io.StringIO) -> None:
        """A value whose str and repr raise still yields a line, at the top level and nested."""
        logger = json_logger(stream)
        logger.info("bad value", thing=Unprintable(), nested={"thing": Unprintable()})
        (line,) = lines(stream)
        assert line["event"] == "bad value"
        assert line["thing"] == "<unprintable Unprintable>"

    def test_fields_named_like_pipeline_keys_are_kept_with_an_underscore(self, stream: io.StringIO) -> None:
        """Fields called event, level or timestamp do not replace the line's own, nor are they lost."""
        json_logger(stream).bind(level="bound").info("m", event="e", timestamp="t", message="kept")
        (line,) = lines(stream)
        assert (line["event"], line["level"]) == ("m", "info")
        assert (line["event_"], line["level_"], line["timestamp_"]) == ("e", "bound", "t")
        assert line["message"] == "kept"

    def test_exc_info_exception_renders_a_traceback(self, stream: io.StringIO) -> None:
        """An exception passed as exc_info appears as its formatted traceback under ``exception``."""
        logger = json_logger(stream)
        try:
            raise KeyError("missing")
        except KeyError as error:
            logger.error("lookup failed", exc_info=error)
            logger.error("lookup failed again", exc_info=True)
        first, second = lines(stream)
        assert "Traceback (most recent call last)" in str(first["exception"])
        assert "KeyError: 'missing'" in str(first["exception"])
        assert second["exception"] == first["exception"]
        assert "exc_info" not in first

    def test_exc_info_that_is_not_an_exception_is_an_ordinary_field(self, stream: io.StringIO) -> None:
        """An exc_info value naming no exception is kept as the field ``exc_info_``."""
        json_logger(stream).info("m", exc_info="not an exception")
        (line,) = lines(stream)
        assert line["exc_info_"] == "not an exception"
        assert "exception" not in line

    def test_a_closed_stream_does_not_raise(self) -> None:
        """Logging to a closed stream drops the line instead of raising into the caller."""
        closed = io.StringIO()
        logger = json_logger(closed)
        closed.close()
        logger.error("nowhere to go")


class TestLevels:
    """The level from the settings filters records before any work is done."""

    def test_records_below_the_level_are_not_written(self, stream: io.StringIO) -> None:
        """At warning, debug and info are dropped and warning and above are written."""
        logger = json_logger(stream, level="warning")
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.critical("c")
        assert [line["event"] for line in lines(stream)] == ["w", "c"]

    def test_default_level_is_info(self, stream: io.StringIO) -> None:
        """Default settings write info and drop debug."""
        logger = make_logger(stream=stream)
        logger.debug("d")
        logger.info("i")
        assert [line["event"] for line in lines(stream)] == ["i"]
        assert logger.level == logging.INFO

    def test_is_enabled_for_takes_names_and_numbers(self) -> None:
        """is_enabled_for answers for level names and stdlib level numbers alike."""
        logger = json_logger(io.StringIO(), level="error")
        assert not logger.is_enabled_for("warning")
        assert logger.is_enabled_for(logging.ERROR)
        assert logger.is_enabled_for("CRITICAL")

    def test_unknown_level_name_is_rejected(self) -> None:
        """Building a logger with an unknown level name raises ValueError naming the valid ones."""
        with pytest.raises(ValueError, match="unknown log level 'loud'"):
            StructLogger(default_processors(), stream=io.StringIO(), level="loud")


class TestBind:
    """bind adds fields to a new logger and leaves the original as it was."""

    def test_bind_merges_and_call_fields_override(self, stream: io.StringIO) -> None:
        """Bound fields appear on every line; a call field of the same name wins for that line."""
        child = json_logger(stream).bind(service="api").bind(request_id="r1")
        child.info("one")
        child.info("two", service="worker")
        one, two = lines(stream)
        assert (one["service"], one["request_id"]) == ("api", "r1")
        assert (two["service"], two["request_id"]) == ("worker", "r1")
        assert dict(child.fields) == {"service": "api", "request_id": "r1"}

    def test_bind_leaves_the_original_unchanged(self, stream: io.StringIO) -> None:
        """The logger bind was called on writes none of the new fields and keeps its own."""
        root = json_logger(stream, module="config")
        root.bind(request_id="r1", module="other")
        root.info("plain")
        (line,) = lines(stream)
        assert line["module"] == "config"
        assert "request_id" not in line
        assert dict(root.fields) == {"module": "config"}

    def test_bound_logger_keeps_stream_and_level(self, stream: io.StringIO) -> None:
        """A bound logger writes to the same stream and filters at the same level."""
        child = json_logger(stream, level="warning").bind(a=1)
        child.info("dropped")
        child.error("kept")
        assert [line["event"] for line in lines(stream)] == ["kept"]
        assert child.level == logging.WARNING

    def test_module_logger_binds_module_and_component(self, stream: io.StringIO) -> None:
        """module_logger adds module and component, and only module when component is empty."""
        base = json_logger(stream)
        module_logger(base, "config", "loader").info("both")
        module_logger(base, "http").info("module only")
        both, only = lines(stream)
        assert (both["module"], both["component"]) == ("config", "loader")
        assert only["module"] == "http" and "component" not in only

    def test_module_logger_works_on_any_logger(self) -> None:
        """module_logger accepts any Logger, such as the stdlib one, and returns a Logger."""
        bound = module_logger(StdlibLogger("sharedconfig.tests.logging"), "config", "loader")
        assert isinstance(bound, StdlibLogger)
        assert dict(bound.fields) == {"module": "config", "component": "loader"}


class TestRedaction:
    """Secrets never reach the output, whatever the key's case, depth or the value's type."""

    @pytest.mark.parametrize("render", ["json", "console"])
    def test_canary_never_appears(self, render: str) -> None:
        """A canary under secret-looking keys, nested, in lists, bound or as SecretStr is never written."""
        stream = io.StringIO()
        settings = LoggingSettings(format=render)
        logger = make_logger(settings, stream=stream).bind(db_password=CANARY)
        logger.info(
            "request",
            api_key=CANARY,
            password=CANARY,
            Authorization=f"Bearer {CANARY}",
            headers={"Authorization": f"Bearer {CANARY}", "Accept": "text/plain"},
            upstreams=[{"token": CANARY}],
            deep={"a": {"b": {"client_secret": CANARY}}},
            opaque=SecretStr(CANARY),
            in_list=[SecretStr(CANARY)],
            **{"X-Api-Key": CANARY},
        )
        output = stream.getvalue()
        assert CANARY not in output
        assert REDACTED in output
        assert "text/plain" in output

    def test_redacted_fields_keep_their_keys(self, stream: io.StringIO) -> None:
        """Redaction replaces the value and keeps the key, so a reader sees the field was there."""
        json_logger(stream).info("m", api_key=CANARY, opaque=SecretStr(CANARY), token_header="X-Token")
        (line,) = lines(stream)
        assert line["api_key"] == REDACTED and line["opaque"] == REDACTED
        assert line["token_header"] == "X-Token"

    def test_stdlib_extras_are_redacted(self, stream: io.StringIO, root_state: object) -> None:
        """A secret passed to stdlib logging through ``extra`` is redacted like any field."""
        uninstall = capture_stdlib(json_logger(stream))
        try:
            logging.getLogger("sharedconfig.tests.extra").warning("login", extra={"password": CANARY})
        finally:
            uninstall()
        assert CANARY not in stream.getvalue()
        assert lines(stream)[0]["password"] == REDACTED


class TestTraceIds:
    """trace_id and span_id come from ``sharedconfig.tracecontext`` inside a trace."""

    def test_ids_are_added_inside_a_trace_context(self, stream: io.StringIO) -> None:
        """Inside ``use(trace)`` both ids are on the line; outside, neither is."""
        logger = json_logger(stream)
        with use(TRACE):
            logger.info("inside")
        logger.info("outside")
        inside, outside = lines(stream)
        assert (inside["trace_id"], inside["span_id"]) == (TRACE.trace_id, TRACE.span_id)
        assert "trace_id" not in outside and "span_id" not in outside

    def test_callers_trace_id_wins(self, stream: io.StringIO) -> None:
        """A trace_id given by the caller is kept, as StdlibLogger does."""
        logger = json_logger(stream)
        with use(TRACE):
            logger.info("m", trace_id="mine")
        (line,) = lines(stream)
        assert (line["trace_id"], line["span_id"]) == ("mine", TRACE.span_id)


class TestCaptureStdlib:
    """Stdlib logging records go through the same chain while captured, and the root is restored after."""

    def test_stdlib_record_becomes_a_json_line(self, stream: io.StringIO, root_state: object) -> None:
        """A %-formatted warning from logger "x" is one line with logger "x" and the formatted message."""
        uninstall = capture_stdlib(json_logger(stream))
        try:
            logging.getLogger("x").warning("hi %s", "there", extra={"request_id": 7})
        finally:
            uninstall()
        (line,) = lines(stream)
        assert (line["logger"], line["event"], line["level"]) == ("x", "hi there", "warning")
        assert line["request_id"] == 7
        assert "timestamp" in line

    def test_stdlib_lines_keep_bound_fields_but_not_module_and_component(
        self, stream: io.StringIO, root_state: object
    ) -> None:
        """Routed records carry the logger's bound fields, but not the module and component it names."""
        logger = json_logger(stream, module="monitoring", component="hub").bind(service="api")
        uninstall = capture_stdlib(logger)
        try:
            logging.getLogger("x").warning("routed")
        finally:
            uninstall()
        logger.warning("direct")
        routed, direct = lines(stream)
        assert routed["service"] == "api" and "module" not in routed and "component" not in routed
        assert (direct["module"], direct["component"]) == ("monitoring", "hub")

    def test_uninstall_restores_the_root_logger_exactly(self, stream: io.StringIO) -> None:
        """After uninstall the root's level and handlers are as before and records are no longer routed."""
        root = logging.getLogger()
        before = (root.level, list(root.handlers))
        uninstall = capture_stdlib(json_logger(stream), "debug")
        assert root.level == logging.DEBUG and len(root.handlers) == len(before[1]) + 1
        uninstall()
        uninstall()  # a second call does nothing
        assert (root.level, list(root.handlers)) == before
        logging.getLogger("x").warning("after")
        assert stream.getvalue() == ""

    def test_exclusive_detaches_other_handlers_until_uninstall(
        self, stream: io.StringIO, root_state: object
    ) -> None:
        """With exclusive=True only our handler is on the root while captured; the others come back."""
        root = logging.getLogger()
        other = logging.NullHandler()
        root.addHandler(other)
        try:
            uninstall = capture_stdlib(json_logger(stream), exclusive=True)
            assert len(root.handlers) == 1 and other not in root.handlers
            uninstall()
            assert other in root.handlers
        finally:
            root.removeHandler(other)

    def test_exception_is_rendered_as_a_traceback_field(
        self, stream: io.StringIO, root_state: object
    ) -> None:
        """``logger.exception`` yields an error line whose ``exception`` field holds the traceback."""
        uninstall = capture_stdlib(json_logger(stream))
        try:
            try:
                raise RuntimeError("kaput")
            except RuntimeError:
                logging.getLogger("x").exception("job failed")
        finally:
            uninstall()
        (line,) = lines(stream)
        assert line["level"] == "error"
        assert "RuntimeError: kaput" in str(line["exception"])

    def test_level_filters_stdlib_records(self, stream: io.StringIO, root_state: object) -> None:
        """Records below the capture level are not written."""
        uninstall = capture_stdlib(json_logger(stream), "warning")
        try:
            logging.getLogger("x").info("quiet")
            logging.getLogger("x").error("loud")
        finally:
            uninstall()
        assert [line["event"] for line in lines(stream)] == ["loud"]

    def test_bad_format_arguments_do_not_raise(self, stream: io.StringIO, root_state: object) -> None:
        """A record whose %-arguments do not fit its message is still written, with message and args."""
        uninstall = capture_stdlib(json_logger(stream), exclusive=True)  # pytest's handlers would raise
        try:
            logging.getLogger("x").warning("count %d", "not a number")
        finally:
            uninstall()
        (line,) = lines(stream)
        assert str(line["event"]).startswith("count %d")

    def test_stdlib_logger_records_are_routed(self, stream: io.StringIO, root_state: object) -> None:
        """Records from sharedconfig's StdlibLogger arrive with their fields, secrets still redacted."""
        uninstall = capture_stdlib(json_logger(stream))
        try:
            StdlibLogger("sharedconfig.tests.routed").warning("hello", user="alice", password=CANARY)
        finally:
            uninstall()
        (line,) = lines(stream)
        assert line["logger"] == "sharedconfig.tests.routed"
        assert line["fields"] == {"user": "alice", "password": REDACTED}
        assert CANARY not in stream.getvalue()


class TestConsole:
    """The console format is readable text, colored only on a terminal."""

    def test_console_is_readable_without_color_off_a_terminal(self, stream: io.StringIO) -> None:
        """Console format on a non-TTY contains the message, level and fields and no escape codes."""
        make_logger(LoggingSettings(format="console"), stream=stream).warning("disk almost full", free=3)
        output = stream.getvalue()
        assert "disk almost full" in output and "warning" in output and "free=3" in output
        assert "\x1b[" not in output
        with pytest.raises(json.JSONDecodeError):
            json.loads(output)

    def test_console_shows_tracebacks(self, stream: io.StringIO) -> None:
        """An exception logged in console format is shown after the line."""
        logger = make_logger(LoggingSettings(format="console"), stream=stream)
        try:
            raise ValueError("bad input")
        except ValueError:
            logger.error("failed", exc_info=True)
        assert "ValueError: bad input" in stream.getvalue()

    def test_auto_is_json_off_a_terminal(self, stream: io.StringIO) -> None:
        """Format auto writes JSON lines to a stream that is not a TTY."""
        make_logger(LoggingSettings(format="auto"), stream=stream).info("m")
        assert lines(stream)[0]["event"] == "m"

    def test_auto_is_colored_console_on_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Format auto on a TTY writes the console view, with colors unless NO_COLOR is set."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        colored = TerminalIO()
        make_logger(stream=colored).info("hello terminal")
        assert "hello terminal" in colored.getvalue() and "\x1b[" in colored.getvalue()
        monkeypatch.setenv("NO_COLOR", "1")
        plain = TerminalIO()
        make_logger(stream=plain).info("hello terminal")
        assert "hello terminal" in plain.getvalue() and "\x1b[" not in plain.getvalue()


class TestIsolation:
    """Loggers share no state: each has its own stream, level and chain, and nothing global changes."""

    def test_two_loggers_with_different_streams_do_not_interfere(self) -> None:
        """Each logger writes only to its own stream, at its own level, with its own bound fields."""
        first_stream, second_stream = io.StringIO(), io.StringIO()
        first = json_logger(first_stream, level="debug", component="first")
        second = make_logger(LoggingSettings(level="error", format="console"), stream=second_stream)
        first.debug("to first")
        second.info("dropped by second")
        second.error("to second")
        assert [line["event"] for line in lines(first_stream)] == ["to first"]
        assert lines(first_stream)[0]["component"] == "first"
        assert "to second" in second_stream.getvalue()
        assert "first" not in second_stream.getvalue() and "dropped" not in second_stream.getvalue()

    def test_structlog_global_configuration_is_untouched(self) -> None:
        """Making and using loggers leaves structlog's global configuration as it was."""
        before = structlog.get_config()
        configured = structlog.is_configured()
        json_logger(io.StringIO()).info("m")
        make_logger(LoggingSettings(format="console"), stream=io.StringIO()).info("m")
        assert structlog.get_config() == before
        assert structlog.is_configured() == configured

    def test_custom_processor_chain(self, stream: io.StringIO) -> None:
        """A StructLogger built from its own chain runs exactly that chain."""

        def render(logger: object, method_name: str, event_dict: EventDict) -> str:
            """Render as ``method:event``."""
            return f"{method_name}:{event_dict['event']}"

        StructLogger([render], stream=stream).warning("custom")
        assert stream.getvalue() == "warning:custom\n"
