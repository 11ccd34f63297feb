"""``sharedconfig serve`` reloads its configuration while it runs: a real process, file and notices."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from conftest import serving, wait_until

TOKEN = "e2e-reload-token-3c1f"
TIMEOUT = 15.0


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without SHAREDCONFIG_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    env.update(extra)
    return env


def write(path: Path, sample_rate: float) -> None:
    """A monitoring section whose config_loader check runs every second, with ``sample_rate``."""
    section = {"sample_rate": sample_rate, "health": {"check_interval": "1s", "timeout": "500ms"}}
    path.write_text(json.dumps({"monitoring": section}))


def test_serve_follows_file_changes_and_keeps_the_last_good(tmp_path: Path) -> None:
    """An invalid edit: /api/v1/config keeps the old value and config_loader turns degraded; a valid edit:
    the API shows the new value (applied live) and config_loader is healthy again; SIGTERM still exits 0."""
    app = tmp_path / "app.json"
    write(app, 0.5)
    with serving([str(app)], cwd=tmp_path, env=clean_env(SHAREDCONFIG_API_TOKEN=TOKEN)) as (process, url):

        def sample_rate() -> Any:
            got = httpx.get(f"{url}/api/v1/config", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            return got.json()["config"]["monitoring"]["sample_rate"]

        def loader() -> Any:
            return httpx.get(f"{url}/health", timeout=5).json()["checks"]["config_loader"]["state"]

        assert sample_rate() == 0.5
        wait_until(lambda: loader() == "healthy", TIMEOUT, "config_loader healthy after the first load")
        write(app, 7)
        wait_until(lambda: loader() == "degraded", TIMEOUT, "config_loader degraded by the invalid edit")
        assert sample_rate() == 0.5
        write(app, 0.25)
        wait_until(lambda: sample_rate() == 0.25, TIMEOUT, "the valid edit to reach /api/v1/config")
        wait_until(lambda: loader() == "healthy", TIMEOUT, "config_loader healthy again")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
