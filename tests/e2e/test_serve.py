"""End-to-end tests of ``sharedconfig serve``: as a subprocess on a real port, and its refusals in process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import free_port, serving, wait_until
from sharedconfig.cli import serve as serve_cmd
from sharedconfig.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "deploy" / "config" / "monitoring-production.yaml")
DEMO = str(ROOT / "deploy" / "config" / "demo.yaml")
CLI = str(Path(sys.executable).parent / "sharedconfig")
TOKEN = "e2e-token-5b7d"
Promtool = Callable[[bytes], subprocess.CompletedProcess[bytes]]


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without SHAREDCONFIG_* and the seed's variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SHAREDCONFIG_") and k not in ("DATADOG_API_KEY", "SLACK_WEBHOOK_URL")
    }
    env.update(extra)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`sharedconfig serve` on the seed's production YAML, on a free port; the process and its URL."""
    port = free_port()
    env = clean_env(
        DATADOG_API_KEY="dd-e2e-key",
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/e2e",
        SHAREDCONFIG_API_TOKEN=TOKEN,
        # the seed's exporters point at prometheus:9090 and DataDog's API: tests send nothing off this
        # machine, so both go to a closed port on 127.0.0.1 (the failures are retried in the background)
        SHAREDCONFIG_MONITORING__METRICS__EXPORTERS__0__ENDPOINT=f"http://127.0.0.1:{free_port()}",
        SHAREDCONFIG_MONITORING__METRICS__EXPORTERS__1__ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    with serving([SEED], cwd=tmp_path, env=env, port=port) as served_process:
        yield served_process


class TestServeSubprocess:
    def test_production_config_serves_and_stops_on_sigterm(
        self, served: tuple[subprocess.Popen[str], str], promtool: Promtool
    ) -> None:
        """Unreachable exporters do not stop it: promtool-clean metrics, health, auth; SIGTERM exits 0."""
        process, url = served
        metrics = httpx.get(f"{url}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert "config_load_duration_seconds_count{" in metrics.text and "config_info{" in metrics.text
        checked = promtool(metrics.content)
        assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()

        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code in (200, 503)
        body = health.json()
        assert body["status"] in ("healthy", "degraded", "unhealthy", "unknown")
        assert {"config_loader", "process", "security_manager"} <= set(body["checks"])

        assert httpx.get(f"{url}/api/v1/config", timeout=5).status_code == 401
        authorized = httpx.get(
            f"{url}/api/v1/config", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert authorized.status_code == 200
        assert authorized.json()["config"]["monitoring"]["metrics"]["exporters"][1]["api_key"] == "**********"
        assert "dd-e2e-key" not in authorized.text
        assert httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert f"{url}/metrics" in out
        assert f"{url}/api/v1/config" in out
        assert "Traceback" not in err
        assert "dd-e2e-key" not in out + err

    def test_public_bind_without_token_refuses_to_start(self, tmp_path: Path) -> None:
        """--host 0.0.0.0 without a token exits 1 with SECURITY_002 and a hint, no traceback."""
        result = subprocess.run(
            [CLI, "serve", DEMO, "--host", "0.0.0.0", "--port", str(free_port())],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert "SECURITY_002" in result.stderr
        assert "refusing to listen on 0.0.0.0" in result.stderr
        assert "SHAREDCONFIG_API_TOKEN" in result.stderr
        assert "Traceback" not in result.stderr


class TestServeInProcess:
    def test_serves_until_sigterm(
        self, clean_cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """In process: serve answers with config metrics recorded, then SIGTERM ends it with exit 0."""
        monkeypatch.setenv("SHAREDCONFIG_API_TOKEN", TOKEN)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        seen: dict[str, int] = {}

        def probe_then_terminate() -> None:
            try:
                wait_until(lambda: httpx.get(f"{url}/health", timeout=1).status_code == 200, 30, "serve")
                seen["metrics"] = httpx.get(f"{url}/metrics", timeout=5).text.count(
                    "config_load_duration_seconds_count{"
                )
                bearer = {"Authorization": f"Bearer {TOKEN}"}
                seen["config"] = httpx.get(f"{url}/api/v1/config", headers=bearer, timeout=5).status_code
            finally:
                os.kill(os.getpid(), signal.SIGTERM)

        prober = threading.Thread(target=probe_then_terminate)
        prober.start()
        code = main(["serve", DEMO, "--port", str(port)])
        prober.join(10)
        out = capsys.readouterr().out
        assert code == 0
        assert seen == {"metrics": 1, "config": 200}
        assert f"{url}/openapi.json" in out
        assert "Authorization: Bearer <token>" in out

    def test_invalid_config_prints_issues_and_exits_1(
        self, clean_cli_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A config with errors is reported like `validate` does (file:line:col, code) and exits 1."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("monitoring:\n  sample_rate: 7\n")
        code = main(["serve", str(bad), "--port", "0"])
        err = capsys.readouterr().err
        assert code == 1
        assert f"{bad}:2:3: error VALIDATION_" in err
        assert "monitoring.sample_rate" in err

    def test_missing_server_extra_names_it(
        self, clean_cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without FastAPI/uvicorn the command says which extra to install and exits 1."""
        monkeypatch.setattr(serve_cmd, "find_spec", lambda name: None)
        code = main(["serve", DEMO])
        err = capsys.readouterr().err
        assert code == 1
        assert "pip install 'sharedconfig[server]'" in err
        assert "fastapi" in err

    def test_port_in_use_is_a_clear_error(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A taken port is reported with a hint instead of a traceback."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code = main(["serve", DEMO, "--port", str(port)])
        err = capsys.readouterr().err
        assert code == 1
        assert f"cannot listen on 127.0.0.1:{port}" in err
        assert "hint:" in err
