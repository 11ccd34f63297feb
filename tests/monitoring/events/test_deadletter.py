"""The dead-letter file: JSON lines of structured events, appended without raising, read back in order."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sharedconfig.monitoring.events import Event, UndecodableEvent
from sharedconfig.monitoring.events.deadletter import (
    REASON_ATTRIBUTE,
    TIME_ATTRIBUTE,
    DeadLetterError,
    DeadLetterFile,
    read,
)
from sharedconfig.testing import FakeClock, RecordingLogger

EPOCH = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def events(n: int, **extensions: str) -> list[Event]:
    """``n`` small events, each with ``extensions``."""
    return [Event("com.example.thing", "/tests", data={"n": i}, extensions=extensions) for i in range(n)]


class TestAppend:
    """append(events, reason): one structured event per line, with the reason, never raising."""

    def test_lines_are_structured_events(self, tmp_path: Path) -> None:
        """Each line is a CloudEvents JSON object carrying the reason and the clock's time."""
        path = tmp_path / "dead.jsonl"
        letters = DeadLetterFile(path, fsync=False, clock=FakeClock(epoch=EPOCH))
        batch = events(2)
        assert letters.append(batch, "HTTP 503 from https://h") == 2
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert [line["id"] for line in lines] == [e.id for e in batch]
        assert all(line["specversion"] == "1.0" for line in lines)
        assert lines[0][REASON_ATTRIBUTE] == "HTTP 503 from https://h"
        assert lines[0][TIME_ATTRIBUTE] == "2026-12-07T12:00:00Z"
        assert letters.written == 2 and letters.lost == 0

    def test_appends_and_creates_directory(self, tmp_path: Path) -> None:
        """A second append adds to the file (in a directory created on first use)."""
        path = tmp_path / "sub" / "dead.jsonl"
        letters = DeadLetterFile(path, fsync=True)
        first, second = events(1), events(2)
        letters.append(first, "a")
        letters.append(second, "b")
        assert [e.id for e in read(path)] == [e.id for e in first + second]

    def test_reason_masked_and_capped(self, tmp_path: Path) -> None:
        """A URL password in the reason is masked and a long reason is cut to 500 characters."""
        letters = DeadLetterFile(tmp_path / "d.jsonl", fsync=False)
        letters.append(events(1), "failed https://u:hunter2-canary@h/x " + "x" * 1000)
        line = json.loads((tmp_path / "d.jsonl").read_text())
        assert "hunter2-canary" not in line[REASON_ATTRIBUTE] and len(line[REASON_ATTRIBUTE]) == 500

    def test_unwritable_reported_once_and_counted(self, tmp_path: Path) -> None:
        """A path that cannot be written: append returns 0, counts the events lost, logs one error only."""
        (tmp_path / "file").write_text("")
        logger = RecordingLogger()
        letters = DeadLetterFile(tmp_path / "file" / "dead.jsonl", logger=logger)
        assert letters.append(events(2), "r") == 0
        assert letters.append(events(3), "r") == 0
        assert letters.lost == 5 and letters.failures == 2 and letters.written == 0
        assert len(logger.messages("error")) == 1

    def test_unencodable_event_skipped(self, tmp_path: Path) -> None:
        """An event whose data is not JSON is counted lost; the others of the call are written."""
        letters = DeadLetterFile(tmp_path / "d.jsonl", fsync=False, logger=RecordingLogger())
        bad = Event("t", "/s", data=float("inf"))
        assert letters.append([bad, *events(1)], "r") == 1
        assert letters.lost == 1 and letters.written == 1

    def test_concurrent_appends_do_not_interleave(self, tmp_path: Path) -> None:
        """Four threads appending 50 batches each leave 400 whole lines."""
        path = tmp_path / "d.jsonl"
        letters = DeadLetterFile(path, fsync=False)

        def work() -> None:
            for _ in range(50):
                letters.append(events(2, pad="x" * 2000), "r")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(list(read(path))) == 400 == letters.written


class TestRead:
    """read(path): the events in order, as they were before they were dead-lettered."""

    def test_round_trip_without_added_attributes(self, tmp_path: Path) -> None:
        """Events read back equal the events appended (their own extensions kept, ours taken off)."""
        path = tmp_path / "d.jsonl"
        batch = events(3, tenant="acme")
        DeadLetterFile(path, fsync=False).append(batch, "why")
        assert list(read(path)) == batch

    def test_blank_lines_and_torn_tail(self, tmp_path: Path) -> None:
        """Blank lines are skipped, and so is a last line cut short without its newline."""
        path = tmp_path / "d.jsonl"
        batch = events(2)
        DeadLetterFile(path, fsync=False).append(batch, "r")
        with path.open("ab") as file:
            file.write(b"\n\n" + b'{"specversion":"1.0","id":"x","sou')
        assert list(read(path)) == batch

    def test_bad_line_names_file_and_line(self, tmp_path: Path) -> None:
        """A line that is not an event raises VALIDATION_052 located at file:line."""
        path = tmp_path / "d.jsonl"
        DeadLetterFile(path, fsync=False).append(events(1), "r")
        with path.open("ab") as file:
            file.write(b"not json\n")
        with pytest.raises(UndecodableEvent) as caught:
            list(read(path))
        assert caught.value.code == "VALIDATION_052" and str(caught.value).startswith(f"{path}:2")

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that cannot be opened raises DELIVERY_004 naming it."""
        with pytest.raises(DeadLetterError) as caught:
            list(read(tmp_path / "nope.jsonl"))
        assert caught.value.code == "DELIVERY_004" and "nope.jsonl" in str(caught.value)
