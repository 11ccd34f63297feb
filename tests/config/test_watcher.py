"""Tests for ConfigWatcher: debounce on the clock, content hashes, last known good, subscribers, stores, stop.

File notices are injected through the ``notifier`` seam (``Notices``) and time is a ``FakeClock``, so no
test depends on inotify's timing or sleeps; tests/integration/test_watch_files.py runs real watchfiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from sharedconfig import tracecontext
from sharedconfig.clock import Clock
from sharedconfig.config import Config, ConfigHooks, SettingsModule, ValidationContext
from sharedconfig.config.loader import LoadOptions, default_sources
from sharedconfig.config.sources import SourceChange, WatchedSource
from sharedconfig.config.tree import Layer, ReadContext
from sharedconfig.config.validation import FunctionValidator
from sharedconfig.config.watcher import ConfigWatcher, Diff, Subscriber, concerns
from sharedconfig.errors import ConfigValidationError
from sharedconfig.interfaces import HealthState
from sharedconfig.monitoring import Monitoring
from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock, Recording


class Demo(BaseModel):
    """A module schema with a range."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "demo"
    rate: float = Field(0.5, ge=0, le=1)


MODULES = (SettingsModule("demo", Demo),)
OPTS = LoadOptions(env_file=None, environ={}, modules=MODULES, discover=False)
WAIT = 5.0
"""Real seconds a test waits for a worker thread to reach a point (never reached: the test fails)."""


class Notices:
    """A notifier fed by hand: ``touch(path)`` delivers one batch to every watch in progress."""

    def __init__(self) -> None:
        self.watched: list[tuple[str, ...]] = []
        self.ended = 0
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[set[str]]]] = []

    def __call__(self, directories: Sequence[str], stop: asyncio.Event) -> AsyncIterator[Collection[str]]:
        return self._notices(tuple(directories), stop)

    async def _notices(
        self, directories: tuple[str, ...], stop: asyncio.Event
    ) -> AsyncIterator[Collection[str]]:
        queue: asyncio.Queue[set[str]] = asyncio.Queue()
        target = (asyncio.get_running_loop(), queue)
        self._queues.append(target)
        self.watched.append(directories)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                got = asyncio.ensure_future(queue.get())
                await asyncio.wait({got, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not got.done():
                    got.cancel()
                    return
                yield got.result()
        finally:
            stopped.cancel()
            self._queues.remove(target)
            self.ended += 1

    @property
    def active(self) -> int:
        """How many watches are receiving notices now."""
        return len(self._queues)

    def touch(self, *paths: str | Path) -> None:
        for loop, queue in list(self._queues):
            loop.call_soon_threadsafe(queue.put_nowait, {os.fspath(p) for p in paths})


def write(path: Path, rate: float, name: str = "demo") -> None:
    path.write_text(f"demo: {{rate: {rate}, name: {name}}}\n")


def rate(config: Config | None) -> float:
    assert config is not None
    value: float = config.module("demo", Demo).rate
    return value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def notices() -> Notices:
    return Notices()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    write(path, 0.1)
    return path


@pytest.fixture
def hooks() -> Recording[ConfigHooks]:
    return Recording(ConfigHooks)


@pytest.fixture
def watcher(
    app: Path, clock: FakeClock, notices: Notices, hooks: Recording[ConfigHooks]
) -> Iterator[ConfigWatcher]:
    """A started watcher of app.yaml (rate 0.1), debounce 0.5 s of the fake clock, on a runtime of its own."""
    w = ConfigWatcher([app], options=OPTS, hooks=hooks.hooks, clock=clock, notifier=notices, debounce=0.5)
    w.start()
    hooks.clear()
    yield w
    w.stop()


class TestWatchedPlaces:
    def test_directories_of_files_overlays_dotenv_and_secrets(self, tmp_path: Path) -> None:
        """Every source's directory is watched: files and their profile overlays, .env, the secrets dir."""
        conf, envdir, secrets = tmp_path / "conf", tmp_path / "env", tmp_path / "secrets"
        for d in (conf, envdir, secrets):
            d.mkdir()
        (conf / "app.yaml").write_text("{}\n")
        (envdir / ".env").write_text("")
        w = ConfigWatcher(
            [conf / "app.yaml"],
            profile="prod",
            env_file=str(envdir / ".env"),
            secrets_dir=str(secrets),
            environ={},
            discover=False,
        )
        assert sorted(w.directories()) == sorted(str(d) for d in (conf, envdir, secrets))

    def test_a_missing_directory_is_watched_through_its_parent_and_a_glob_through_its_fixed_part(
        self, tmp_path: Path
    ) -> None:
        """conf.d/*.yaml watches conf.d; a file in a directory not made yet watches the nearest parent."""
        (tmp_path / "conf.d").mkdir()
        w = ConfigWatcher([tmp_path / "conf.d" / "*.yaml", tmp_path / "later" / "deep" / "app.yaml"], **OPTS)
        assert sorted(w.directories()) == [str(tmp_path)]  # conf.d is under it: one watch covers both
        w = ConfigWatcher([tmp_path / "conf.d" / "*.yaml"], **OPTS)
        assert w.directories() == [str(tmp_path / "conf.d")]

    def test_a_link_to_another_directory_watches_the_target_directory_too(self, tmp_path: Path) -> None:
        """app.yaml -> elsewhere/app.yaml: a rewrite happens in elsewhere/, which is watched as well."""
        (tmp_path / "etc").mkdir()
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "app.yaml").write_text("{}\n")
        os.symlink(tmp_path / "elsewhere" / "app.yaml", tmp_path / "etc" / "app.yaml")
        w = ConfigWatcher([tmp_path / "etc" / "app.yaml"], **OPTS)
        assert sorted(w.directories()) == [str(tmp_path / "elsewhere"), str(tmp_path / "etc")]

    def test_sources_given_explicitly_are_watched(self, tmp_path: Path) -> None:
        """With sources=, the file sources among them say what is watched."""
        (tmp_path / "a").mkdir()
        sources = default_sources([tmp_path / "a" / "app.yaml"], env_file=None, environ={})
        w = ConfigWatcher(sources=sources, env_file=None, environ={}, discover=False)
        assert w.directories() == [str(tmp_path / "a")]

    def test_store_urls_become_sources_once_shared_by_every_reload_and_the_watch(self) -> None:
        """stores= URLs are parsed at construction (a bad one fails there), and the same StoreSource is
        both read by each load and watched; its name carries no credentials."""
        from sharedconfig.config.stores import StoreSource

        w = ConfigWatcher(stores=["redis://u:pw@127.0.0.1:1/0/app"], env_file=None, environ={})
        (source,) = w.options.get("stores", ())
        assert isinstance(source, StoreSource)
        assert w.options.get("stores", ())[0] is source  # not parsed again for the next load
        assert w.stores == (source.name,) and "pw" not in source.name

    def test_the_notifier_is_given_the_directories_when_started(
        self, watcher: ConfigWatcher, notices: Notices, app: Path
    ) -> None:
        """start() returns with the watch in place: the notifier got the directories and is listening."""
        assert notices.watched == [(str(app.parent),)]
        assert watcher.watching == (str(app.parent),)
        assert notices.active == 1


class TestReload:
    def test_debounce_waits_for_quiet_files(
        self,
        watcher: ConfigWatcher,
        notices: Notices,
        clock: FakeClock,
        app: Path,
        hooks: Recording[ConfigHooks],
    ) -> None:
        """Notices 0.3 s apart reload once, 0.5 s of the clock after the last one, not after the first."""
        write(app, 0.2)
        notices.touch(app)
        clock.advance(0.3)
        write(app, 0.3)
        notices.touch(app)
        clock.advance(0.3)  # 0.6 s after the first notice, 0.3 s after the last
        assert hooks.calls_to("on_reload") == () and rate(watcher.current) == 0.1
        clock.advance(0.2)
        assert len(hooks.calls_to("on_reload")) == 1
        assert rate(watcher.current) == 0.3

    def test_a_directory_that_never_goes_quiet_is_looked_at_after_five_debounces(
        self,
        watcher: ConfigWatcher,
        notices: Notices,
        clock: FakeClock,
        app: Path,
        hooks: Recording[ConfigHooks],
    ) -> None:
        """watcher.py ``_LONGEST_DEBOUNCE``: a log file beside app.yaml changes every 0.3 s, forever; the
        change of app.yaml is still reloaded, 2.5 s (5 x 0.5 s) after the burst began, not never."""
        write(app, 0.2)
        for _ in range(8):  # 0 .. 2.1 s
            notices.touch(app.parent / "service.log")
            clock.advance(0.3)
        assert hooks.calls_to("on_reload") == () and rate(watcher.current) == 0.1  # 2.4 s
        notices.touch(app.parent / "service.log")
        clock.advance(0.3)  # 2.7 s: past 2.5 s
        assert len(hooks.calls_to("on_reload")) == 1
        assert rate(watcher.current) == 0.2

    def test_a_notice_without_a_change_of_content_loads_nothing(
        self,
        watcher: ConfigWatcher,
        notices: Notices,
        clock: FakeClock,
        app: Path,
        hooks: Recording[ConfigHooks],
    ) -> None:
        """A touch, or the same bytes written again, is hashed and dropped: no load, no hook call."""
        os.utime(app, ns=(1, 10**18))
        notices.touch(app)
        clock.advance(1)
        write(app, 0.1)
        notices.touch(app, app.parent / "unrelated.log")
        clock.advance(1)
        assert hooks.calls == ()
        assert watcher.reload() is None

    def test_invalid_keeps_the_last_good_until_a_valid_one(
        self,
        watcher: ConfigWatcher,
        notices: Notices,
        clock: FakeClock,
        app: Path,
        hooks: Recording[ConfigHooks],
    ) -> None:
        """Rejected: on_reload(old, None), old stays current, nobody called; valid: swap, on_change, diff."""
        first = watcher.current
        seen: list[tuple[Config, Config, Diff]] = []
        watcher.subscribe(None, lambda old, new, diff: seen.append((old, new, diff)))
        write(app, 9)
        notices.touch(app)
        clock.advance(1)
        assert watcher.current is first
        (rejected,) = hooks.calls_to("on_reload")
        assert rejected.arguments["old"] is first and rejected.arguments["new"] is None
        assert [i.code for i in rejected.arguments["report"].errors] == ["VALIDATION_003"]  # type: ignore[attr-defined]
        assert seen == []
        hooks.clear()
        write(app, 0.7)
        notices.touch(app)
        clock.advance(1)
        assert [c.method for c in hooks.calls] == ["on_validation", "on_load", "on_reload", "on_change"]
        assert hooks.calls_to("on_change")[0].arguments["changed"] == ["demo.rate"]
        assert rate(watcher.current) == 0.7
        assert seen == [(first, watcher.current, [("demo.rate", 0.1, 0.7)])]

    def test_a_file_rewritten_while_rejected_back_to_the_good_content_is_healthy_again(
        self,
        watcher: ConfigWatcher,
        notices: Notices,
        clock: FakeClock,
        app: Path,
        hooks: Recording[ConfigHooks],
    ) -> None:
        """Bad, then the good content again: accepted (on_reload with new), no change, nobody called."""
        seen: list[Diff] = []
        watcher.subscribe(None, lambda old, new, diff: seen.append(diff))
        write(app, 9)
        notices.touch(app)
        clock.advance(1)
        write(app, 0.1)
        notices.touch(app)
        clock.advance(1)
        assert [c.arguments["new"] is not None for c in hooks.calls_to("on_reload")] == [False, True]
        assert hooks.calls_to("on_change") == () and seen == []


class TestTracing:
    def test_a_reload_and_what_its_hooks_report_are_inside_the_config_reload_span(
        self, watcher: ConfigWatcher, notices: Notices, clock: FakeClock, app: Path
    ) -> None:
        """With a tracer installed, each reload opens config.reload (trigger and file count as attributes),
        and the hooks (the events and logs of a rejection) run with its trace current."""
        opened: list[tuple[str, dict[str, tracecontext.AttributeValue], tracecontext.TraceContext]] = []
        seen: list[tracecontext.TraceContext | None] = []

        class Tracer:
            @contextlib.contextmanager
            def span(
                self, name: str, attributes: dict[str, tracecontext.AttributeValue]
            ) -> Iterator[tracecontext.TraceContext | None]:
                trace = tracecontext.TraceContext.new()
                opened.append((name, attributes, trace))
                token = tracecontext.current_trace.set(trace)
                try:
                    yield trace
                finally:
                    tracecontext.current_trace.reset(token)

            def current(self) -> tracecontext.TraceContext | None:
                return tracecontext.current_trace.get()

            def attach(self, trace: tracecontext.TraceContext | None) -> object:
                return None

            def detach(self, token: object) -> None:
                pass

        class Hooks:
            def on_reload(self, old: Config, new: Config | None, report: object, seconds: float) -> None:
                seen.append(tracecontext.current())

        watcher._hooks = Hooks()  # type: ignore[assignment]  # only on_reload is called on a rejection
        previous = tracecontext.set_tracer(Tracer())
        try:
            write(app, 9)
            notices.touch(app)
            clock.advance(1)
        finally:
            tracecontext.set_tracer(previous)
        reloads = [(name, attributes, trace) for name, attributes, trace in opened if name == "config.reload"]
        assert [(name, attributes) for name, attributes, _ in reloads] == [
            ("config.reload", {"trigger": "files", "files": 1})
        ]
        assert opened[0] == reloads[0]  # the first: the load's own spans open inside it
        assert seen == [reloads[0][2]]


class TestSubscribers:
    def test_a_key_path_sees_only_changes_at_or_under_it(
        self, watcher: ConfigWatcher, notices: Notices, clock: FakeClock, app: Path
    ) -> None:
        """demo.rate changes: demo.rate, demo and None are called with that change; demo.name and demo.rat
        (a prefix of the name, not a parent) are not."""
        calls: dict[str, list[Diff]] = {}

        def recorder(key: str | None) -> Subscriber:
            return lambda old, new, diff: calls.setdefault(str(key), []).append(diff)

        for key in ("demo.rate", "demo", "demo.name", "demo.rat", None):
            watcher.subscribe(key, recorder(key))
        write(app, 0.4)
        notices.touch(app)
        clock.advance(1)
        change = [("demo.rate", 0.1, 0.4)]
        assert calls == {"demo.rate": [change], "demo": [change], "None": [change]}
        write(app, 0.4, name="other")
        notices.touch(app)
        clock.advance(1)
        assert calls["demo.name"] == [[("demo.name", "demo", "other")]]
        assert calls["None"][-1] == [("demo.name", "demo", "other")]
        assert len(calls["demo.rate"]) == 1

    def test_concerns_covers_parents_children_and_list_items(self) -> None:
        """A change under the key, at it, or at a parent that replaces it concerns the subscriber."""
        assert concerns("monitoring.sample_rate", "monitoring")
        assert concerns("monitoring.events.exporters.0.type", "monitoring.events.exporters")
        assert concerns("monitoring", "monitoring.sample_rate")  # the whole section replaced
        assert not concerns("monitoring.sample_rates", "monitoring.sample_rate")
        assert concerns("anything", None)

    def test_a_subscriber_that_raises_does_not_stop_the_others(
        self,
        app: Path,
        clock: FakeClock,
        notices: Notices,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The broken one is logged (key and error, no traceback) and counted, and on_error gets it; the
        ones after it still run, on this reload and the next."""
        errors: list[Exception] = []
        w = ConfigWatcher(
            [app], options=OPTS, clock=clock, notifier=notices, debounce=0, on_error=errors.append
        )
        seen: list[float] = []

        def broken(old: Config, new: Config, diff: Diff) -> None:
            raise RuntimeError("subscriber bug at postgres://app:hunter2@db/x")

        w.subscribe("demo", broken)
        w.subscribe("demo.rate", lambda old, new, diff: seen.append(rate(new)))
        try:
            with caplog.at_level(logging.WARNING, logger="sharedconfig.config.watcher"):
                for value in (0.2, 0.3):
                    write(app, value)
                    notices.touch(app)
                    clock.advance(0)
        finally:
            w.stop()
        assert seen == [0.2, 0.3]
        assert w.subscriber_errors == 2
        assert [str(e) for e in errors] == ["subscriber bug at postgres://app:hunter2@db/x"] * 2
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2 and "configuration subscriber failed" in messages[0]
        assert "key=demo" in messages[0] and "RuntimeError" in messages[0] and "broken" in messages[0]
        assert "hunter2" not in messages[0]

    def test_an_injected_logger_gets_the_failure(self, app: Path, clock: FakeClock, notices: Notices) -> None:
        """logger= (a structured Logger) receives the warning with its fields."""
        records: list[tuple[str, dict[str, object]]] = []

        class Log:
            def warning(self, message: str, /, **fields: object) -> None:
                records.append((message, fields))

        w = ConfigWatcher([app], options=OPTS, clock=clock, notifier=notices, debounce=0, logger=Log())  # type: ignore[arg-type]

        def broken(old: Config, new: Config, diff: Diff) -> None:
            raise ValueError("not a rate")

        w.subscribe(None, broken)
        try:
            write(app, 0.2)
            notices.touch(app)
            clock.advance(0)
        finally:
            w.stop()
        assert [(m, f["key"], f["error"]) for m, f in records] == [
            ("configuration subscriber failed", "*", "ValueError: not a rate")
        ]

    def test_unsubscribe_stops_calls_and_the_last_one_out_stops_a_watcher_it_started(
        self, app: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """subscribe() started it, so unsubscribing the last subscriber stops it (idempotently)."""
        w = ConfigWatcher([app], options=OPTS, clock=clock, notifier=notices, debounce=0)
        seen: list[float] = []
        first = w.subscribe(None, lambda old, new, diff: seen.append(rate(new)))
        second = w.subscribe(None, lambda old, new, diff: None)
        assert w.running
        first()
        first()
        write(app, 0.2)
        notices.touch(app)
        clock.advance(0)
        assert seen == [] and w.running
        second()
        assert not w.running and notices.active == 0

    def test_unsubscribing_from_inside_a_subscriber_stops_without_a_deadlock(
        self, app: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """The last subscriber leaving from the reload's own thread: the stop completes after it returns."""
        w = ConfigWatcher([app], options=OPTS, clock=clock, notifier=notices, debounce=0)
        leave: list[Any] = []
        leave.append(w.subscribe(None, lambda old, new, diff: leave[0]()))
        write(app, 0.2)
        notices.touch(app)
        clock.advance(0)
        assert rate(w.current) == 0.2
        for thread in threading.enumerate():
            if thread.name == "sharedconfig-watch-stop":
                thread.join(WAIT)
        assert not w.running


class TestOneReloadAtATime:
    def test_changes_during_a_reload_bring_exactly_one_more(
        self, app: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """A reload held in its validation while two more changes arrive: never two at once, and one more
        reload after it, which reads the last content."""
        inside = threading.Semaphore(0)
        release = threading.Event()
        running = [0]
        most = [0]
        lock = threading.Lock()

        def slow(ctx: ValidationContext) -> None:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            inside.release()
            release.wait(WAIT)
            with lock:
                running[0] -= 1

        options = LoadOptions(**OPTS, validators=[FunctionValidator("slow", 50, slow)])
        w = ConfigWatcher([app], options=options, clock=clock, notifier=notices, debounce=0)
        rates: list[float] = []
        release.set()
        w.subscribe(None, lambda old, new, diff: rates.append(rate(new)))
        assert inside.acquire(timeout=WAIT)  # the first load, in start()
        release.clear()
        try:
            write(app, 0.2)
            notices.touch(app)
            assert inside.acquire(timeout=WAIT)  # the reload is held inside its validation
            write(app, 0.3)
            notices.touch(app)
            write(app, 0.4)
            notices.touch(app)
        finally:
            release.set()
        clock.advance(0)  # waits for the loop and its thread work to settle
        w.stop()
        assert most[0] == 1
        assert rates == [0.2, 0.4]


class TestStores:
    class Store:
        """A WatchedSource: ``data`` is what it reads; ``send`` delivers a SourceChange from the test."""

        name = "memory://store"

        def __init__(self) -> None:
            self.data: dict[str, Any] = {"demo": {"rate": 0.1}}
            self.clocks: list[Clock] = []
            self._queue: asyncio.Queue[SourceChange] | None = None
            self._loop: asyncio.AbstractEventLoop | None = None
            self.cancelled = 0

        def read(self, ctx: ReadContext) -> list[Layer]:
            return [Layer("remote", self.name, data=json.loads(json.dumps(self.data)))]

        async def changes(self, clock: Clock) -> AsyncIterator[SourceChange]:
            self.clocks.append(clock)
            self._loop, self._queue = asyncio.get_running_loop(), asyncio.Queue()
            try:
                while True:
                    yield await self._queue.get()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise

        def send(self, change: SourceChange) -> None:
            assert self._loop is not None and self._queue is not None
            self._loop.call_soon_threadsafe(self._queue.put_nowait, change)

    @pytest.mark.parametrize("option", ["stores", "sources"])
    def test_changed_reloads_at_once_and_lost_restored_reach_the_hooks(
        self, clock: FakeClock, notices: Notices, hooks: Recording[ConfigHooks], option: str
    ) -> None:
        """A store (stores= or among sources=) that changes reloads without debounce or hashes; lost and
        restored are on_source calls, the snapshot staying in force; stop cancels its iterator, which got
        the watcher's clock."""
        store = self.Store()
        assert isinstance(store, WatchedSource)
        given = LoadOptions(stores=[store]) if option == "stores" else LoadOptions(sources=[store])
        w = ConfigWatcher(
            options=OPTS, hooks=hooks.hooks, clock=clock, notifier=notices, debounce=10, **given
        )
        w.start()
        clock.advance(0)
        assert w.stores == ("memory://store",) and store.clocks == [clock]
        store.data = {"demo": {"rate": 0.6}}
        store.send(SourceChange("changed", revision=7))
        clock.advance(0)
        assert rate(w.current) == 0.6
        store.send(SourceChange("lost", message="connection refused"))
        store.send(SourceChange("restored", message="reconnected"))
        clock.advance(0)
        assert [c.args for c in hooks.calls_to("on_source")] == [
            ("memory://store", False, "connection refused"),
            ("memory://store", True, "reconnected"),
        ]
        assert rate(w.current) == 0.6
        w.stop()
        assert store.cancelled == 1


class TestLifecycle:
    def test_stop_is_prompt_leaves_no_thread_and_hears_nothing_after(
        self, app: Path, clock: FakeClock, notices: Notices, hooks: Recording[ConfigHooks]
    ) -> None:
        """stop() during a debounce: the notifier ends, no reload happens, no thread is left."""
        before = set(threading.enumerate())
        w = ConfigWatcher([app], options=OPTS, hooks=hooks.hooks, clock=clock, notifier=notices, debounce=5)
        w.start()
        hooks.clear()
        write(app, 0.2)
        notices.touch(app)
        clock.advance(1)
        w.stop()
        assert set(threading.enumerate()) <= before
        assert not w.running and notices.active == 0 and notices.ended == 1
        clock.advance(10)
        assert hooks.calls == () and rate(w.current) == 0.1
        w.stop()  # idempotent

    def test_runs_on_a_given_scheduler_and_its_stop_ends_the_watch(
        self, app: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """scheduler=: a job on that runtime; the runtime's stop halts the watch (its flush); watcher.stop
        cancels the job; a restarted runtime runs it again until then."""
        runtime = Runtime("test-watch", clock=clock)
        w = ConfigWatcher([app], options=OPTS, clock=clock, notifier=notices, debounce=0, scheduler=runtime)
        seen: list[float] = []
        w.subscribe(None, lambda old, new, diff: seen.append(rate(new)))
        assert [job.name for job in runtime.jobs] == ["config-watch"] and notices.active == 0
        runtime.start()
        try:
            clock.advance(0)
            assert notices.active == 1
            write(app, 0.2)
            notices.touch(app)
            clock.advance(0)
        finally:
            assert runtime.stop() == []
        assert notices.active == 0 and seen == [0.2]
        runtime.start()
        try:
            clock.advance(0)
            write(app, 0.3)
            notices.touch(app)
            clock.advance(0)
            w.stop()
            assert runtime.jobs == () and notices.active == 0
        finally:
            runtime.stop()
        assert seen == [0.2, 0.3]

    def test_start_without_a_snapshot_loads_and_an_invalid_one_raises(self, tmp_path: Path) -> None:
        """No current= and an invalid file: start() raises CONFIG_002 and nothing runs."""
        path = tmp_path / "app.yaml"
        write(path, 5)
        w = ConfigWatcher([path], **OPTS)
        with pytest.raises(ConfigValidationError) as info:
            w.subscribe(None, lambda old, new, diff: None)
        assert info.value.code == "CONFIG_002"
        assert not w.running

    def test_current_given_is_kept_until_a_change(
        self, app: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """current= is the snapshot in force (not loaded again); the files' hashes are taken then."""
        from sharedconfig.config import load

        config = load([app], **OPTS)
        w = ConfigWatcher([app], options=OPTS, current=config, clock=clock, notifier=notices, debounce=0)
        with w:
            assert w.current is config
            notices.touch(app)
            clock.advance(0)
            assert w.current is config
            assert w.reload() is None and w.reload(force=True) is not None


class TestWithMonitoring:
    def test_rejected_then_accepted_reload_in_health_events_and_subscribers(
        self, tmp_path: Path, clock: FakeClock, notices: Notices
    ) -> None:
        """On the Monitoring's runtime and hooks: an invalid file keeps the old config, config_loader turns
        degraded and a config_reload_rejected event is published; a valid file swaps, the subscriber gets
        the diff, config_changed is published and config_loader is healthy again."""
        app = tmp_path / "app.yaml"
        monitoring = {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"check_interval": "1s", "timeout": "500ms"},
            "events": {
                "flush_interval": "1s",
                "journal": {"path": str(tmp_path / "journal")},
                "dead_letter_dir": str(tmp_path / "dead-letter"),
                "exporters": [{"type": "log"}],
            },
        }

        def save(rate: float) -> None:
            app.write_text(json.dumps({"monitoring": monitoring, "demo": {"rate": rate}}))

        save(0.1)
        options = LoadOptions(env_file=None, environ={}, modules=MODULES)
        from sharedconfig.config import load

        config = load([app], **options)
        stream = io.StringIO()
        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        w = ConfigWatcher(
            [app],
            options=options,
            current=config,
            hooks=mon.config_hooks,
            clock=mon.clock,
            scheduler=mon.runtime,
            notifier=notices,
            debounce=0.2,
        )
        diffs: list[Diff] = []
        w.subscribe("demo", lambda old, new, diff: diffs.append(diff))

        def loader() -> HealthState:
            return mon.health.report().checks["config_loader"].state

        mon.start()
        try:
            clock.advance(1)
            assert loader() is HealthState.HEALTHY
            save(7)
            notices.touch(app)
            clock.advance(1.5)
            assert rate(w.current) == 0.1 and loader() is HealthState.DEGRADED
            save(0.3)
            notices.touch(app)
            clock.advance(1.5)
            assert rate(w.current) == 0.3 and loader() is HealthState.HEALTHY
            assert diffs == [[("demo.rate", 0.1, 0.3)]]
        finally:
            w.stop()
            mon.stop(timeout=5)
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        types = [e.get("event_type") for e in events if e.get("event") == "event"]
        assert "config_reload_rejected" in types and "config_changed" in types
        assert types.index("config_reload_rejected") < types.index("config_changed")
        (changed,) = [e for e in events if e.get("event_type") == "config_changed"]
        assert "demo.rate" in json.dumps(changed["data"])  # its shape is the config events' own (change_data)
