"""Tests of multiprocess mode's machinery: the file format, the merge rules, the directory, peers and pushes.

Other processes are simulated by files written for other pids, with an ``alive`` function saying which of
them run; one test asks a real listener (on a runtime loop of this process) to write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import socket
from pathlib import Path

import pytest

from sharedconfig.errors import ConfigError
from sharedconfig.monitoring.logging import LoggingSettings, make_logger
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.multiprocess import (
    ARCHIVE,
    ENV_VAR,
    SYNC_FAILURES,
    LeaderOnly,
    ProcessGroup,
    ProcessId,
    Snapshot,
    decode,
    encode,
    merge,
    process_alive,
    resolve_directory,
    snapshot_of,
)
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.settings import MetricsSettings
from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock

SUPERVISOR = ProcessId(100, 1000.0)
A = ProcessId(101, 1001.0)
B = ProcessId(102, 1002.0)
C = ProcessId(103, 1003.0)


def counter(name: str, value: float, **labels: str) -> MetricFamily:
    """A counter family with one sample."""
    return MetricFamily(name, MetricType.COUNTER, "Help.", (Sample(f"{name}_total", _labels(labels), value),))


def gauge(name: str, value: float, **labels: str) -> MetricFamily:
    """A gauge family with one sample."""
    return MetricFamily(name, MetricType.GAUGE, "Help.", (Sample(name, _labels(labels), value),))


def _labels(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def snap(process: ProcessId, *families: MetricFamily, mode: str = "all", stamp: float = 0.0) -> Snapshot:
    """A snapshot of ``process`` (parent: the supervisor) with every gauge in ``mode``."""
    modes = {f.name: mode for f in families if f.type is MetricType.GAUGE}
    stamps = {(f.name, s.labels): stamp for f in families for s in f.samples}
    return snapshot_of(process, SUPERVISOR, 5.0, families, modes, stamps)  # type: ignore[arg-type]


def values(families: list[MetricFamily], name: str) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    """(labels, value) of every sample called ``name``."""
    return [(s.labels, s.value) for f in families for s in f.samples if s.name == name]


def everyone(process: ProcessId) -> bool:
    return True


class TestFileFormat:
    def test_a_snapshot_reads_back_as_written(self) -> None:
        """encode then decode gives the same snapshot: process, parent, families, modes and stamps."""
        written = snap(A, counter("hits", 3, route="/a"), gauge("temp", 2.5), mode="mostrecent", stamp=7.0)
        assert decode(encode(written)) == written

    def test_foreign_or_other_version_bytes_are_refused(self) -> None:
        """Bytes without the header, or of another format version, are a ValueError, not a crash."""
        with pytest.raises(ValueError, match="header"):
            decode(json.dumps({"version": 1}).encode())
        data = encode(snap(A, counter("hits", 1)))
        with pytest.raises(ValueError, match="version"):
            decode(data.replace(b"\xe9\x01\x00\x00\x00", b"\xe9\x02\x00\x00\x00", 1))
        with pytest.raises(ValueError, match="not a metrics snapshot"):
            decode(data[:-10])

    def test_the_file_name_carries_pid_and_start_time(self) -> None:
        """A reused pid is another file: the name holds the start time in milliseconds."""
        assert A.file_name == "101-1001000.metrics"
        assert ProcessId(101, 2000.0).file_name != A.file_name


class TestMerge:
    def test_counters_are_summed_over_every_process_dead_ones_included(self) -> None:
        """A dead worker's counts stay in the total, so it never goes backwards when a worker dies."""
        merged = merge(
            [snap(A, counter("hits", 3)), snap(B, counter("hits", 4)), snap(C, counter("hits", 5))],
            alive=lambda p: p != C,
        )
        assert values(merged, "hits_total") == [((), 12.0)]

    def test_histograms_are_summed_bucket_by_bucket(self) -> None:
        """Two processes' histograms add up per bucket, _sum and _count, in bucket order."""
        registries = [MetricsRegistry(buckets=(1.0, 2.0)) for _ in range(2)]
        for registry, value in zip(registries, (0.5, 1.5), strict=True):
            registry.record_histogram("latency_seconds", value)
        snapshots = [
            snapshot_of(p, None, 0.0, r.collect(), {}, {}) for p, r in zip((A, B), registries, strict=True)
        ]
        merged = merge(snapshots, alive=everyone)
        buckets = [s for f in merged if f.name == "latency_seconds" for s in f.samples]
        assert [(s.name, s.value) for s in buckets] == [
            ("latency_seconds_bucket", 1.0),
            ("latency_seconds_bucket", 2.0),
            ("latency_seconds_bucket", 2.0),
            ("latency_seconds_sum", 2.0),
            ("latency_seconds_count", 2.0),
        ]

    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("sum", [((), 5.0)]),
            ("max", [((), 3.0)]),
            ("min", [((), 2.0)]),
            ("all", [((("pid", "101"),), 2.0), ((("pid", "102"),), 3.0)]),
        ],
    )
    def test_gauges_merge_by_their_mode_over_live_processes(self, mode: str, expected: list[object]) -> None:
        """sum, max, min or one series per process (pid label); the dead process's 100 counts nowhere."""
        merged = merge(
            [
                snap(A, gauge("busy", 2), mode=mode),
                snap(B, gauge("busy", 3), mode=mode),
                snap(C, gauge("busy", 100), mode=mode),
            ],
            alive=lambda p: p != C,
        )
        assert values(merged, "busy") == expected

    def test_mostrecent_takes_the_value_changed_last(self) -> None:
        """mostrecent: the live process whose stamp is latest wins, whatever the file order."""
        merged = merge(
            [
                snap(A, gauge("version", 2), mode="mostrecent", stamp=20.0),
                snap(B, gauge("version", 1), mode="mostrecent", stamp=10.0),
                snap(C, gauge("version", 9), mode="mostrecent", stamp=30.0),
            ],
            alive=lambda p: p != C,
        )
        assert values(merged, "version") == [((), 2.0)]

    def test_a_gauge_of_dead_processes_only_is_left_out(self) -> None:
        """No live process has the gauge: the family is absent, not shown as 0."""
        merged = merge([snap(A, counter("hits", 1)), snap(C, gauge("busy", 4))], alive=lambda p: p != C)
        assert [f.name for f in merged] == ["hits"]


class TestRegistryModes:
    def test_declared_modes_are_kept_under_the_namespaced_name(self) -> None:
        """gauge(multiprocess_mode=) is what the file records; the namespace prefixes the name."""
        registry = MetricsRegistry(namespace="shop")
        registry.gauge("busy_workers", "Busy.", multiprocess_mode="sum")
        registry.gauge("plain", "Plain.")
        assert registry.gauge_modes == {"shop_busy_workers": "sum"}

    def test_a_conflicting_or_unknown_mode_is_a_value_error(self) -> None:
        """Declaring again with another mode, or a mode that does not exist, raises ValueError."""
        registry = MetricsRegistry()
        registry.gauge("busy", "Busy.", multiprocess_mode="max")
        with pytest.raises(ValueError, match="multiprocess_mode 'max'"):
            registry.gauge("busy", "Busy.", multiprocess_mode="min")
        with pytest.raises(ValueError, match="must be one of"):
            registry.gauge("other", "Other.", multiprocess_mode="average")  # type: ignore[arg-type]

    def test_mostrecent_children_stamp_each_change_with_the_clock(self) -> None:
        """A mostrecent gauge's set and inc stamp the series with the clock's wall time."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)
        version = registry.gauge("version", "Version.", multiprocess_mode="mostrecent")
        version.set(3)
        first = registry.gauge_stamps()[("version", ())]
        clock.advance(5)
        version.inc()
        assert registry.gauge_stamps()[("version", ())] == first + 5

    def test_reset_values_zeroes_everything_but_keeps_the_series(self) -> None:
        """After reset_values (a forked child) counters, histograms and gauges read 0; children still work."""
        registry = MetricsRegistry()
        hits = registry.counter("hits", "Hits.")
        hits.inc(3)
        registry.record_gauge("busy", 2)
        registry.record_histogram("latency_seconds", 0.2)
        registry.reset_values()
        assert registry.sample_value("hits_total") == 0
        assert registry.sample_value("busy") == 0
        assert registry.sample_value("latency_seconds_count") == 0
        hits.inc()
        assert registry.sample_value("hits_total") == 1


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def group_of(
    directory: Path, process: ProcessId, alive: set[ProcessId], log: io.StringIO | None = None
) -> ProcessGroup:
    """A group for a simulated ``process`` whose peers are alive when in ``alive``."""
    registry = MetricsRegistry()
    logger = make_logger(LoggingSettings(format="json", capture_stdlib=False), stream=log or io.StringIO())
    return ProcessGroup(
        directory, registry, process=process, parent=SUPERVISOR, alive=alive.__contains__, logger=logger
    )


class TestProcessGroup:
    def test_scrapes_merge_this_registry_with_every_other_file(self, directory: Path) -> None:
        """merged(): this process's live counts plus each other process's file (a dead one's too)."""
        alive = {A, B, SUPERVISOR}
        a, b, c = (group_of(directory, p, alive) for p in (A, B, C))
        for group, hits in ((a, 2), (b, 3), (c, 4)):
            group.registry.record_counter("hits", hits)
            group.write()
        a.registry.record_counter("hits", 10)  # not written yet: a's own share is read live
        assert values(a.merged(), "hits_total") == [((), 19.0)]

    def test_declared_gauge_modes_travel_in_the_files(self, directory: Path) -> None:
        """A gauge's mode and mostrecent stamps go through the files: the value set last wins, sum adds."""
        clock = FakeClock()
        a, b = (
            ProcessGroup(
                directory, MetricsRegistry(clock=clock), process=p, parent=SUPERVISOR, alive=everyone
            )
            for p in (A, B)
        )
        version = {g: g.registry.gauge("version", "Version.", multiprocess_mode="mostrecent") for g in (a, b)}
        for group in (a, b):
            group.registry.gauge("busy", "Busy.", multiprocess_mode="sum").set(3)
        version[a].set(1)
        clock.advance(5)
        version[b].set(2)  # set last, in the other process
        b.write()
        merged = a.merged()
        assert values(merged, "version") == [((), 2.0)]
        assert values(merged, "busy") == [((), 6.0)]

    def test_join_archives_a_dead_runs_files_and_warns_once(self, directory: Path) -> None:
        """Files whose process and recorded parent are gone move to previous/; they count no more."""
        old = group_of(directory, C, set())
        old.registry.record_counter("hits", 50)
        old.write()
        log = io.StringIO()
        new = group_of(directory, A, {A}, log)  # the supervisor (C's parent) is dead too
        assert new.join() == [C.file_name]
        assert (directory / ARCHIVE / C.file_name).exists()
        assert values(new.merged(), "hits_total") == []
        warnings = [json.loads(line) for line in log.getvalue().splitlines()]
        assert [w["event"] for w in warnings if w["level"] == "warning"] == [
            "metrics multiprocess directory held a dead run's files: archived, not counted"
        ]

    def test_join_keeps_a_dead_worker_of_the_live_run(self, directory: Path) -> None:
        """A dead worker whose supervisor lives belongs to this run: its file stays and counts."""
        dead = group_of(directory, C, {SUPERVISOR})
        dead.registry.record_counter("hits", 5)
        dead.write()
        new = group_of(directory, A, {A, SUPERVISOR})
        assert new.join() == []
        assert values(new.merged(), "hits_total") == [((), 5.0)]

    def test_dead_workers_fold_into_one_retired_file(self, directory: Path) -> None:
        """At join, dead workers of a live supervisor become one retired file: same totals, fewer files."""
        D = ProcessId(104, 1004.0)
        for process, hits in ((C, 5), (D, 4)):
            dead = group_of(directory, process, {SUPERVISOR})
            dead.registry.record_counter("hits", hits)
            dead.registry.record_gauge("busy", 1)
            dead.write()
        new = group_of(directory, A, {A, SUPERVISOR})
        new.join()
        assert sorted(p.name for p in directory.glob("*.metrics")) == [
            A.file_name,
            f"retired-{SUPERVISOR.file_name}",
        ]
        merged = new.merged()
        assert values(merged, "hits_total") == [((), 9.0)]
        assert values(merged, "busy") == []
        again = group_of(directory, B, {A, B, SUPERVISOR})
        again.join()  # nothing new to fold: the retired file is kept as it is
        assert values(again.merged(), "hits_total") == [((), 9.0)]

    def test_a_file_a_retired_file_absorbed_counts_once(self, directory: Path) -> None:
        """A crash between writing the retired file and deleting what it absorbed counts nothing twice."""
        dead = group_of(directory, C, {SUPERVISOR})
        dead.registry.record_counter("hits", 5)
        dead.write()
        retired = dataclasses.replace(
            decode(dead.path.read_bytes()), process=SUPERVISOR, parent=None, absorbed=(C.file_name,)
        )
        (directory / f"retired-{SUPERVISOR.file_name}").write_bytes(encode(retired))
        a = group_of(directory, A, {A, SUPERVISOR})
        assert values(a.merged(), "hits_total") == [((), 5.0)]
        a.join()  # deletes the absorbed file and drops its name
        assert not dead.path.exists()
        assert values(a.merged(), "hits_total") == [((), 5.0)]

    def test_join_sweeps_temporary_files_of_dead_writers(self, directory: Path) -> None:
        """A writer killed mid-write leaves .<pid>.*.tmp: the next join removes it (a live writer's stays)."""
        dead_pid = 4_000_000  # above Linux's pid_max: no such process
        (directory / f".{dead_pid}.abc.tmp").write_bytes(b"half")
        (directory / f".{os.getpid()}.def.tmp").write_bytes(b"being written")
        group_of(directory, A, {A}).join()
        assert sorted(p.name for p in directory.glob(".*.tmp")) == [f".{os.getpid()}.def.tmp"]

    def test_an_unreadable_file_is_left_out_and_logged_once(self, directory: Path) -> None:
        """A damaged file does not fail the scrape: it is left out, with one warning however many scrapes."""
        (directory / B.file_name).write_bytes(b"not a snapshot")
        log = io.StringIO()
        a = group_of(directory, A, {A, B}, log)
        a.registry.record_counter("hits", 1)
        for _ in range(3):
            assert values(a.merged(), "hits_total") == [((), 1.0)]
        assert log.getvalue().count("metrics multiprocess file left out") == 1

    def test_an_unreachable_peer_is_counted_and_its_file_used(self, directory: Path) -> None:
        """A live peer with no listener: counted as unreachable, its last file still merged."""
        b = group_of(directory, B, {A, B})
        b.registry.record_counter("hits", 4)
        b.write()
        a = group_of(directory, A, {A, B})
        assert a.sync() == {B.pid: "unreachable"}
        assert a.registry.sample_value(f"{SYNC_FAILURES}", {"reason": "unreachable"}) == 1
        assert values(a.merged(), "hits_total") == [((), 4.0)]

    def test_a_peer_that_does_not_answer_times_out(self, directory: Path) -> None:
        """A peer whose socket takes the request but never answers: a timeout after sync_timeout."""
        b = group_of(directory, B, {A, B})
        b.write()
        a = group_of(directory, A, {A, B})
        a.sync_timeout = 0.05
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as mute:
            mute.bind(b.address(B.pid))
            assert a.sync() == {B.pid: "timeout"}
        assert a.registry.sample_value(SYNC_FAILURES, {"reason": "timeout"}) == 1

    def test_a_listening_peer_writes_before_the_scrape_merges(self, directory: Path) -> None:
        """sync() asks B (listening on a runtime loop) to write: its counts since its last write show."""
        b = group_of(directory, B, {A, B})
        b.write()
        b.registry.record_counter("hits", 7)  # after B's last write: only a sync makes it visible
        a = group_of(directory, A, {A, B})
        runtime = Runtime("peer-b")
        runtime.start()
        try:

            async def listen() -> bool:
                return b.listen(asyncio.get_running_loop())

            assert runtime.submit(listen()).result(5)
            assert a.sync() == {}
            assert values(a.merged(), "hits_total") == [((), 7.0)]
        finally:
            runtime.stop()
            b._close_listener(remove=False)

    def test_one_process_leads_pushes_until_it_closes(self, directory: Path) -> None:
        """The .push.lock holder leads; another takes over once it has closed."""
        a, b = group_of(directory, A, {A, B}), group_of(directory, B, {A, B})
        assert a.leads_pushes()
        assert not b.leads_pushes()
        asyncio.run(a.close())
        assert b.leads_pushes()
        asyncio.run(b.close())


class TestLeaderOnly:
    def test_only_the_leader_pushes(self, directory: Path) -> None:
        """A worker that does not hold the push lock neither ticks nor flushes its exporter."""
        pushed: list[str] = []

        class Recording:
            name, interval = "remote_write", 10.0

            async def tick(self) -> float | None:
                pushed.append("tick")
                return None

            async def flush(self) -> None:
                pushed.append("flush")

        leader, other = group_of(directory, A, {A, B}), group_of(directory, B, {A, B})
        assert leader.leads_pushes()

        async def run() -> None:
            await LeaderOnly(Recording(), other).tick()
            await LeaderOnly(Recording(), other).flush()
            await LeaderOnly(Recording(), leader).tick()
            await LeaderOnly(Recording(), leader).flush()

        asyncio.run(run())
        assert pushed == ["tick", "flush"]
        asyncio.run(leader.close())

    def test_taking_over_primes_the_encoder_with_the_merged_totals(self, directory: Path) -> None:
        """A worker that waited and then leads primes its encoder once, with the merged view, then pushes."""
        primed: list[list[str]] = []

        class Encoder:
            def prime(self, families: list[MetricFamily]) -> None:
                primed.append([s.name for f in families for s in f.samples])

        class Exporter:
            name, interval, encoder = "datadog", 10.0, Encoder()

            async def tick(self) -> float | None:
                return None

            async def flush(self) -> None:
                pass

        first, second = group_of(directory, A, {A, B}), group_of(directory, B, {A, B})
        first.registry.record_counter("hits", 3)
        first.write()
        assert first.leads_pushes()
        taking_over = LeaderOnly(Exporter(), second)

        async def run() -> None:
            await taking_over.tick()  # A leads: B waits
            await first.close()
            await taking_over.tick()  # B takes over: primes, then pushes
            await taking_over.tick()  # B led already: no second priming

        asyncio.run(run())
        assert primed == [["hits_total"]]
        asyncio.run(second.close())


class TestDirectory:
    def test_the_setting_wins_over_the_environment_variable(self, tmp_path: Path) -> None:
        """Both set: the setting's directory; only the variable: its directory; neither: one process."""
        setting, variable = tmp_path / "s", tmp_path / "v"
        setting.mkdir()
        variable.mkdir()
        env = {ENV_VAR: str(variable)}
        found = resolve_directory(MetricsSettings(multiprocess_dir=setting), env)
        assert found is not None and found[0] == setting.resolve()
        found = resolve_directory(MetricsSettings(), env)
        assert found is not None and found[0] == variable.resolve()
        assert resolve_directory(MetricsSettings(), {ENV_VAR: " "}) is None

    def test_a_missing_directory_is_config_030_located_at_the_variable(self, tmp_path: Path) -> None:
        """A directory that does not exist: CONFIG_030 naming it, located at the environment variable."""
        with pytest.raises(ConfigError) as caught:
            resolve_directory(MetricsSettings(), {ENV_VAR: str(tmp_path / "missing")})
        error = caught.value
        assert error.code == "CONFIG_030"
        assert str(error.location) == f"${ENV_VAR}"
        assert "does not exist" in error.message and error.path == "monitoring.metrics.multiprocess_dir"

    def test_a_file_is_not_a_directory(self, tmp_path: Path) -> None:
        """A path naming a file: CONFIG_030, 'is not a directory'."""
        path = tmp_path / "file"
        path.write_text("")
        with pytest.raises(ConfigError, match="is not a directory"):
            resolve_directory(MetricsSettings(multiprocess_dir=path), {})


class TestProcessId:
    def test_this_process_is_alive_and_a_reused_pid_is_not(self) -> None:
        """The current process is alive; the same pid with another start time is another process."""
        me = ProcessId.of(os.getpid())
        assert me is not None and process_alive(me)
        assert not process_alive(ProcessId(me.pid, me.start - 100))
