"""Tests of the multiprocess part and its wiring: Monitoring.exposition, writes, /metrics and pushes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from conftest import ASGIClient
from sharedconfig.config import load
from sharedconfig.errors import ConfigError
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.multiprocess import (
    ENV_VAR,
    LastFiles,
    LeaderOnly,
    ProcessGroup,
    ProcessId,
    decode,
    encode,
    snapshot_of,
)
from sharedconfig.monitoring.settings import (
    LoggingSettings,
    MetricsSettings,
    MonitoringSettings,
    PrometheusExporterSettings,
)
from sharedconfig.server.app import create_app
from sharedconfig.testing import FakeClock


def settings(directory: Path | None, **metrics: object) -> MonitoringSettings:
    """Quiet settings in multiprocess mode on ``directory`` (None: one process)."""
    return MonitoringSettings(
        logging=LoggingSettings(format="json", capture_stdlib=False),
        metrics=MetricsSettings(multiprocess_dir=directory, **metrics),  # type: ignore[arg-type]
    )


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(ENV_VAR, raising=False)
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def own_file(directory: Path) -> Path:
    """This process's file in ``directory``."""
    me = ProcessId.of(os.getpid())
    assert me is not None
    return directory / me.file_name


def hits_in(path: Path) -> list[float]:
    """The values of ``hits_total`` in a process file."""
    return [s[2] for f in decode(path.read_bytes()).families for s in f.samples if s[0] == "hits_total"]


class TestWiring:
    def test_multiprocess_mode_exposes_the_group_and_builds_the_part(self, directory: Path) -> None:
        """With a directory, exposition is a ProcessGroup on it and the multiprocess part is built."""
        mon = Monitoring(settings(directory), stream=io.StringIO())
        assert isinstance(mon.exposition, ProcessGroup)
        assert mon.exposition.directory == directory.resolve()
        assert mon.part("multiprocess") is not None

    def test_one_process_exposes_the_registry(self, directory: Path) -> None:
        """Without a directory (setting and variable unset), exposition is the registry, no part."""
        mon = Monitoring(settings(None), stream=io.StringIO())
        assert mon.exposition is mon.metrics
        assert mon.part("multiprocess") is None

    def test_a_missing_directory_in_a_file_is_located_at_its_line(self, directory: Path) -> None:
        """Monitoring.from_config: CONFIG_030 points at the file, line and column of the setting."""
        path = directory / "app.yaml"
        path.write_text("monitoring:\n  metrics:\n    multiprocess_dir: /nonexistent/metrics\n")
        with pytest.raises(ConfigError) as caught:
            Monitoring.from_config(load([str(path)], environ={}, env_file=None), stream=io.StringIO())
        assert caught.value.code == "CONFIG_030"
        assert str(caught.value.location) == f"{path}:3:5"

    def test_the_environment_variable_turns_it_on(
        self, directory: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SHAREDCONFIG_METRICS_MULTIPROCESS_DIR alone is enough."""
        monkeypatch.setenv(ENV_VAR, str(directory))
        assert isinstance(Monitoring(settings(None), stream=io.StringIO()).exposition, ProcessGroup)

    def test_push_exporters_push_from_the_leader_only(self, directory: Path) -> None:
        """In multiprocess mode every exporter is wrapped so that only the push-lock holder pushes."""
        exporter = PrometheusExporterSettings(endpoint="http://127.0.0.1:9", push_interval="15s")  # type: ignore[arg-type]
        mon = Monitoring(settings(directory, exporters=(exporter,)), stream=io.StringIO())
        assert [type(e) for e in mon.exporters] == [LeaderOnly]
        leader_only = mon.exporters[0]
        assert isinstance(leader_only, LeaderOnly) and leader_only.group is mon.exposition
        # pushes read the last files, never waiting on peers from the runtime's loop
        assert leader_only.exporter.collector == LastFiles(mon.exposition)  # type: ignore[attr-defined]


class TestPart:
    def test_start_joins_and_stop_writes_the_last_numbers(self, directory: Path) -> None:
        """start() writes this process's file; what is recorded after it is in the file once stopped."""
        clock = FakeClock()
        mon = Monitoring(settings(directory), stream=io.StringIO(), clock=clock)
        with mon:
            assert own_file(directory).exists()
            mon.metrics.record_counter("hits", 3)
        assert hits_in(own_file(directory)) == [3.0]

    def test_the_writer_job_writes_every_interval(self, directory: Path) -> None:
        """While started, the file catches up with the registry at each multiprocess_interval."""
        clock = FakeClock()
        mon = Monitoring(settings(directory, multiprocess_interval="1s"), stream=io.StringIO(), clock=clock)
        with mon:
            mon.metrics.record_counter("hits", 2)
            clock.advance(1)
            assert hits_in(own_file(directory)) == [2.0]


class TestMetricsEndpoint:
    def test_metrics_serves_the_merge_of_every_process(self, directory: Path) -> None:
        """GET /metrics adds another process's file to this process's own counts."""
        mon = Monitoring(settings(directory), stream=io.StringIO())
        me = ProcessId.of(os.getpid())
        peer = ProcessId(4_000_000, 1.0)  # no such process: its counters count, it is asked nothing
        family = MetricFamily("hits", MetricType.COUNTER, "Hits.", (Sample("hits_total", (), 5.0),))
        (directory / peer.file_name).write_bytes(encode(snapshot_of(peer, me, 0.0, [family], {}, {})))
        mon.metrics.record_counter("hits", 2)
        body = ASGIClient(create_app(mon, manage_monitoring=False)).get("/metrics").text
        assert "\nhits_total 7.0\n" in body
