"""Overflow through ``Monitoring``: what the buffer drops is counted exactly, announced at most once a minute,
and a journal that cannot be written never reaches ``publish``; spilling keeps every event in order.

Every test runs the real events part (buffer, journal, dispatcher on the runtime) on a ``FakeClock``, with a
test channel installed in place of the ``log`` entry point: one that holds each delivery until it is opened.
"""

from __future__ import annotations

import errno
import functools
import io
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from journal_faults import failing_opener

from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.events import channel as channel_module
from sharedconfig.monitoring.events import part as part_module
from sharedconfig.monitoring.events.channel import ChannelContext, ChannelFactory
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.events.journal import Journal, Opener
from sharedconfig.monitoring.events.publisher import DROPS_EVENT
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.testing.clock import FakeClock

JOURNAL_WRITE_FAILED = "the events journal cannot be written; overflowing events are dropped and counted"


@dataclass(eq=False)
class HeldChannel:
    """A channel whose deliveries wait (on the fake clock) until ``opened``; records what arrived and when."""

    clock: FakeClock
    delay: float = 0.0
    """Fake seconds each delivery takes once open (a slow receiver)."""
    name: str = "held"
    opened: threading.Event = field(default_factory=threading.Event)
    calls: int = 0
    arrived: list[tuple[float, Event]] = field(default_factory=list)

    async def deliver(self, events: Sequence[Event]) -> int:
        """Wait until opened, then take ``delay`` seconds and take every event."""
        self.calls += 1
        while not self.opened.is_set():
            await self.clock.sleep(1.0)
        if self.delay:
            await self.clock.sleep(self.delay)
        self.arrived.extend((self.clock.now(), event) for event in events)
        return len(events)

    async def aclose(self) -> None:
        """Nothing to release."""

    def ids(self, type: str = "test.event") -> list[str]:
        """The ids of the events of ``type`` that arrived, in order."""
        return [event.id for _, event in self.arrived if event.type == type]

    def announcements(self) -> list[Event]:
        """The ``events_dropped`` events that arrived, in order."""
        return [event for _, event in self.arrived if event.type == DROPS_EVENT]


@dataclass(frozen=True)
class _Installed:
    """Stands in for an entry point: ``load()`` gives the factory."""

    factory: ChannelFactory

    def load(self) -> ChannelFactory:
        return self.factory


def install(monkeypatch: pytest.MonkeyPatch, channel: HeldChannel) -> None:
    """Make the ``log`` channel type build ``channel`` (named by the settings)."""

    def build(settings: Any, ctx: ChannelContext) -> HeldChannel:
        channel.name = ctx.name
        return channel

    found = {"log": cast("EntryPoint", _Installed(build))}
    monkeypatch.setattr(channel_module, "installed_channels", lambda: found)


def settings(tmp_path: Path, **events: object) -> MonitoringSettings:
    """A quiet Monitoring (no health scheduling) whose only channel is the held one."""
    return MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"enabled": False},
            "events": {
                "buffer_size": 4,
                "batch_size": 2,
                "max_in_flight": 1,
                "flush_interval": "1s",
                "journal": {"path": str(tmp_path / "journal")},
                "dead_letter_dir": str(tmp_path / "dead-letter"),
                "exporters": [{"type": "log", "name": "held"}],
                **events,
            },
        }
    )


def emit(mon: Monitoring, start: int, stop: int) -> list[Event | None]:
    """Emit ``test.event`` number ``start`` to ``stop - 1``; what ``emit`` returned for each."""
    return [mon.events.emit("test.event", f"n{i}", {"n": i}) for i in range(start, stop)]


def dropped(mon: Monitoring, reason: str) -> float:
    """``events_dropped_total{reason}`` (0 when never recorded)."""
    return mon.metrics.sample_value("events_dropped_total", {"reason": reason}) or 0.0


def error_logs(stream: io.StringIO) -> list[str]:
    """The messages logged at error level, in order."""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [r["event"] for r in records if r["level"] == "error"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def held(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> HeldChannel:
    channel = HeldChannel(clock)
    install(monkeypatch, channel)
    return channel


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def running(clock: FakeClock, stream: io.StringIO) -> Iterator[Callable[[MonitoringSettings], Monitoring]]:
    """Builds and starts a Monitoring on the fake clock; every one is stopped at the end."""
    built: list[Monitoring] = []

    def start(s: MonitoringSettings) -> Monitoring:
        mon = Monitoring(s, clock=clock, stream=stream)
        built.append(mon)
        return mon.start()

    yield start
    for mon in built:
        mon.stop(timeout=5)


def hold_first_batch(mon: Monitoring, clock: FakeClock, held: HeldChannel) -> list[str]:
    """Emit events 0 and 1 and let the dispatcher take them: the held channel now blocks the only slot."""
    first = [e.id for e in emit(mon, 0, 2) if e is not None]
    clock.advance(0)
    assert held.calls == 1 and len(mon.events.buffer or ()) == 0
    return first


class TestDropPolicies:
    """The drop policies count exactly what they drop, and exactly the other events arrive."""

    def test_drop_oldest(
        self, tmp_path: Path, clock: FakeClock, held: HeldChannel, running: Callable[..., Monitoring]
    ) -> None:
        """A full buffer of 4 behind a held batch of 2: 8 more events drop the 4 oldest waiting (2-5).
        Once open, the announcement of those 4 drops is itself an event and takes the oldest place (6)."""
        mon = running(settings(tmp_path, overflow="drop_oldest"))
        ids = hold_first_batch(mon, clock, held)
        later = emit(mon, 2, 10)
        assert all(e is not None for e in later)  # each was taken, pushing out an older one
        ids += [e.id for e in later if e is not None]
        assert dropped(mon, "drop_oldest") == 4
        held.opened.set()
        clock.advance(5)
        assert held.ids() == [ids[0], ids[1], ids[7], ids[8], ids[9]]
        assert dropped(mon, "drop_oldest") == 5 == len(ids) - len(held.ids())
        assert [a.data for a in held.announcements()] == [
            {"dropped": {"drop_oldest": 4}, "total": 4, "dropped_since_start": {"drop_oldest": 4}}
        ]
        clock.advance(60)  # the next minute announces the event the first announcement pushed out
        assert [a.data for a in held.announcements()][1:] == [
            {"dropped": {"drop_oldest": 1}, "total": 1, "dropped_since_start": {"drop_oldest": 5}}
        ]

    def test_drop_newest(
        self, tmp_path: Path, clock: FakeClock, held: HeldChannel, running: Callable[..., Monitoring]
    ) -> None:
        """A full buffer of 4 behind a held batch of 2: the 4 newest events (6-9) are refused and counted;
        the announcement finds the buffer still full, is refused too, and its count is not lost: the next
        one, a minute later, announces all 5."""
        mon = running(settings(tmp_path, overflow="drop_newest"))
        ids = hold_first_batch(mon, clock, held)
        later = emit(mon, 2, 10)
        assert [e is not None for e in later] == [True] * 4 + [False] * 4
        ids += [e.id for e in later[:4] if e is not None]
        assert dropped(mon, "drop_newest") == 4
        held.opened.set()
        clock.advance(5)
        assert held.ids() == ids  # 0-5, in order
        assert dropped(mon, "drop_newest") == 5 and held.announcements() == []
        clock.advance(60)
        assert [a.data for a in held.announcements()] == [
            {"dropped": {"drop_newest": 5}, "total": 5, "dropped_since_start": {"drop_newest": 5}}
        ]


def overload(mon: Monitoring, clock: FakeClock, held: HeldChannel) -> tuple[int, list[float]]:
    """Five minutes of overload, then three quiet ones: 8 events a second into a buffer of 4 while the
    receiver takes 1 s per batch of 2. Each burst is emitted while a batch is in flight, so the dispatcher
    is not taking at the same time and every run drops the same events. The number of events emitted, and
    when each ``events_dropped`` announcement was published."""
    published: list[float] = []

    def note(event: Event) -> Event:
        if event.type == DROPS_EVENT:
            published.append(clock.now())
        return event

    mon.events.add_processor(note)
    held.delay = 1.0
    held.opened.set()
    hold_first_batch(mon, clock, held)
    for second in range(300):
        emit(mon, 2 + second * 8, 10 + second * 8)
        clock.advance(1)
    clock.advance(180)
    return 2 + 300 * 8, published


class TestAnnouncements:
    @pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
    def test_at_most_one_a_minute(
        self,
        tmp_path: Path,
        clock: FakeClock,
        held: HeldChannel,
        running: Callable[..., Monitoring],
        policy: str,
    ) -> None:
        """Through five minutes of overload and three quiet ones, announcements are published at least 60 s
        of the clock apart, and every event published (announcements too) either arrived or was counted."""
        mon = running(settings(tmp_path, overflow=policy))
        emitted, published = overload(mon, clock, held)
        assert 5 <= len(published) <= 8
        assert all(b - a >= 60 for a, b in itertools.pairwise(published))
        arrived = len(held.ids()) + len(held.announcements())
        assert arrived + dropped(mon, policy) == emitted + len(published)

    @pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
    def test_every_drop_is_announced(
        self,
        tmp_path: Path,
        clock: FakeClock,
        held: HeldChannel,
        running: Callable[..., Monitoring],
        policy: str,
    ) -> None:
        """Once the overload is over, the last announcement's ``dropped_since_start`` is exactly
        events_dropped_total, whichever announcements were lost on the way (drop_oldest pushes some out);
        under drop_newest, where a refused announcement hands its counts on, the ``total``s add up too."""
        mon = running(settings(tmp_path, overflow=policy))
        overload(mon, clock, held)
        data = [cast("dict[str, Any]", a.data) for a in held.announcements()]
        assert data[-1]["dropped_since_start"] == {policy: dropped(mon, policy)}
        assert dropped(mon, policy) > 0
        if policy == "drop_newest":
            assert sum(d["total"] for d in data) == dropped(mon, policy)


def failing_journal(monkeypatch: pytest.MonkeyPatch, opener: Opener) -> None:
    """Make the events part build its journal with ``opener``."""
    monkeypatch.setattr(part_module, "Journal", functools.partial(Journal, opener=opener))


class TestJournalFaults:
    def test_a_full_disk_is_counted_and_reported_once(
        self,
        tmp_path: Path,
        clock: FakeClock,
        held: HeldChannel,
        stream: io.StringIO,
        running: Callable[..., Monitoring],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Spill onto a disk that is full (ENOSPC): every event that cannot spill is counted journal_error,
        across two retry windows; the failure is logged once; publish never raised and never touched a
        file; what was in memory still arrives."""
        failing = [False]
        test_thread = threading.current_thread()
        writes_in_test_thread: list[str] = []
        fail = failing_opener(failing, errno.ENOSPC)

        def opener(path: Path, mode: str) -> BinaryIO:
            handle = fail(path, mode)
            write = handle.write

            def watched(data: bytes) -> int:
                if failing[0] and threading.current_thread() is test_thread:
                    writes_in_test_thread.append(path.name)
                return write(data)

            setattr(handle, "write", watched)  # noqa: B010 -- a method cannot be assigned directly (mypy)
            return handle

        failing_journal(monkeypatch, opener)
        mon = running(settings(tmp_path, overflow="spill"))
        ids = hold_first_batch(mon, clock, held)
        failing[0] = True
        ids += [e.id for e in emit(mon, 2, 6) if e is not None]  # fills the buffer
        emit(mon, 6, 10)  # spill: the write fails, the journal is down for 30 s
        clock.advance(0)
        emit(mon, 10, 14)  # while it is down
        clock.advance(31)
        emit(mon, 14, 18)  # after the retry window: spilled, and the write fails again
        clock.advance(0)
        assert dropped(mon, "journal_error") == 12
        assert error_logs(stream).count(JOURNAL_WRITE_FAILED) == 1
        assert writes_in_test_thread == []  # publish wrote nothing itself
        held.opened.set()
        clock.advance(5)
        assert held.ids() == ids

    def test_an_unwritable_journal_path(
        self,
        tmp_path: Path,
        clock: FakeClock,
        held: HeldChannel,
        stream: io.StringIO,
        running: Callable[..., Monitoring],
    ) -> None:
        """A journal path that is a file: Monitoring still builds, spilling events are counted journal_error,
        the problem is logged at error level once (no new line as failures repeat), publish never raises."""
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        mon = running(settings(tmp_path, overflow="spill", journal={"path": str(blocker)}))
        hold_first_batch(mon, clock, held)
        emit(mon, 2, 10)
        clock.advance(0)
        assert dropped(mon, "journal_error") == 4
        first = error_logs(stream)
        assert first and all("journal" in message for message in first) and len(set(first)) == len(first)
        clock.advance(31)
        emit(mon, 10, 14)
        clock.advance(0)
        assert dropped(mon, "journal_error") == 8
        assert error_logs(stream) == first


class TestSpill:
    def test_a_slow_channel_gets_every_event_in_order(
        self, tmp_path: Path, clock: FakeClock, held: HeldChannel, running: Callable[..., Monitoring]
    ) -> None:
        """100 events in bursts of 4 every half second into a buffer of 4, a receiver taking 2 s per batch of
        2 (two in flight): the rest spills to the journal and comes back; every id arrives once, in order,
        none dropped."""
        mon = running(settings(tmp_path, overflow="spill", max_in_flight=2))
        held.delay = 2.0
        held.opened.set()
        ids: list[str] = []
        most = 0
        for burst in range(25):
            ids += [e.id for e in emit(mon, burst * 4, burst * 4 + 4) if e is not None]
            most = max(most, len(mon.events.buffer or ()))
            clock.advance(0.5)
        clock.advance(200)
        assert most > 4  # the journal held what the buffer could not
        assert held.ids() == ids and len(ids) == 100
        assert held.announcements() == []
        assert mon.metrics.sample_value("events_delivered_total", {"channel": "held"}) == 100
        assert len(mon.events.buffer or ()) == 0
