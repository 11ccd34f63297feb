"""Tests for typed access: a RootSettings class passed to load/check/FileConfigProvider as ``settings=``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, SecretStr
from pydantic import ValidationError as PydanticValidationError

from conftest import write_config
from sharedconfig import RootSettings, check, load
from sharedconfig.config import Config, Sections, SettingsModule
from sharedconfig.config.modules import BrokenModule
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.config.root import plan
from sharedconfig.config.types import Settings
from sharedconfig.errors import ConfigError, ConfigValidationError
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.storage.settings import StorageSettings


class OrdersSettings(Settings):
    """A user's module schema: every key has a default."""

    max_batch: int = 100
    api_key: SecretStr | None = None


class LedgerSettings(Settings):
    """A user's module schema with a required key."""

    endpoint: str


ORDERS = SettingsModule("orders", OrdersSettings)
LEDGER = SettingsModule("ledger", LedgerSettings)
OPTS: dict[str, Any] = {"env_file": None, "environ": {}, "modules": [ORDERS, LEDGER]}


class AppSettings(RootSettings):
    """A root naming a built-in module, a user's module and an optional one."""

    monitoring: MonitoringSettings
    orders: OrdersSettings
    storage: StorageSettings | None = None


class DefaultedRoot(RootSettings):
    """A root whose section field has a default of its own."""

    orders: OrdersSettings = OrdersSettings(max_batch=1)


class OptionalWithoutDefaultRoot(RootSettings):
    """A root whose optional section field has no default."""

    orders: OrdersSettings | None


class TestLoadWithARoot:
    def test_settings_hold_the_validated_module_objects(self, tmp_path: Path) -> None:
        """config.settings is the root, filled with the very objects the load validated (no copies)."""
        path = write_config(tmp_path, "app.yaml", "orders: {max_batch: 5, api_key: k3y}\n")
        config = load(path, settings=AppSettings, **OPTS)
        assert isinstance(config.settings, AppSettings)
        assert config.settings.orders.max_batch == 5
        assert config.settings.orders is config.module("orders")
        assert config.settings.monitoring is config.module("monitoring")
        assert "k3y" not in repr(config.settings)

    def test_settings_are_frozen(self, tmp_path: Path) -> None:
        """Assigning to a section of config.settings fails, as for any frozen pydantic model."""
        config = load(write_config(tmp_path, "app.yaml", "orders: {}\n"), settings=AppSettings, **OPTS)
        with pytest.raises(PydanticValidationError, match="frozen"):
            config.settings.orders = OrdersSettings()  # type: ignore[misc]

    def test_a_required_field_loads_an_absent_section_from_its_defaults(self, tmp_path: Path) -> None:
        """A field without a default makes its section required: absent, it is the schema's defaults."""
        config = load(write_config(tmp_path, "app.yaml", "{}\n"), settings=AppSettings, **OPTS)
        assert config.settings.orders == OrdersSettings()
        assert "orders" in config.modules

    def test_a_required_field_fails_the_load_when_its_absent_section_cannot_validate(
        self, tmp_path: Path
    ) -> None:
        """A required field whose schema has required keys fails an absent section with CONFIG_022."""

        class Root(RootSettings):
            ledger: LedgerSettings

        with pytest.raises(ConfigValidationError) as info:
            load(write_config(tmp_path, "app.yaml", "orders: {}\n"), settings=Root, **OPTS)
        assert {i.code for i in info.value.issues} >= {"CONFIG_022", "VALIDATION_005"}
        assert load(write_config(tmp_path, "app.yaml", "orders: {}\n"), **OPTS).modules == ("orders",)

    def test_an_optional_field_is_none_when_absent_and_the_settings_when_present(
        self, tmp_path: Path
    ) -> None:
        """`X | None = None` leaves the section optional: None when absent, its settings when present."""

        class Root(RootSettings):
            ledger: LedgerSettings | None = None

        absent = load(write_config(tmp_path, "a.yaml", "orders: {}\n"), settings=Root, **OPTS)
        assert absent.settings.ledger is None
        present = load(write_config(tmp_path, "b.yaml", "ledger: {endpoint: e}\n"), settings=Root, **OPTS)
        assert present.settings.ledger is present.module("ledger")
        assert present.settings.ledger is not None and present.settings.ledger.endpoint == "e"

    def test_sections_the_root_does_not_name_still_load(self, tmp_path: Path) -> None:
        """A section the root leaves out is validated and reachable through config.module, as before."""

        class Root(RootSettings):
            orders: OrdersSettings

        path = write_config(tmp_path, "app.yaml", "orders: {}\nledger: {endpoint: e}\n")
        config = load(path, settings=Root, **OPTS)
        assert config.module("ledger", LedgerSettings).endpoint == "e"
        with pytest.raises(ConfigValidationError):
            load(write_config(tmp_path, "bad.yaml", "orders: {}\nledger: {}\n"), settings=Root, **OPTS)

    def test_a_field_is_matched_to_its_module_through_an_alias(self, tmp_path: Path) -> None:
        """A module whose name is not an identifier is a field with an alias."""
        dashed = SettingsModule("order-book", OrdersSettings)

        class Root(RootSettings):
            order_book: OrdersSettings = Field(alias="order-book")

        path = write_config(tmp_path, "app.yaml", "order-book: {max_batch: 7}\n")
        config = load(path, settings=Root, env_file=None, environ={}, modules=[dashed])
        assert config.settings.order_book.max_batch == 7

    def test_check_gives_an_outcome_holding_the_typed_config(self, tmp_path: Path) -> None:
        """check(..., settings=) returns an Outcome whose config carries the root."""
        path = write_config(tmp_path, "app.yaml", "orders: {max_batch: 3}\n")
        outcome = check(path, settings=AppSettings, **OPTS)
        assert outcome.config_or_raise().settings.orders.max_batch == 3


class TestLoadWithoutARoot:
    def test_settings_give_every_module_by_attribute(self, tmp_path: Path) -> None:
        """Without settings=, config.settings reads modules by name (defaults for an absent one)."""
        config = load(write_config(tmp_path, "app.yaml", "orders: {max_batch: 5}\n"), **OPTS)
        assert isinstance(config.settings, Sections)
        assert config.settings.orders is config.module("orders")
        assert config.settings.monitoring == MonitoringSettings()
        assert "orders" in dir(config.settings) and "monitoring" in dir(config.settings)
        with pytest.raises(AttributeError, match="nope"):
            _ = config.settings.nope
        with pytest.raises(AttributeError, match="immutable"):
            config.settings.orders = None

    def test_a_config_made_by_hand_has_sections_too(self) -> None:
        """A Config built directly (as tests do) answers config.settings with its modules."""
        from sharedconfig.config.issues import ValidationReport
        from sharedconfig.config.tree import Provenance

        config = Config({"orders": OrdersSettings()}, {}, Provenance(), ValidationReport())
        assert config.settings.orders.max_batch == 100


class TestRootMismatch:
    def test_a_field_without_a_module_is_config_028_at_its_line(self, tmp_path: Path) -> None:
        """A field naming no module raises CONFIG_028 located at the field's line, with did-you-mean."""

        class Root(RootSettings):
            orders: OrdersSettings
            ordres: OrdersSettings

        with pytest.raises(ConfigError) as info:
            load(write_config(tmp_path, "app.yaml", "{}\n"), settings=Root, **OPTS)
        error = info.value
        assert error.code == "CONFIG_028" and error.path == "ordres"
        assert "Root.ordres names no configuration module" in error.message
        assert error.hint == "did you mean 'orders'?"
        assert error.location is not None and error.location.name.endswith("test_typed_access.py")
        source = Path(__file__).read_text().splitlines()
        assert error.location.line is not None
        assert source[error.location.line - 1].strip() == "ordres: OrdersSettings"

    def test_the_root_is_checked_before_any_source_is_read(self) -> None:
        """A wrong root fails as CONFIG_028 before a single source is read (a code bug needs no I/O)."""

        class Root(RootSettings):
            ordres: OrdersSettings

        read: list[object] = []

        class Recording:
            def read(self, ctx: object) -> list[object]:
                read.append(ctx)
                return []

        with pytest.raises(ConfigError) as info:
            check(settings=Root, sources=[Recording()], **OPTS)  # type: ignore[list-item]
        assert info.value.code == "CONFIG_028"
        assert read == []

    def test_a_field_typed_otherwise_than_the_schema_is_config_028(self, tmp_path: Path) -> None:
        """A field named like a module but typed differently names the module's schema in the error."""

        class Root(RootSettings):
            monitoring: OrdersSettings
            storage: MonitoringSettings | None = None

        with pytest.raises(ConfigError, match="module 'monitoring' holds") as info:
            check(write_config(tmp_path, "app.yaml", "{}\n"), settings=Root, **OPTS)
        assert info.value.code == "CONFIG_028"
        assert "MonitoringSettings" in info.value.hint
        assert info.value.details["fields"] == ["monitoring", "storage"]
        assert "also wrong: storage" in info.value.message

    @pytest.mark.parametrize("root", [DefaultedRoot, OptionalWithoutDefaultRoot])
    def test_a_default_other_than_none_is_config_028(self, tmp_path: Path, root: type[RootSettings]) -> None:
        """A section's defaults come from its schema: a field default other than None is an error."""
        with pytest.raises(ConfigError) as info:
            load(write_config(tmp_path, "app.yaml", "{}\n"), settings=root, **OPTS)
        assert info.value.code == "CONFIG_028"
        assert "orders: OrdersSettings | None = None" in info.value.hint

    def test_an_annotation_that_cannot_be_resolved_is_config_028(self, tmp_path: Path) -> None:
        """A root whose annotation names nothing defined says which name, at the class's line."""

        class Root(RootSettings):
            orders: Undefined  # type: ignore[name-defined]  # noqa: F821

        with pytest.raises(ConfigError, match="cannot be resolved: 'Undefined'") as info:
            load(write_config(tmp_path, "app.yaml", "{}\n"), settings=Root, **OPTS)
        assert info.value.code == "CONFIG_028"
        assert info.value.location is not None and info.value.location.line is not None
        line = Path(__file__).read_text().splitlines()[info.value.location.line - 1]
        assert line.strip() == "class Root(RootSettings):"

    def test_a_root_that_is_not_frozen_is_config_028(self, tmp_path: Path) -> None:
        """A root whose model_config turns frozen off is refused: a snapshot's settings never change."""

        class Root(RootSettings, frozen=False):
            orders: OrdersSettings

        with pytest.raises(ConfigError, match="Root is not frozen") as info:
            load(write_config(tmp_path, "app.yaml", "{}\n"), settings=Root, **OPTS)
        assert info.value.code == "CONFIG_028"

    def test_a_field_naming_a_broken_module_is_config_019(self) -> None:
        """A field whose module's entry point failed to load says so (CONFIG_019), not 'no module'."""
        broken = BrokenModule("ledger", "pkg.ledger:module", "failed to import: ImportError: x")

        class Root(RootSettings):
            ledger: LedgerSettings

        with pytest.raises(ConfigError) as info:
            plan(Root, {}, [broken])
        assert info.value.code == "CONFIG_019" and info.value.path == "ledger"

    def test_settings_must_be_a_root_settings_class(self, tmp_path: Path) -> None:
        """settings= with anything but a RootSettings subclass is a TypeError, like a wrong argument."""
        with pytest.raises(TypeError, match="RootSettings"):
            load(write_config(tmp_path, "app.yaml", "{}\n"), settings=OrdersSettings, **OPTS)  # type: ignore[type-var]


class TestProvider:
    def test_loads_reloads_and_watchers_get_the_root(self, tmp_path: Path) -> None:
        """FileConfigProvider(settings=) gives the root on load, on poll and to its subscribers."""
        path = tmp_path / "app.yaml"
        path.write_text("orders: {max_batch: 1}\n")
        provider = FileConfigProvider(path, settings=AppSettings, poll_interval=3600, **OPTS)
        loaded = provider.load()
        assert isinstance(loaded.settings, AppSettings) and loaded.settings.orders.max_batch == 1
        seen: list[object] = []
        unsubscribe = provider.watch(lambda config: seen.append(config.settings))
        try:
            path.write_text("orders: {max_batch: 2}\n")
            os.utime(path, ns=(1, 10**18))
            reloaded = provider.poll()
        finally:
            unsubscribe()  # the last one out stops the watch thread
        assert reloaded is not None and reloaded.settings.orders.max_batch == 2
        assert seen == [reloaded.settings] and isinstance(seen[0], AppSettings)
        provider.validate(reloaded)


EXAMPLE = """\
from sharedconfig import Config, ConfigProvider, FileConfigProvider, RootSettings, check, load
from sharedconfig.config.types import Settings
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.storage.settings import StorageSettings


class OrdersSettings(Settings):
    max_batch: int = 100


class AppSettings(RootSettings):
    monitoring: MonitoringSettings
    orders: OrdersSettings
    storage: StorageSettings | None = None


def on_change(config: Config[AppSettings]) -> None:
    print(config.settings.orders.max_batch + 1)


config = load("app.yaml", settings=AppSettings)
batch: int = config.settings.orders.max_batch
rate: float = config.settings.monitoring.sample_rate
endpoint = config.settings.storage.endpoint if config.settings.storage else None
config.settings.orders.max_batch_typo  # expect: attr-defined
text: str = config.settings.orders.max_batch  # expect: assignment
config.settings.storage.endpoint  # expect: union-attr
provider = FileConfigProvider("app.yaml", settings=AppSettings)
provider.watch(on_change)
seed_provider: ConfigProvider[Config[AppSettings]] = provider
reloaded = provider.load()
reloaded.settings.orders.max_batch_typo  # expect: attr-defined
outcome = check("app.yaml", settings=AppSettings)
outcome.config_or_raise().settings.orders.max_batch_typo  # expect: attr-defined
Monitoring.from_config(config)
plain = load("app.yaml")
anything = plain.settings.orders.whatever
Monitoring.from_config(plain)
"""


class TestStaticTyping:
    def test_mypy_strict_reports_a_typo_and_accepts_the_correct_spelling(self, tmp_path: Path) -> None:
        """mypy --strict over a small app finds each marked mistake (typos, a wrong type) and nothing else."""
        if importlib.util.find_spec("mypy") is None:  # pragma: no cover - mypy is a dev dependency
            if os.environ.get("CI") == "true":
                pytest.fail("mypy is not installed")
            pytest.skip("mypy is not installed (pip install -e '.[dev]')")
        example = tmp_path / "example.py"
        example.write_text(EXAMPLE)
        (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\nplugins = pydantic.mypy\n")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--config-file",
                "mypy.ini",
                "--cache-dir",
                ".cache",
                "example.py",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        found = {
            (int(line), code)
            for line, code in re.findall(r"^example\.py:(\d+): error: .*\[([a-z-]+)\]$", run.stdout, re.M)
        }
        expected = {
            (number, marked)
            for number, text in enumerate(EXAMPLE.splitlines(), 1)
            for marked in re.findall(r"# expect: ([a-z-]+)$", text)
        }
        assert found == expected, run.stdout + run.stderr
        assert f"Found {len(expected)} errors in 1 file" in run.stdout
