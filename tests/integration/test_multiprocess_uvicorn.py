"""Two uvicorn workers behind one port in multiprocess mode: every scrape, from either worker, shows all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_until
from integration.workers import scrape_each_worker
from sharedconfig.monitoring.metrics.multiprocess import decode, merge

HERE = Path(__file__).parent
UVICORN = (sys.executable, "-m", "uvicorn", "multiprocess_app:app", "--workers", "2", "--no-access-log")
HITS = 20
CLOSE = {"Connection": "close"}  # a new connection per request, so the kernel spreads them over workers


@dataclass
class Service:
    """The running service: its URL, its multiprocess directory and its supervisor process."""

    url: str
    directory: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM to the process group (supervisor and workers), as a service manager stops it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start(directory: Path, log: Path, files: int = 2) -> Service:
    """``uvicorn multiprocess_app:app --workers 2`` on a free port, once ``files`` files are there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    env["SHAREDCONFIG_METRICS_MULTIPROCESS_DIR"] = str(directory)
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*UVICORN, "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers die with it at the end
        )
    service = Service(f"http://127.0.0.1:{port}", directory, process)
    try:
        wait_until(
            lambda: (
                process.poll() is None
                and len(list(directory.glob("*.metrics"))) == files
                and httpx.get(f"{service.url}/health/live", timeout=1).status_code == 200
            ),
            60,
            f"two uvicorn workers to start (log: {log.read_text(errors='replace')[-2000:]})",
        )
    except BaseException:
        service.stop()
        raise
    return service


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Service]:
    """Two uvicorn workers on an empty multiprocess directory; stopped at the end."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    service = start(directory, tmp_path / "uvicorn.log")
    try:
        yield service
    finally:
        service.stop()


def hits_in(body: str) -> float:
    """The value of ``test_hits_total`` in a Prometheus text body."""
    match = re.search(r"^test_hits_total (\S+)$", body, re.MULTILINE)
    assert match is not None, body
    return float(match.group(1))


class TestTwoUvicornWorkers:
    def test_every_scrape_shows_every_hit(self, two_workers: Service) -> None:
        """20 hits spread over two workers, then every scrape (both workers serve some) shows 20."""
        url = two_workers.url
        with httpx.Client(timeout=5) as client:
            for _ in range(HITS):
                assert client.get(f"{url}/hit", headers=CLOSE).status_code == 200
        served = {pid: [hits_in(body) for body in bodies] for pid, bodies in scrape_each_worker(url).items()}
        assert all(value == HITS for values in served.values() for value in values), served

    def test_each_worker_writes_its_last_numbers_at_stop(self, two_workers: Service) -> None:
        """After SIGTERM the two workers' files add up to every hit: each wrote at stop (part close)."""
        with httpx.Client(timeout=5) as client:
            for _ in range(HITS):
                assert client.get(f"{two_workers.url}/hit", headers=CLOSE).status_code == 200
        two_workers.stop()
        assert two_workers.process.returncode == 0
        files = sorted(two_workers.directory.glob("*.metrics"))
        assert len(files) == 2
        snapshots = [decode(path.read_bytes()) for path in files]
        merged = merge(snapshots, alive=lambda process: False)
        hits = [f for f in merged if f.name == "test_hits"]
        assert [s.value for s in hits[0].samples] == [HITS]

    def test_a_restarted_service_archives_the_last_runs_files(
        self, two_workers: Service, tmp_path: Path
    ) -> None:
        """Stopped after 20 hits and started again on the same directory: a scrape shows 0, not 20; the
        last run's two files (their supervisor is gone) are in previous/, and the log says so."""
        with httpx.Client(timeout=5) as client:
            for _ in range(HITS):
                assert client.get(f"{two_workers.url}/hit", headers=CLOSE).status_code == 200
        two_workers.stop()
        log = tmp_path / "second.log"
        again = start(two_workers.directory, log)
        try:
            with httpx.Client(timeout=5) as client:
                assert hits_in(client.get(f"{again.url}/metrics", headers=CLOSE).text) == 0
        finally:
            again.stop()
        assert len(list((two_workers.directory / "previous").glob("*.metrics"))) == 2
        assert "archived, not counted" in log.read_text()
