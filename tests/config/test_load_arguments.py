"""Tests of what ``load()`` and ``check()`` take: one path alone, one override alone, added modules, and
installed modules whose entry point is broken."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from sharedconfig.config import SettingsModule, check, load
from sharedconfig.config import modules as modules_module
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.errors import ConfigError, ConfigValidationError
from sharedconfig.monitoring.settings import MonitoringSettings


class Orders(BaseModel):
    """A service's own module."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_batch: int = 10


ORDERS = SettingsModule("orders", Orders)
HERMETIC = {"environ": {}, "env_file": None}


@pytest.fixture
def app_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "app.yaml"
    path.write_text("orders:\n  max_batch: 25\nmonitoring:\n  sample_rate: 0.5\n")
    return path


class TestOnePathAlone:
    @pytest.mark.parametrize("kind", [str, Path])
    def test_a_single_path_is_one_file(self, app_yaml: Path, kind: type) -> None:
        """load("app.yaml") and load(Path("app.yaml")) read that file, not its characters."""
        config = load(kind(app_yaml), modules=[ORDERS], **HERMETIC)
        assert config.module("orders", Orders).max_batch == 25

    def test_check_and_the_provider_take_one_path_too(self, app_yaml: Path) -> None:
        """check() and FileConfigProvider read a single str path as one file."""
        assert check(str(app_yaml), modules=[ORDERS], **HERMETIC).report.ok
        provider = FileConfigProvider(str(app_yaml), modules=[ORDERS], **HERMETIC)
        assert provider.files == (str(app_yaml),)
        assert provider.load().module("orders", Orders).max_batch == 25

    def test_a_single_override_string_is_one_override(self, app_yaml: Path) -> None:
        """overrides="orders.max_batch=3" is one override, not one per character."""
        config = load([app_yaml], modules=[ORDERS], overrides="orders.max_batch=3", **HERMETIC)
        assert config.module("orders", Orders).max_batch == 3

    def test_a_single_required_module_string(self, tmp_path: Path) -> None:
        """require="orders" requires the module orders (not o, r, d, ...)."""
        outcome = check([], modules=[ORDERS], require="orders", **HERMETIC)
        assert outcome.report.ok, [str(i) for i in outcome.report.issues]
        assert outcome.config is not None and outcome.config.module("orders", Orders).max_batch == 10


class TestModules:
    def test_given_modules_are_added_to_the_installed_ones(self, app_yaml: Path) -> None:
        """modules=[orders] validates orders and still the installed monitoring section."""
        config = load([app_yaml], modules=[ORDERS], **HERMETIC)
        assert config.module("monitoring", MonitoringSettings).sample_rate == 0.5
        assert config.module("orders", Orders).max_batch == 25

    def test_discover_false_uses_the_given_modules_only(self, app_yaml: Path) -> None:
        """With discover=False the installed monitoring module is not there: its section is unknown."""
        outcome = check([app_yaml], modules=[ORDERS], discover=False, **HERMETIC)
        assert [(i.code, i.path) for i in outcome.report.errors] == [("VALIDATION_001", "monitoring")]

    def test_a_given_module_replaces_an_installed_one_of_its_name(self, tmp_path: Path) -> None:
        """A module named like an installed one is the one used."""
        path = tmp_path / "app.yaml"
        path.write_text("monitoring:\n  max_batch: 2\n")
        mine = SettingsModule("monitoring", Orders)
        config = load([path], modules=[mine], **HERMETIC)
        assert config.module("monitoring", Orders).max_batch == 2


@pytest.fixture
def broken_entry_point(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The installed modules plus one whose entry point names a package that is not there."""
    real = modules_module.entry_points
    target = "sharedconfig_no_such_package_41:MODULE"
    broken = EntryPoint("payments", target, modules_module.ENTRY_POINT_GROUP)

    def entry_points(group: str) -> list[EntryPoint]:
        return [*real(group=group), broken]

    monkeypatch.setattr(modules_module, "entry_points", entry_points)
    modules_module.installed.cache_clear()
    yield
    modules_module.installed.cache_clear()


class TestBrokenEntryPoint:
    def test_it_is_a_warning_for_a_configuration_without_its_section(
        self, app_yaml: Path, broken_entry_point: None
    ) -> None:
        """The config loads; one CONFIG_019 warning names the entry point and the import error."""
        config = load([app_yaml], modules=[ORDERS], **HERMETIC)
        warnings = [i for i in config.report.warnings if i.code == "CONFIG_019"]
        assert len(warnings) == 1
        text = str(warnings[0])
        assert "'payments'" in text and "sharedconfig_no_such_package_41:MODULE" in text
        assert "ModuleNotFoundError" in text

    def test_it_fails_a_configuration_that_uses_its_section(
        self, tmp_path: Path, broken_entry_point: None
    ) -> None:
        """A payments: section with the payments module broken is a CONFIG_019 error at that section."""
        path = tmp_path / "app.yaml"
        path.write_text("payments:\n  currency: EUR\n")
        with pytest.raises(ConfigValidationError) as caught:
            load([path], **HERMETIC)
        codes = [(i.code, i.path, i.severity) for i in caught.value.issues]
        assert ("CONFIG_019", "payments", "error") in codes

    def test_discover_still_raises_for_the_schema_command(self, broken_entry_point: None) -> None:
        """discover() (the schema of every module) has no section to judge by: it raises CONFIG_019."""
        with pytest.raises(ConfigError) as caught:
            modules_module.discover()
        assert caught.value.code == "CONFIG_019"
