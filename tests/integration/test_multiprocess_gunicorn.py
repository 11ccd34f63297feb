"""gunicorn --preload, two workers, multiprocess mode: the fork does not count the arbiter's numbers again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import free_port, gunicorn_has, wait_until
from integration.workers import scrape_each_worker

HERE = Path(__file__).parent
HITS = 20
CONF = """\
from sharedconfig.integrations.gunicorn import post_worker_init, worker_exit
"""


def value_in(body: str, name: str) -> float:
    """The value of the unlabelled sample ``name`` in a Prometheus text body."""
    match = re.search(rf"^{name} (\S+)$", body, re.MULTILINE)
    assert match is not None, body
    return float(match.group(1))


class TestGunicornPreload:
    def test_every_scrape_counts_each_hit_and_the_preload_once(self, tmp_path: Path) -> None:
        """The arbiter's import-time count shows once (not once per worker) and every scrape shows 20 hits."""
        directory = tmp_path / "metrics"
        directory.mkdir()
        conf = tmp_path / "gunicorn.conf.py"
        conf.write_text(CONF)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
        env["SHAREDCONFIG_METRICS_MULTIPROCESS_DIR"] = str(directory)
        port = free_port()
        log = tmp_path / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-c", str(conf)]
        command += ["--chdir", str(HERE), "-b", f"127.0.0.1:{port}", "multiprocess_wsgi_app:app"]
        if gunicorn_has("control_socket_disable"):  # gunicorn 27 opens a control socket in $HOME by default
            command.append("--no-control-socket")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(
                lambda: (
                    process.poll() is None
                    and len(list(directory.glob("*.metrics"))) == 3  # the arbiter and two workers
                    and httpx.get(f"{url}/metrics", timeout=1).status_code == 200
                ),
                60,
                f"gunicorn and two workers to start (log: {log.read_text(errors='replace')[-2000:]})",
            )
            with httpx.Client(timeout=5) as client:
                for _ in range(HITS):
                    assert client.get(f"{url}/hit").status_code == 200
            served = {
                pid: [
                    (value_in(body, "test_hits_total"), value_in(body, "test_imports_total"))
                    for body in bodies
                ]
                for pid, bodies in scrape_each_worker(url).items()
            }
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
        assert all(seen == (HITS, 1.0) for values in served.values() for seen in values), served
