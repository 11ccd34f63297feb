"""A real fork in multiprocess mode (gunicorn --preload): the child does not count its parent's numbers."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.metrics.multiprocess import ENV_VAR, ProcessGroup
from sharedconfig.monitoring.settings import LoggingSettings, MetricsSettings, MonitoringSettings


class TestFork:
    def test_a_forked_child_starts_from_zero(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Parent counts 5 and forks; the child counts 1 and writes: the merge shows 6, not 11."""
        monkeypatch.delenv(ENV_VAR, raising=False)
        settings = MonitoringSettings(
            logging=LoggingSettings(format="json", capture_stdlib=False),
            metrics=MetricsSettings(multiprocess_dir=tmp_path),
        )
        mon = Monitoring(settings, stream=io.StringIO())
        group = mon.exposition
        assert isinstance(group, ProcessGroup)
        hits = mon.metrics.counter("hits", "Hits.")
        hits.inc(5)
        group.join()
        pid = os.fork()
        if pid == 0:  # the child: exit at once, whatever happens, so pytest never runs on in it
            code = 1
            try:
                group.join()
                hits.inc()
                group.write()
                code = 0 if group.process.pid == os.getpid() else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert len(list(tmp_path.glob("*.metrics"))) == 2
        assert group.process.pid == os.getpid()
        totals = [s.value for f in group.merged() for s in f.samples if s.name == "hits_total"]
        assert totals == [6.0]
