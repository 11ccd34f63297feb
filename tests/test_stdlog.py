"""Tests for sharedconfig.stdlog: rendering, levels, bound fields, secret redaction and the null logger.

Records are captured with pytest's caplog on a logger name used only by these tests.
"""

from __future__ import annotations

import logging

import pytest

from sharedconfig.stdlog import REDACTED, NullLogger, StdlibLogger, is_secret_key
from sharedconfig.tracecontext import TraceContext, use

NAME = "sharedconfig.tests.stdlog"


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields StdlibLogger attached to a record through ``extra``."""
    fields: dict[str, object] = vars(record)["fields"]
    return fields


@pytest.fixture
def caplog_debug(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog capturing everything from the test logger."""
    caplog.set_level(logging.DEBUG, logger=NAME)
    return caplog


class TestStdlibLogger:
    """StdlibLogger writes logfmt-style messages with structured fields to stdlib logging."""

    def test_levels_map_to_logging_levels(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """debug/info/warning/error/critical emit at the matching logging levels."""
        logger = StdlibLogger(NAME)
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        assert [(r.levelno, r.getMessage()) for r in caplog_debug.records] == [
            (logging.DEBUG, "d"),
            (logging.INFO, "i"),
            (logging.WARNING, "w"),
            (logging.ERROR, "e"),
            (logging.CRITICAL, "c"),
        ]

    def test_fields_are_rendered_and_passed_as_extra(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """Fields appear as key=value after the message and as the record's ``fields`` attribute."""
        StdlibLogger(NAME).info("config loaded", files=3, duration=0.5, ok=True)
        record = caplog_debug.records[0]
        assert record.getMessage() == "config loaded files=3 duration=0.5 ok=True"
        assert fields_of(record) == {"files": 3, "duration": 0.5, "ok": True}

    def test_values_needing_quotes_are_json_quoted(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """Values with spaces, quotes, equals signs, backslashes or nothing at all are quoted and escaped."""
        StdlibLogger(NAME).info("m", a="two words", b='say "hi"', c="k=v", d="", e="line\nbreak", f="a\\b")
        assert caplog_debug.records[0].getMessage() == (
            'm a="two words" b="say \\"hi\\"" c="k=v" d="" e="line\\nbreak" f="a\\\\b"'
        )

    def test_non_ascii_is_kept(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """Non-ASCII values are written as they are, not as escapes."""
        StdlibLogger(NAME).info("m", city="Zürich", note="東京 駅")
        assert caplog_debug.records[0].getMessage() == 'm city=Zürich note="東京 駅"'

    def test_bind_merges_fields_and_leaves_the_original_alone(
        self, caplog_debug: pytest.LogCaptureFixture
    ) -> None:
        """bind returns a new logger whose fields come first and may be overridden per call."""
        root = StdlibLogger(NAME, service="api")
        child = root.bind(request_id="r1")
        child.info("one", status=200)
        child.info("two", service="worker")
        root.info("three")
        assert [r.getMessage() for r in caplog_debug.records] == [
            "one service=api request_id=r1 status=200",
            "two service=worker request_id=r1",
            "three service=api",
        ]
        assert child.name == root.name == NAME
        assert root.fields == {"service": "api"}
        assert "request_id" in repr(child)

    @pytest.mark.parametrize(
        "key",
        [
            "password",
            "db_password",
            "PASSWORD",
            "token",
            "authToken",
            "client_secret",
            "api_key",
            "X-Api-Key",
            "apikey",
            "Authorization",
            "webhook_url",
            "slack_webhook_url",
            "credentials",
            "private_key",
        ],
    )
    def test_secret_fields_are_redacted(self, key: str, caplog_debug: pytest.LogCaptureFixture) -> None:
        """A field whose name looks secret is written as asterisks, in the message and in extra."""
        StdlibLogger(NAME).info("connect", **{key: "canary-s3cr3t"}, host="db1")
        record = caplog_debug.records[0]
        assert "canary-s3cr3t" not in record.getMessage()
        assert record.getMessage() == f"connect {key}={REDACTED} host=db1"
        assert fields_of(record) == {key: REDACTED, "host": "db1"}

    def test_bound_secret_fields_are_redacted(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """Secrets given to bind are redacted too."""
        StdlibLogger(NAME, token="canary-s3cr3t").bind(api_key="canary-2").info("x")
        assert "canary" not in caplog_debug.text
        assert "canary" not in repr(fields_of(caplog_debug.records[0]))

    @pytest.mark.parametrize(
        "key", ["user", "host", "keyboard", "token_header", "password_file", "tokenizer"]
    )
    def test_is_secret_key(self, key: str) -> None:
        """Ordinary names and names of a secret's place are not secret; any other with a secret word is."""
        assert is_secret_key(key) is (key == "tokenizer")

    def test_disabled_level_does_no_work(self, caplog: pytest.LogCaptureFixture) -> None:
        """Below the logger's level nothing is emitted and field values are never rendered."""
        caplog.set_level(logging.WARNING, logger=NAME)

        class Explosive:
            """Fails if rendered."""

            def __str__(self) -> str:
                raise AssertionError("rendered a disabled record")

        StdlibLogger(NAME).debug("quiet", value=Explosive())
        assert caplog.records == []

    def test_record_points_at_the_caller(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """The record's file and function are the caller's, not stdlog's."""
        StdlibLogger(NAME).bind(a=1).warning("where")
        record = caplog_debug.records[0]
        assert record.filename == "test_stdlog.py"
        assert record.funcName == "test_record_points_at_the_caller"

    def test_trace_ids_are_added_inside_a_span(self, caplog_debug: pytest.LogCaptureFixture) -> None:
        """Inside a trace context, trace_id and span_id are added unless the call gives its own."""
        with use(TraceContext("t" * 32, "s" * 16)):
            StdlibLogger(NAME).info("traced")
            StdlibLogger(NAME).info("own", trace_id="mine")
        StdlibLogger(NAME).info("untraced")
        first, second, third = caplog_debug.records
        assert fields_of(first) == {"trace_id": "t" * 32, "span_id": "s" * 16}
        assert fields_of(second)["trace_id"] == "mine"
        assert fields_of(third) == {}

    def test_default_name(self) -> None:
        """Without a name the logger writes to the 'sharedconfig' logger."""
        assert StdlibLogger().name == "sharedconfig"


def test_null_logger_discards_everything(caplog: pytest.LogCaptureFixture) -> None:
    """NullLogger emits nothing and bind returns the same logger."""
    caplog.set_level(logging.DEBUG)
    logger = NullLogger()
    logger.critical("x", password="p")
    assert logger.bind(a=1) is logger
    assert caplog.records == []
