"""ConfigWatcher with the real watchfiles notifier: Kubernetes-style ConfigMap swaps, editors' writes, and
a rejected then accepted reload seen by a real Monitoring (health and events), all in real time; and a
real etcd and Redis store followed beside a file.

Each wait is bounded (``wait_until``); the debounce is short, so a test takes well under a second per change.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from conftest import wait_until
from integration.servers import Server, require_module
from integration.store_contract import prefix
from sharedconfig.cli.main import main
from sharedconfig.config import Config, ConfigHooks, SettingsModule, load
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.stores import parse_store_url
from sharedconfig.config.watcher import ConfigWatcher, Diff
from sharedconfig.interfaces import HealthState
from sharedconfig.monitoring import Monitoring
from sharedconfig.testing import Recording

QUIET = 0.5
"""Real seconds after which a change that was going to be reloaded has been (notices come in ~0.1 s)."""
TIMEOUT = 10.0
"""Real seconds to wait for a change to reach a subscriber (it takes ~0.1 s: 50 ms batch + debounce)."""


class Demo(BaseModel):
    """A module schema with a range."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(0.5, ge=0, le=1)


MODULES = (SettingsModule("demo", Demo),)
OPTS = LoadOptions(env_file=None, environ={}, modules=MODULES)


def rate(config: Config | None) -> float:
    assert config is not None
    value: float = config.module("demo", Demo).rate
    return value


class ConfigMap:
    """A directory laid out as the kubelet mounts a ConfigMap, swapped as the kubelet swaps it.

    ``app.yaml -> ..data/app.yaml``, ``..data -> ..<timestamp>_N``; ``swap`` writes a new timestamped
    directory, points a temporary link at it and renames that link over ``..data`` (atomic), then removes
    the old directory: the file's own path never changes, only what it resolves to.
    """

    def __init__(self, root: Path, text: str) -> None:
        self.root = root
        root.mkdir()
        self.generation = 0
        self.current = self._write(text)
        os.symlink(self.current, root / "..data")
        os.symlink(Path("..data") / "app.yaml", root / "app.yaml")

    @property
    def path(self) -> Path:
        return self.root / "app.yaml"

    def _write(self, text: str) -> str:
        self.generation += 1
        name = f"..2026_01_01_00_00_00.{self.generation:09d}"
        (self.root / name).mkdir()
        (self.root / name / "app.yaml").write_text(text)
        return name

    def swap(self, text: str) -> None:
        old, self.current = self.current, self._write(text)
        os.symlink(self.current, self.root / "..data_tmp")
        os.replace(self.root / "..data_tmp", self.root / "..data")
        shutil.rmtree(self.root / old)


@pytest.fixture
def started() -> Iterator[list[ConfigWatcher]]:
    """Watchers a test starts, stopped at its end whatever happened; no thread may outlive them."""
    before = set(threading.enumerate())
    watchers: list[ConfigWatcher] = []
    yield watchers
    for watcher in watchers:
        watcher.stop()
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left after stop(): {left}"


class TestKubernetesSwaps:
    def test_three_swaps_in_a_row_are_all_seen(self, tmp_path: Path, started: list[ConfigWatcher]) -> None:
        """Three ..data swaps, each waited for: the subscriber gets each new rate, in order (a watch on the
        file itself would see only the first: viper #284)."""
        cm = ConfigMap(tmp_path / "config", "demo: {rate: 0.1}\n")
        watcher = ConfigWatcher([cm.path], options=OPTS, debounce=0.05)
        seen: list[float] = []
        watcher.subscribe("demo.rate", lambda old, new, diff: seen.append(rate(new)))
        started.append(watcher)
        assert watcher.watching == (str(cm.root),)
        for n, value in enumerate((0.2, 0.3, 0.4), start=1):
            cm.swap(f"demo: {{rate: {value}}}\n")
            wait_until(lambda n=n: len(seen) == n, TIMEOUT, f"swap {n} to reach the subscriber")  # type: ignore[misc]
        assert seen == [0.2, 0.3, 0.4]
        assert rate(watcher.current) == 0.4

    def test_a_swap_to_the_same_content_reloads_nothing(
        self, tmp_path: Path, started: list[ConfigWatcher]
    ) -> None:
        """The kubelet swaps even when only another key of the ConfigMap changed: same bytes, no reload."""
        cm = ConfigMap(tmp_path / "config", "demo: {rate: 0.1}\n")
        hooks = Recording(ConfigHooks)
        watcher = ConfigWatcher([cm.path], options=OPTS, hooks=hooks.hooks, debounce=0.05)
        watcher.start()
        started.append(watcher)
        hooks.clear()
        cm.swap("demo: {rate: 0.1}\n")
        time.sleep(QUIET)  # a reload would have happened by now (notices come within 0.1 s)
        assert hooks.calls == ()
        cm.swap("demo: {rate: 0.2}\n")  # the control: a real change is seen
        wait_until(lambda: rate(watcher.current) == 0.2, TIMEOUT, "the second swap")
        assert [c.arguments["new"] is not None for c in hooks.calls_to("on_reload")] == [True]


class TestEditors:
    def test_in_place_writes_and_atomic_renames_are_seen(
        self, tmp_path: Path, started: list[ConfigWatcher]
    ) -> None:
        """A rewrite in place, then write-elsewhere-and-rename (most editors and config tools)."""
        path = tmp_path / "app.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        watcher = ConfigWatcher([path], options=OPTS, debounce=0.05)
        watcher.start()
        started.append(watcher)
        path.write_text("demo: {rate: 0.2}\n")
        wait_until(lambda: rate(watcher.current) == 0.2, TIMEOUT, "the in-place write")
        (tmp_path / ".app.yaml.tmp").write_text("demo: {rate: 0.3}\n")
        os.replace(tmp_path / ".app.yaml.tmp", path)
        wait_until(lambda: rate(watcher.current) == 0.3, TIMEOUT, "the rename over the file")

    def test_a_profile_overlay_created_later_is_seen(
        self, tmp_path: Path, started: list[ConfigWatcher]
    ) -> None:
        """The overlay of the watcher's profile did not exist at start; creating it reloads."""
        path = tmp_path / "app.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        watcher = ConfigWatcher([path], options=OPTS, profile="prod", debounce=0.05)
        watcher.start()
        started.append(watcher)
        (tmp_path / "app.prod.yaml").write_text("demo: {rate: 0.6}\n")
        wait_until(lambda: rate(watcher.current) == 0.6, TIMEOUT, "the new overlay")


class TestWithMonitoring:
    def test_invalid_then_valid_file_while_running(
        self, tmp_path: Path, started: list[ConfigWatcher]
    ) -> None:
        """Issue 10's done-when: an invalid file written while running keeps the old config, config_loader
        turns degraded and config_reload_rejected is published; then a valid file swaps in, the subscriber
        gets the diff, config_changed is published and config_loader is healthy again."""
        app = tmp_path / "app.yaml"
        monitoring: dict[str, Any] = {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"check_interval": "1s", "timeout": "500ms"},
            "events": {
                "flush_interval": "1s",
                "journal": {"path": str(tmp_path / "journal")},
                "dead_letter_dir": str(tmp_path / "dead-letter"),
                "exporters": [{"type": "log"}],
            },
        }

        def save(value: float) -> None:
            app.write_text(json.dumps({"monitoring": monitoring, "demo": {"rate": value}}))

        save(0.1)
        config = load([app], **OPTS)
        stream = io.StringIO()
        mon = Monitoring.from_config(config, stream=stream)
        watcher = ConfigWatcher(
            [app],
            options=OPTS,
            current=config,
            hooks=mon.config_hooks,
            scheduler=mon.runtime,
            clock=mon.clock,
            debounce=0.05,
        )
        diffs: list[Diff] = []
        watcher.subscribe("demo", lambda old, new, diff: diffs.append(diff))
        started.append(watcher)

        def loader() -> HealthState:
            return mon.health.report().checks["config_loader"].state

        mon.start()
        try:
            wait_until(lambda: watcher.watching == (str(tmp_path),), TIMEOUT, "the watch to be in place")
            wait_until(lambda: loader() is HealthState.HEALTHY, TIMEOUT, "config_loader healthy")
            save(7)
            wait_until(lambda: loader() is HealthState.DEGRADED, TIMEOUT, "config_loader degraded")
            assert rate(watcher.current) == 0.1 and diffs == []
            save(0.3)
            wait_until(lambda: loader() is HealthState.HEALTHY, TIMEOUT, "config_loader healthy again")
            assert rate(watcher.current) == 0.3
            assert diffs == [[("demo.rate", 0.1, 0.3)]]
        finally:
            watcher.stop()
            mon.stop(timeout=5)
        events = [json.loads(line) for line in stream.getvalue().splitlines()]
        types = [e.get("event_type") for e in events if e.get("event") == "event"]
        assert "config_reload_rejected" in types and "config_changed" in types
        assert types.index("config_reload_rejected") < types.index("config_changed")


class TestStores:
    @pytest.mark.parametrize(("kind", "client"), [("etcd", "aetcd"), ("redis", "redis")])
    def test_a_push_reaches_the_subscriber_beside_a_file(
        self,
        kind: str,
        client: str,
        request: pytest.FixtureRequest,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        started: list[ConfigWatcher],
    ) -> None:
        """A file and a store (a stores= URL, layered above the file): a push of a new sample rate reaches
        the subscriber through the store's own watch (no file changed)."""
        require_module(client, kind)
        server: Server = request.getfixturevalue(kind)
        url = f"{kind}://{server.address}/{prefix()}"
        pushed = tmp_path / "pushed.yaml"
        pushed.write_text("monitoring: {sample_rate: 0.2}\n")
        assert main(["push", str(pushed), "--to", url, "--env-file", ""]) == 0
        app = tmp_path / "app.yaml"
        app.write_text("monitoring: {sample_rate: 0.1, enabled: true}\n")
        watcher = ConfigWatcher([app], env_file=None, environ={}, stores=[url], debounce=0.05)
        seen: list[float] = []
        watcher.subscribe(
            "monitoring.sample_rate", lambda old, new, diff: seen.append(new.monitoring.sample_rate)
        )
        started.append(watcher)
        assert watcher.current is not None and watcher.current.monitoring.sample_rate == 0.2
        assert watcher.stores == (parse_store_url(url).name,)
        pushed.write_text("monitoring: {sample_rate: 0.7}\n")
        assert main(["push", str(pushed), "--to", url, "--env-file", ""]) == 0
        wait_until(lambda: seen == [0.7], TIMEOUT, f"the push to reach the subscriber through {kind}")
        capsys.readouterr()
