"""The event journal: record format, restart and acknowledgement, rotation, torn records, disk failures."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_faults import failing_opener

from sharedconfig.monitoring.events import journal as journal_module
from sharedconfig.monitoring.events.journal import MAGIC, FsyncPolicy, Journal
from sharedconfig.testing import FakeClock


def records(n: int, start: int = 0) -> list[bytes]:
    return [f"event-{i}".encode() for i in range(start, start + n)]


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


class TestRoundTrip:
    def test_records_come_back_in_order(self, tmp_path: Path) -> None:
        """What is appended is read back byte for byte, oldest first, in as many reads as it takes."""
        journal = Journal(tmp_path)
        assert journal.append(records(10)).written == 10
        assert journal.read(4) + journal.read(100) == records(10)
        assert journal.unread == 0
        journal.close()

    def test_restart_resends_only_what_was_not_acknowledged(self, tmp_path: Path) -> None:
        """After ack(4) and a restart, the six other records come back, and nothing else, exactly once."""
        journal = Journal(tmp_path)
        journal.append(records(10))
        journal.read(10)
        journal.ack(4)
        journal.close()
        again = Journal(tmp_path)
        assert (again.unread, again.read(100)) == (6, records(6, start=4))
        again.ack(6)
        again.close()
        with Journal(tmp_path) as third:
            assert third.read(100) == []

    def test_a_crash_between_read_and_ack_resends(self, tmp_path: Path) -> None:
        """At-least-once: records read but never acknowledged come back after a crash (no close)."""
        journal = Journal(tmp_path, fsync=FsyncPolicy.NEVER)
        journal.append(records(5))
        journal.read(5)
        with Journal(tmp_path) as after_crash:
            assert after_crash.read(100) == records(5)
        journal.close()

    def test_rewind_reads_unacknowledged_records_again(self, tmp_path: Path) -> None:
        """rewind() puts what was read but not acknowledged back in front of the unread records."""
        journal = Journal(tmp_path)
        journal.append(records(5))
        journal.read(3)
        journal.ack(1)
        journal.rewind()
        assert journal.read(100) == records(4, start=1)
        journal.close()

    @settings(max_examples=50, deadline=None)
    @given(payloads=st.lists(st.binary(max_size=300), max_size=40), acked=st.integers(0, 40))
    def test_any_payloads_survive_a_restart(
        self, tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes], acked: int
    ) -> None:
        """Any bytes (empty, newlines, NULs) are stored exactly, across segments and a restart after ack."""
        directory = tmp_path_factory.mktemp("j")
        journal = Journal(directory, segment_bytes=256, max_bytes=1 << 20)
        assert journal.append(payloads).written == len(payloads)
        journal.read(acked)
        journal.ack(acked)
        journal.close()
        with Journal(directory) as again:
            assert again.read(1000) == payloads[min(acked, len(payloads)) :]

    @settings(max_examples=50, deadline=None)
    @given(payloads=st.lists(st.binary(max_size=50), min_size=1, max_size=10), cut=st.integers(0, 10_000))
    def test_a_cut_anywhere_leaves_a_prefix(
        self, tmp_path_factory: pytest.TempPathFactory, payloads: list[bytes], cut: int
    ) -> None:
        """Whatever byte a crash stops at, reopening gives a prefix of the records, never a wrong one."""
        directory = tmp_path_factory.mktemp("j")
        with Journal(directory) as journal:
            journal.append(payloads)
        segment = segments(directory)[-1]
        data = segment.read_bytes()
        segment.write_bytes(data[: len(MAGIC) + cut % (len(data) - len(MAGIC) + 1)])
        with Journal(directory) as again:
            got = again.read(100)
            assert got == payloads[: len(got)]
            assert again.torn <= 1


class TestSegments:
    def test_segments_rotate_and_acknowledged_ones_are_deleted(self, tmp_path: Path) -> None:
        """Small segments rotate; once every record of a segment is acknowledged, its file goes."""
        journal = Journal(tmp_path, segment_bytes=64, max_bytes=10_000)
        journal.append(records(20))
        assert len(segments(tmp_path)) > 3
        assert journal.read(100) == records(20)
        journal.ack(20)
        assert len(segments(tmp_path)) == 1
        journal.close()

    def test_the_size_cap_stops_appending(self, tmp_path: Path) -> None:
        """At max_bytes, append writes what fits and says "full"; acknowledging frees room again."""
        journal = Journal(tmp_path, segment_bytes=64, max_bytes=128)
        result = journal.append(records(20))
        assert (result.failure, 0 < result.written < 20) == ("full", True)
        assert journal.size <= 128
        journal.read(result.written)
        journal.ack(result.written)
        assert journal.append(records(1)).written == 1
        journal.close()


class TestRecovery:
    def test_a_torn_last_record_is_truncated_and_counted(self, tmp_path: Path) -> None:
        """A crash mid-write leaves half a record: opening cuts it, counts it, and keeps the rest."""
        with Journal(tmp_path) as first:
            first.append(records(3))
        last = segments(tmp_path)[-1]
        good = last.stat().st_size
        with last.open("ab") as handle:
            handle.write(b"\x00\x00\x01\x00\x12\x34")  # a header promising 256 bytes, then nothing
        journal = Journal(tmp_path)
        assert (journal.torn, journal.unread, last.stat().st_size) == (1, 3, good)
        journal.append(records(1, start=3))
        assert journal.read(100) == records(4)
        journal.close()

    def test_a_corrupt_record_is_cut_with_everything_after_it(self, tmp_path: Path) -> None:
        """A checksum mismatch ends the segment there: the records before it survive, it is counted."""
        with Journal(tmp_path) as first:
            first.append(records(3))
        last = segments(tmp_path)[-1]
        data = bytearray(last.read_bytes())
        data[-1] ^= 0xFF
        last.write_bytes(bytes(data))
        journal = Journal(tmp_path)
        assert (journal.torn, journal.read(100)) == (1, records(2))
        journal.close()

    def test_an_empty_segment_from_a_crash_is_repaired(self, tmp_path: Path) -> None:
        """A segment created but never written (no magic) is reset, not counted as records."""
        (tmp_path / f"{1:020d}.seg").write_bytes(b"")
        journal = Journal(tmp_path)
        assert (journal.unread, segments(tmp_path)[0].read_bytes()) == (0, MAGIC)
        journal.close()

    def test_a_cursor_past_a_cut_segment_resumes_at_its_end(self, tmp_path: Path) -> None:
        """When a segment lost records the cursor had passed, new records are still read back."""
        journal = Journal(tmp_path)
        journal.append(records(3))
        journal.ack(len(journal.read(3)))
        journal.close()
        last = segments(tmp_path)[-1]
        last.write_bytes(last.read_bytes()[: len(MAGIC) + 4])
        with Journal(tmp_path) as again:
            again.append(records(1, start=3))
            assert again.read(100) == records(1, start=3)

    def test_a_torn_cursor_resends_everything(self, tmp_path: Path) -> None:
        """An unreadable cursor file means start over (at-least-once), counted as torn."""
        journal = Journal(tmp_path)
        journal.append(records(3))
        journal.read(2)
        journal.ack(2)
        journal.close()
        (tmp_path / "cursor").write_bytes(b'{"segm')
        again = Journal(tmp_path)
        assert (again.torn, again.read(100)) == (1, records(3))
        again.close()


class TestFailures:
    def test_disk_full_is_reported_once_and_counted(self, tmp_path: Path) -> None:
        """ENOSPC: append never raises, says "error", reports once per streak, and counts every failure."""
        failing = [False]
        reports: list[OSError] = []
        journal = Journal(tmp_path, opener=failing_opener(failing), on_error=reports.append)
        journal.append(records(2))
        failing[0] = True
        assert journal.append(records(3)).failure == "error"
        assert journal.append(records(3)).failure == "error"
        assert ([e.errno for e in reports], journal.errors) == ([errno.ENOSPC], 2)
        failing[0] = False
        assert journal.append(records(1, start=2)).written == 1
        assert journal.read(100) == records(3)  # the failed writes left no half record behind
        journal.close()

    def test_an_unwritable_directory_never_raises(self, tmp_path: Path) -> None:
        """A journal that cannot create its directory is usable as a value: append fails, reported once."""
        (tmp_path / "file").write_bytes(b"")
        reports: list[OSError] = []
        journal = Journal(tmp_path / "file" / "journal", on_error=reports.append)
        assert journal.append(records(1)).failure == "error"
        assert (journal.unread, journal.read(5), len(reports), journal.errors) == (0, [], 1, 2)
        journal.close()


class TestFsync:
    @pytest.mark.parametrize(
        ("policy", "expected"), [(FsyncPolicy.BATCH, 3), (FsyncPolicy.INTERVAL, 2), (FsyncPolicy.NEVER, 0)]
    )
    def test_fsync_follows_the_policy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: FsyncPolicy, expected: int
    ) -> None:
        """batch syncs every append, interval at most once per interval of the clock, never not at all."""
        calls: list[int] = []
        monkeypatch.setattr(journal_module.os, "fsync", calls.append)
        clock = FakeClock()
        journal = Journal(tmp_path, fsync=policy, fsync_interval=1.0, clock=clock)
        clock.advance(1.0)
        journal.append(records(1))  # interval: due
        journal.append(records(1))  # interval: not due yet
        clock.advance(1.0)
        journal.append(records(1))  # interval: due again
        assert len(calls) == expected
        monkeypatch.undo()
        journal.close()
