"""Tests for FileConfigProvider: the ConfigProvider contract, save, validate, poll, and watch (its watcher).

The watcher itself is tested in test_watcher.py; here, what the provider adds: ``watch(callback)`` with the
seed's one-argument callbacks, ``poll()`` by hand, and ``poll_interval`` looking at the files on the clock.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sharedconfig.config import Config, ConfigHooks, SettingsModule, load
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.config.tree import Provenance
from sharedconfig.config.validation import ValidationReport
from sharedconfig.errors import ConfigError, ConfigValidationError
from sharedconfig.interfaces import ConfigProvider
from sharedconfig.runtime import Scheduler
from sharedconfig.testing import FakeClock, Recording
from sharedconfig.testing.compliance import ConfigProviderContract


class Demo(BaseModel):
    """A module schema with a secret and a range."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "demo"
    rate: float = Field(0.5, ge=0, le=1)
    token: SecretStr | None = None


MODULES = (SettingsModule("demo", Demo),)
OPTS = LoadOptions(env_file=None, environ={})


def provider(path: Path) -> FileConfigProvider:
    # the watch looks at the files once an hour, so never during a test: tests call poll() themselves
    return FileConfigProvider([path], options=OPTS, modules=MODULES, poll_interval=3600)


class TestFileConfigProviderContract(ConfigProviderContract[Config]):
    """FileConfigProvider passes the reusable ConfigProvider contract."""

    def make(self, tmp_path: Path) -> FileConfigProvider:
        return provider(self.config_file(tmp_path))

    def sample(self) -> Config:
        return load(
            defaults={"demo": {"name": "x", "rate": 0.25, "token": "t0k"}},
            modules=MODULES,
            environ={},
            env_file=None,
        )

    def variant(self) -> Config:
        return load(
            defaults={"demo": {"name": "y", "rate": 0.75, "token": "other"}},
            modules=MODULES,
            environ={},
            env_file=None,
        )

    def notice_change(self, provider: ConfigProvider[Config]) -> None:
        assert isinstance(provider, FileConfigProvider)
        provider.poll()  # content hashes: a rewrite within the file system's mtime resolution still counts

    def invalid(self) -> Config:
        bad = Demo.model_construct(name="x", rate=5.0, token=None)
        return Config({"demo": bad}, {}, Provenance(), ValidationReport())


class TestFileConfigProvider:
    def test_save_keeps_secrets_private(self, tmp_path: Path) -> None:
        """save writes the secret values (so they load again) into a file only the owner can read."""
        path = tmp_path / "c.yaml"
        prov = provider(path)
        prov.save(TestFileConfigProviderContract().sample(), path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert provider(path).load().demo.token.get_secret_value() == "t0k"

    def test_save_to_missing_directory(self, tmp_path: Path) -> None:
        """A save that cannot write is CONFIG_023."""
        sample = TestFileConfigProviderContract().sample()
        with pytest.raises(ConfigError) as info:
            provider(tmp_path / "c.yaml").save(sample, tmp_path / "no" / "c.yaml")
        assert info.value.code == "CONFIG_023"

    def test_load_failure_raises_and_keeps_none(self, tmp_path: Path) -> None:
        """An invalid file raises CONFIG_002 with the issues; current stays None."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 3}\n")
        prov = provider(path)
        with pytest.raises(ConfigValidationError) as info:
            prov.load()
        assert info.value.issues[0].code == "VALIDATION_003"
        assert prov.current is None

    def test_poll_reloads_on_change_and_keeps_last_good(self, tmp_path: Path) -> None:
        """poll() picks up a valid change, ignores an invalid one, and notifies subscribers."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        rec = Recording(ConfigHooks)
        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=rec.hooks, poll_interval=3600)
        first = prov.load()
        seen: list[Config] = []
        unsubscribe = prov.watch(seen.append)
        assert prov.poll() is None  # unchanged
        path.write_text("demo: {rate: 0.2}\n")
        assert prov.poll() is not None
        assert seen[-1].demo.rate == 0.2
        path.write_text("demo: {rate: 9}\n")
        assert prov.poll() is None
        assert prov.current is not None and prov.current.demo.rate == 0.2
        assert [call.arguments["new"] is not None for call in rec.calls_to("on_reload")] == [True, False]
        assert first.demo.rate == 0.1
        unsubscribe()
        unsubscribe()

    def test_poll_ignores_a_touch_without_a_change_of_content(self, tmp_path: Path) -> None:
        """A new modification time with the same bytes is no reload: the contents' hashes decide."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        rec = Recording(ConfigHooks)
        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=rec.hooks)
        prov.load()
        rec.clear()
        os.utime(path, ns=(1, 10**18))
        assert prov.poll() is None
        assert rec.calls == ()


class TestOptions:
    def test_keywords_complete_the_options_and_win(self, tmp_path: Path) -> None:
        """Keyword options join options=, a keyword given in both wins, and every load uses them."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        opts = LoadOptions(env_file=None, environ={}, overrides=["demo.name=from-options"])
        prov = FileConfigProvider([path], options=opts, modules=MODULES, overrides=["demo.name=keyword"])
        assert prov.load().demo.name == "keyword"
        assert prov.options["overrides"] == ["demo.name=keyword"]
        assert opts["overrides"] == ["demo.name=from-options"]  # the caller's options are not changed

    def test_profile_from_the_environment_is_fixed_at_construction(self, tmp_path: Path) -> None:
        """$SHAREDCONFIG_PROFILE picks the overlay, as for load(), and its content is watched."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        overlay = tmp_path / "c.prod.yaml"
        overlay.write_text("demo: {rate: 0.2}\n")
        env = {"SHAREDCONFIG_PROFILE": "prod"}
        prov = FileConfigProvider([path], env_file=None, environ=env, modules=MODULES)
        assert prov.load() == load([path], env_file=None, environ=env, modules=MODULES)
        assert prov.load().demo.rate == 0.2
        overlay.write_text("demo: {rate: 0.3}\n")
        reloaded = prov.poll()
        assert reloaded is not None and reloaded.demo.rate == 0.3

    def test_validate_raises_with_every_issue(self, tmp_path: Path) -> None:
        """validate() of an invalid snapshot raises CONFIG_002 carrying its issues, located at the first."""
        bad = Demo.model_construct(name="x", rate=5.0, token=None)
        snapshot = Config({"demo": bad}, {}, Provenance(), ValidationReport())
        with pytest.raises(ConfigValidationError) as info:
            provider(tmp_path / "c.yaml").validate(snapshot)
        assert [i.code for i in info.value.issues] == ["VALIDATION_003"]
        assert info.value.path == "demo.rate"


class TestWatchHooks:
    def test_reload_reports_duration_changes_and_survives_a_broken_subscriber(self, tmp_path: Path) -> None:
        """on_reload gets a real duration, on_change the changed paths; other subscribers still run and the
        broken one is counted."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        rec = Recording(ConfigHooks)
        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=rec.hooks, poll_interval=3600)
        prov.load()
        seen: list[float] = []

        def broken(config: Config) -> None:
            raise RuntimeError("subscriber bug")

        unsubscribe_broken = prov.watch(broken)
        unsubscribe = prov.watch(lambda c: seen.append(c.demo.rate))
        rec.clear()
        path.write_text("demo: {rate: 0.3}\n")
        assert prov.poll() is not None
        assert seen == [0.3]
        assert prov.watcher.subscriber_errors == 1
        assert [call.method for call in rec.calls] == ["on_validation", "on_load", "on_reload", "on_change"]
        validation, loaded, reloaded, changed = (call.arguments for call in rec.calls)
        assert isinstance(validation["seconds"], float) and validation["seconds"] >= 0
        assert loaded["config"] is not None
        assert isinstance(reloaded["seconds"], float) and reloaded["seconds"] > 0
        assert changed["changed"] == ["demo.rate"]
        unsubscribe()
        unsubscribe_broken()  # the last one out stops the watcher


class TestWatchSchedule:
    """With poll_interval the watch looks at the files' hashes on a scheduler and a clock: a FakeClock
    drives it, with no real wait (the operating system's notices are tested in test_watcher.py)."""

    def write(self, path: Path, rate: float) -> None:
        path.write_text(f"demo: {{rate: {rate}}}\n")

    def watched(
        self, tmp_path: Path, clock: FakeClock, scheduler: Scheduler | None = None
    ) -> tuple[Path, FileConfigProvider]:
        """app.yaml at rate 0.1 and a provider of it looking every 5 s of ``clock``, loaded once."""
        path = tmp_path / "app.yaml"
        self.write(path, 0.1)
        prov = FileConfigProvider(
            [path],
            options=OPTS,
            modules=MODULES,
            poll_interval=5,
            debounce=0,
            clock=clock,
            scheduler=scheduler,
        )
        prov.load()
        return path, prov

    def test_own_runtime_looks_every_interval_until_the_last_unsubscribe(self, tmp_path: Path) -> None:
        """A change is seen at the next poll_interval of the clock; after unsubscribing nothing looks."""
        clock = FakeClock()
        path, prov = self.watched(tmp_path, clock)
        seen: list[float] = []
        unsubscribe = prov.watch(lambda c: seen.append(c.module("demo", Demo).rate))
        self.write(path, 0.2)
        clock.advance(4)
        assert seen == []
        clock.advance(1)
        assert seen == [0.2]
        clock.advance(5)
        assert seen == [0.2]  # looked again: same content, no call
        unsubscribe()
        assert not prov.watcher.running
        self.write(path, 0.3)
        clock.advance(10)
        assert seen == [0.2]

    def test_looks_on_a_given_scheduler(self, tmp_path: Path) -> None:
        """With scheduler=, the watch is a job on that runtime (the Monitoring's), cancelled at the end."""
        from sharedconfig.runtime import Runtime

        clock = FakeClock()
        runtime = Runtime("test-provider", clock=clock)
        path, prov = self.watched(tmp_path, clock, scheduler=runtime)
        seen: list[float] = []
        runtime.start()
        try:
            unsubscribe = prov.watch(lambda c: seen.append(c.module("demo", Demo).rate))
            assert [job.name for job in runtime.jobs] == ["config-watch"]
            clock.advance(0)
            self.write(path, 0.4)
            clock.advance(5)
            unsubscribe()
            assert runtime.jobs == ()
        finally:
            runtime.stop()
        assert seen == [0.4]

    def test_a_subscriber_may_unsubscribe_from_inside_the_watch(self, tmp_path: Path) -> None:
        """Unsubscribing from the watcher's own thread stops its runtime without a deadlock."""
        clock = FakeClock()
        path, prov = self.watched(tmp_path, clock)
        stops: list[Callable[[], None]] = []

        def once(config: Config) -> None:
            stops[0]()

        stops.append(prov.watch(once))
        self.write(path, 0.2)
        clock.advance(5)
        assert prov.current is not None
        assert prov.current.module("demo", Demo).rate == 0.2
