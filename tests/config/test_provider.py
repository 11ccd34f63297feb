"""Tests for FileConfigProvider: the ConfigProvider contract, save, validate, and the polling watch."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sharedconfig.config import Config, SettingsModule, load
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.config.tree import Provenance
from sharedconfig.config.validation import ValidationReport
from sharedconfig.errors import ConfigError, ConfigValidationError
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
    return FileConfigProvider([path], options=OPTS, modules=MODULES, poll_interval=0.01)


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
        reloads: list[bool] = []

        class Hooks:
            def on_load(self, *args: object) -> None: ...
            def on_validation(self, *args: object) -> None: ...
            def on_change(self, *args: object) -> None: ...

            def on_reload(self, old: Config, new: Config | None, report: object, seconds: float) -> None:
                reloads.append(new is not None)

        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=Hooks(), poll_interval=3600)
        first = prov.load()
        seen: list[Config] = []
        unsubscribe = prov.watch(seen.append)
        assert prov.poll() is None  # unchanged
        path.write_text("demo: {rate: 0.2}\n")
        os.utime(path, ns=(1, 10**18))
        assert prov.poll() is not None
        assert seen[-1].demo.rate == 0.2
        path.write_text("demo: {rate: 9}\n")
        os.utime(path, ns=(1, 2 * 10**18))
        assert prov.poll() is None
        assert prov.current is not None and prov.current.demo.rate == 0.2
        assert reloads == [True, False]
        assert first.demo.rate == 0.1
        unsubscribe()
        unsubscribe()


class TestWatchHooks:
    def test_reload_reports_duration_changes_and_survives_a_broken_subscriber(self, tmp_path: Path) -> None:
        """on_reload gets a real duration, on_change the changed paths; other subscribers still run."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        events: list[tuple[str, object]] = []

        class Hooks:
            def on_load(self, config: Config | None, report: object, seconds: float) -> None:
                events.append(("load", config is not None))

            def on_validation(self, report: object, seconds: float) -> None:
                events.append(("validation", seconds >= 0))

            def on_reload(self, old: Config, new: Config | None, report: object, seconds: float) -> None:
                events.append(("reload", seconds > 0))

            def on_change(self, old: Config, new: Config, changed: object) -> None:
                events.append(("change", changed))

        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=Hooks(), poll_interval=3600)
        prov.load()
        seen: list[float] = []

        def broken(config: Config) -> None:
            raise RuntimeError("subscriber bug")

        prov.watch(broken)
        unsubscribe = prov.watch(lambda c: seen.append(c.demo.rate))
        events.clear()
        path.write_text("demo: {rate: 0.3}\n")
        os.utime(path, ns=(1, 10**18))
        with pytest.raises(RuntimeError, match="subscriber bug"):
            prov.poll()
        assert seen == [0.3]
        assert events == [("validation", True), ("load", True), ("reload", True), ("change", ["demo.rate"])]
        unsubscribe()
