"""Tests for load()/check(): precedence, provenance, sources, modules, the pipeline and rule config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from conftest import write_config as write
from sharedconfig.config import (
    PERFORMANCE,
    ConfigHooks,
    LoadOptions,
    SettingsModule,
    ValidationContext,
    ValidationReport,
    check,
    load,
    validator,
)
from sharedconfig.config.issues import Issue
from sharedconfig.config.loader import default_sources, resolve_options
from sharedconfig.config.sources import EnvSource, FileSource, OverrideSource
from sharedconfig.errors import ConfigValidationError
from sharedconfig.testing import Recording

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "deploy" / "config" / "monitoring-production.yaml"
SEED_ENV = {"DATADOG_API_KEY": "dd-key", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x"}


class Inner(BaseModel):
    """Nested part of the demo module."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    level: int = Field(1, ge=0, le=5)
    token: SecretStr | None = None


class Demo(BaseModel):
    """A small module schema for loader tests."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "demo"
    rate: float = Field(0.5, ge=0, le=1)
    items: tuple[int, ...] = ()
    inner: Inner = Inner()


class Needy(BaseModel):
    """A module with a required key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    endpoint: str


DEMO = SettingsModule("demo", Demo)
NEEDY = SettingsModule("needy", Needy)
MODULES = (DEMO, NEEDY)


def run(files: list[str], **kw: Any) -> Any:
    kw.setdefault("modules", MODULES)
    kw.setdefault("environ", {})
    kw.setdefault("env_file", None)
    return check(files, **kw)


class TestPrecedence:
    def test_sources_in_order_low_to_high(self, tmp_path: Path) -> None:
        """file < profile overlay < .env < secrets < env < --set, each visible in provenance."""
        base = write(
            tmp_path, "app.yaml", "demo:\n  name: file\n  rate: 0.1\n  items: [1]\n  inner: {level: 1}\n"
        )
        write(tmp_path, "app.prod.yaml", "demo:\n  rate: 0.2\n")
        dotenv = write(tmp_path, ".env", "SHAREDCONFIG_DEMO__INNER__LEVEL=2\nFROM_DOTENV=dot\n")
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "demo__inner__token").write_text("s3cret\n")
        env = {"SHAREDCONFIG_DEMO__ITEMS": "[4, 5]", "SHAREDCONFIG_PROFILE": "prod"}
        outcome = run(
            [base], env_file=dotenv, secrets_dir=str(secrets), environ=env, overrides=["demo.name=override"]
        )
        config = outcome.config
        assert config is not None, list(outcome.report)
        assert config.profile == "prod"
        demo = config.module("demo", Demo)
        assert (demo.name, demo.rate, demo.items, demo.inner.level) == ("override", 0.2, (4, 5), 2)
        assert demo.inner.token is not None and demo.inner.token.get_secret_value() == "s3cret"
        origins = {path: str(origin) for path, _, origin in config.explain()}
        assert origins["demo.rate"].endswith("app.prod.yaml:2:3")
        assert origins["demo.inner.level"] == f"{dotenv}:1 SHAREDCONFIG_DEMO__INNER__LEVEL"
        assert origins["demo.items.1"] == "$SHAREDCONFIG_DEMO__ITEMS"
        assert origins["demo.name"] == "--set demo.name=override"
        assert origins["demo.inner.token"] == str(secrets / "demo__inner__token")

    def test_values_from_env_are_coerced_by_the_schema(self, tmp_path: Path) -> None:
        """Env strings become floats/ints by the schema (lax mode)."""
        env = {"SHAREDCONFIG_DEMO__RATE": "0.25", "SHAREDCONFIG_DEMO__INNER__LEVEL": "3"}
        config = run([], environ=env).config
        assert config.demo.rate == 0.25
        assert config.demo.inner.level == 3

    def test_bad_json_in_env_is_an_issue(self) -> None:
        """An env value that starts like JSON but is not is CONFIG_020 naming the variable."""
        report = run([], environ={"SHAREDCONFIG_DEMO__ITEMS": "[1, 2"}).report
        (issue,) = report.errors
        assert issue.code == "CONFIG_020"
        assert issue.path == "demo.items"
        assert "SHAREDCONFIG_DEMO__ITEMS" in str(issue)

    def test_tool_variables_are_not_config_keys(self) -> None:
        """SHAREDCONFIG_PROFILE and friends (no '__') never become keys."""
        outcome = run([], environ={"SHAREDCONFIG_API_TOKEN": "x", "SHAREDCONFIG_PROFILE": "dev"})
        assert outcome.report.ok
        assert outcome.config.tree == {}

    def test_custom_precedence_tuple(self, tmp_path: Path) -> None:
        """An application can reorder sources: here the file beats the environment."""
        base = write(tmp_path, "a.yaml", "demo: {name: file}\n")
        env = {"SHAREDCONFIG_DEMO__NAME": "env"}
        sources = (EnvSource(environ=env), FileSource((base,)), OverrideSource(()))
        assert run([], sources=sources).config.demo.name == "file"

    def test_dotenv_feeds_interpolation(self, tmp_path: Path) -> None:
        """Variables of the .env file resolve ${VAR}; the real environment wins over them."""
        dotenv = write(tmp_path, ".env", "WHO=dotenv\nWHAT=dotenv\n")
        base = write(tmp_path, "a.yaml", "demo: {name: '${WHO}-${WHAT}'}\n")
        config = run([base], env_file=dotenv, environ={"WHAT": "env"}).config
        assert config.demo.name == "dotenv-env"

    def test_secret_files_feed_interpolation_and_stay_secret(self, tmp_path: Path) -> None:
        """A secrets-dir file named like a variable resolves ${VAR}; the value is marked secret."""
        secrets = tmp_path / "s"
        secrets.mkdir()
        (secrets / "DEMO_NAME").write_text("hidden-name")
        (secrets / ".hidden").write_text("ignored")
        base = write(tmp_path, "a.yaml", "demo: {name: '${DEMO_NAME}'}\n")
        config = run([base], secrets_dir=str(secrets)).config
        assert config.demo.name == "hidden-name"
        assert config.provenance.is_secret(("demo", "name"))
        assert config.to_dict()["demo"]["name"] == "**********"

    def test_unreadable_secrets_dir_is_an_issue(self, tmp_path: Path) -> None:
        """A secrets dir that does not exist is CONFIG_021, not a crash."""
        report = run([], secrets_dir=str(tmp_path / "missing")).report
        assert [i.code for i in report.errors] == ["CONFIG_021"]

    def test_bad_override_is_an_issue(self) -> None:
        """A --set without '=' is CONFIG_017."""
        report = run([], overrides=["demo.name"]).report
        assert [i.code for i in report.errors] == ["CONFIG_017"]


class TestModules:
    def test_absent_section_is_not_validated_unless_required(self) -> None:
        """A module with required keys is fine when absent; required, it must be valid."""
        config = run([]).config
        assert config is not None
        report = run([], require=["needy"]).report
        assert {(i.code, i.path) for i in report.errors} == {
            ("CONFIG_022", "needy"),
            ("VALIDATION_005", "needy.endpoint"),
        }

    def test_absent_module_access_gives_defaults_or_a_clear_error(self) -> None:
        """config.demo gives defaults; config.needy says it is absent; an unknown name is AttributeError."""
        from sharedconfig.errors import ConfigError

        config = run([]).config
        assert config.demo.rate == 0.5
        with pytest.raises(ConfigError) as info:
            _ = config.needy
        assert info.value.code == "CONFIG_022"
        with pytest.raises(AttributeError):
            _ = config.nothing

    def test_required_module_not_installed(self) -> None:
        """Requiring a module nobody installed is CONFIG_018."""
        assert [i.code for i in run([], require=["ghost"]).report.errors] == ["CONFIG_018"]

    def test_unknown_module_did_you_mean(self, tmp_path: Path) -> None:
        """A misspelt top-level section is reported with a suggestion."""
        report = run([write(tmp_path, "a.yaml", "dmeo: {name: x}\n")]).report
        (issue,) = report.errors
        assert (issue.code, issue.path, issue.location.line) == ("VALIDATION_001", "dmeo", 1)
        assert "'demo'" in issue.hint

    def test_schema_errors_carry_code_path_and_line(self, tmp_path: Path) -> None:
        """Type, range and unknown-key errors all point at the key's line with our codes."""
        path = write(tmp_path, "a.yaml", "demo:\n  rate: 7\n  items: [1, x]\n  inner:\n    levle: 2\n")
        errors = {(i.code, i.path, i.location.line) for i in run([path]).report.errors}
        assert errors == {
            ("VALIDATION_003", "demo.rate", 2),
            ("VALIDATION_002", "demo.items.1", 3),
            ("VALIDATION_001", "demo.inner.levle", 5),
        }

    def test_section_must_be_a_mapping(self, tmp_path: Path) -> None:
        """A module section that is a scalar is a type error."""
        report = run([write(tmp_path, "a.yaml", "demo: 3\n")]).report
        assert [(i.code, i.path) for i in report.errors] == [("VALIDATION_002", "demo")]

    def test_empty_section_means_defaults(self, tmp_path: Path) -> None:
        """`demo:` with nothing below validates as the defaults."""
        assert run([write(tmp_path, "a.yaml", "demo:\n")]).config.demo == Demo()


class TestPipeline:
    def test_custom_validators_run_by_priority_and_all_issues_are_kept(self, tmp_path: Path) -> None:
        """Every validator runs in priority order; a crashing one becomes VALIDATION_099."""
        order: list[str] = []

        @validator("late", 50)
        def late(ctx: ValidationContext) -> None:
            order.append("late")
            ctx.report("VALIDATION_021", ("demo", "rate"), "late warning")

        @validator("early", PERFORMANCE)
        def early(ctx: ValidationContext) -> None:
            order.append("early")
            raise RuntimeError("boom")

        report = run([write(tmp_path, "a.yaml", "demo: {rate: 0.1}\n")], validators=[late, early]).report
        assert order == ["early", "late"]
        assert [(i.code, i.severity, i.validator) for i in report] == [  # located ones first
            ("VALIDATION_021", "warning", "late"),
            ("VALIDATION_099", "error", "early"),
        ]
        assert report.issues[0].location.line == 1

    def test_plain_text_secret_in_file_is_a_warning(self, tmp_path: Path) -> None:
        """A secret field written literally in a file warns, without printing the secret."""
        path = write(tmp_path, "a.yaml", "demo:\n  inner:\n    token: canary-123\n")
        outcome = run([path])
        (issue,) = outcome.report.warnings
        assert (issue.code, issue.path, issue.location.line) == ("VALIDATION_010", "demo.inner.token", 3)
        assert "canary-123" not in str(issue)
        assert outcome.config is not None

    def test_interpolated_secret_does_not_warn(self, tmp_path: Path) -> None:
        """A secret that comes through ${VAR} is not plain text."""
        path = write(tmp_path, "a.yaml", "demo:\n  inner:\n    token: ${TOKEN}\n")
        assert not run([path], environ={"TOKEN": "t"}).report.issues

    def test_rule_config_from_file_and_flags(self, tmp_path: Path) -> None:
        """validation.ignore / validation.severity and ignore= change what is reported."""
        text = "demo:\n  inner:\n    token: plain\nvalidation:\n  severity: {VALIDATION_010: error}\n"
        report = run([write(tmp_path, "a.yaml", text)]).report
        assert [(i.code, i.severity) for i in report] == [("VALIDATION_010", "error")]
        assert not report.ok
        assert run([write(tmp_path, "a.yaml", text)], ignore=["VALIDATION_010"]).report.ok
        text2 = "demo:\n  inner:\n    token: plain\nvalidation:\n  ignore: [VALIDATION_010]\n"
        assert not run([write(tmp_path, "b.yaml", text2)]).report.issues

    @pytest.mark.parametrize(
        "section", ["validation: {bogus: 1}\n", "validation: {severity: {X_001: fatal}}\n"]
    )
    def test_bad_rule_config_is_reported(self, tmp_path: Path, section: str) -> None:
        """A malformed validation section is an error, not ignored."""
        report = run([write(tmp_path, "a.yaml", section)]).report
        assert report.errors and report.errors[0].path == "validation"


class TestLoadAndHooks:
    def test_load_raises_with_every_issue(self, tmp_path: Path) -> None:
        """load() raises CONFIG_002 carrying all issues, located at the first error."""
        path = write(tmp_path, "a.yaml", "demo:\n  rate: 9\n  bogus: 1\n")
        with pytest.raises(ConfigValidationError) as info:
            load([path], modules=MODULES, environ={}, env_file=None)
        err = info.value
        assert err.code == "CONFIG_002"
        assert len(err.issues) == 2
        assert err.line == 2
        assert "VALIDATION_003" in str(err)

    def test_snapshot_is_frozen(self, tmp_path: Path) -> None:
        """Neither the snapshot nor its settings can be changed in place."""
        config = load(
            [write(tmp_path, "a.yaml", "demo: {rate: 0.1}\n")], modules=MODULES, environ={}, env_file=None
        )
        with pytest.raises(AttributeError):
            config.demo = None  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del config.profile
        with pytest.raises(ValueError, match="frozen"):
            config.demo.rate = 1.0
        assert config.get("demo.rate") == 0.1
        assert config.get("demo.missing", "d") == "d"
        assert config.modules == ("demo",)
        assert "demo" in repr(config)

    def test_hooks_receive_results_and_durations(self, tmp_path: Path) -> None:
        """on_validation and on_load are called once per load with non-negative durations."""
        rec = Recording(ConfigHooks)
        run([write(tmp_path, "a.yaml", "demo: {}\n")], hooks=rec.hooks)
        validation, loaded = rec.calls
        assert (validation.method, loaded.method) == ("on_validation", "on_load")
        report = validation.arguments["report"]
        assert isinstance(report, ValidationReport) and report.ok
        assert loaded.arguments["config"] is not None
        for call in rec.calls:
            seconds = call.arguments["seconds"]
            assert isinstance(seconds, float) and seconds >= 0


class TestOptions:
    def test_load_is_check_plus_the_outcome_raising(self, tmp_path: Path) -> None:
        """The outcome raises the same error load() raises, and returns the same config when valid."""
        bad = write(tmp_path, "bad.yaml", "demo:\n  rate: 9\n  bogus: 1\n")
        with pytest.raises(ConfigValidationError) as from_load:
            load([bad], modules=MODULES, environ={}, env_file=None)
        with pytest.raises(ConfigValidationError) as from_outcome:
            run([bad]).config_or_raise()
        assert str(from_outcome.value) == str(from_load.value)
        assert from_outcome.value.issues == from_load.value.issues
        good = write(tmp_path, "good.yaml", "demo: {rate: 0.1}\n")
        outcome = run([good])
        assert outcome.config_or_raise() is outcome.config
        assert load([good], modules=MODULES, environ={}, env_file=None) == outcome.config

    def test_options_spread_like_keywords(self, tmp_path: Path) -> None:
        """A LoadOptions value spread into check() loads exactly as the same keywords do."""
        path = write(tmp_path, "a.yaml", "demo: {rate: 0.1}\n")
        options = LoadOptions(modules=MODULES, environ={}, env_file=None, overrides=["demo.name=x"])
        assert check([path], **options).config == run([path], overrides=["demo.name=x"]).config

    def test_misspelt_option_is_a_type_error(self) -> None:
        """An unknown option fails loudly, naming it, as a misspelt keyword argument does."""
        with pytest.raises(TypeError, match="'proflie'"):
            check([], proflie="prod", environ={})  # type: ignore[call-arg]

    def test_environment_defaults_are_resolved_and_explicit_values_kept(self) -> None:
        """profile and secrets_dir come from the environment unless given; environ becomes a mapping."""
        env = {"SHAREDCONFIG_PROFILE": "prod", "SHAREDCONFIG_SECRETS_DIR": "/run/secrets"}
        resolved = resolve_options(LoadOptions(environ=env))
        assert (resolved["profile"], resolved["secrets_dir"], resolved["environ"]) == (
            "prod",
            "/run/secrets",
            env,
        )
        assert resolve_options(LoadOptions(environ=env, profile="dev"))["profile"] == "dev"
        assert resolve_options(LoadOptions(environ={}))["profile"] is None

    def test_default_sources_follow_the_options(self) -> None:
        """Without an env file there is no .env source; defaults add the lowest source."""
        kinds = [type(s).__name__ for s in default_sources(["a.yaml"], env_file=None, environ={})]
        assert kinds == ["FileSource", "ProfileSource", "SecretsSource", "EnvSource", "OverrideSource"]
        first = default_sources(defaults={"demo": {}}, environ={})[0]
        assert type(first).__name__ == "DefaultsSource"


class TestSeedYaml:
    def test_validates_with_both_variables(self) -> None:
        """The seed's production YAML validates once its two variables are set (one Jaeger warning)."""
        outcome = check([SEED], environ=SEED_ENV, env_file=None, profile="production")
        assert outcome.report.ok, [str(i) for i in outcome.report]
        assert [i.code for i in outcome.report.warnings] == ["VALIDATION_030"]
        mon = outcome.config.monitoring
        assert mon.flush_interval == timedelta(seconds=30)
        assert mon.metrics.exporters[1].api_key.get_secret_value() == "dd-key"

    def test_names_both_missing_variables_with_lines(self) -> None:
        """Without the variables, both are errors at their own lines, and nothing else is."""
        report = check([SEED], environ={}, env_file=None).report
        found = {(i.code, i.location.line, i.message.split()[2]) for i in report.errors}
        assert found == {("CONFIG_015", 18, "DATADOG_API_KEY"), ("CONFIG_015", 78, "SLACK_WEBHOOK_URL")}

    def test_env_overrides_reach_into_exporter_lists(self) -> None:
        """An env var with an index path overrides one exporter's key."""
        env = {**SEED_ENV, "SHAREDCONFIG_MONITORING__METRICS__EXPORTERS__0__ENDPOINT": "http://p:9090"}
        config = load([SEED], environ=env, env_file=None)
        assert config.monitoring.metrics.exporters[0].endpoint == "http://p:9090"
        assert config.monitoring.metrics.exporters[1].type == "datadog"


class TestFixes:
    def test_reading_errors_cannot_be_ignored(self, tmp_path: Path) -> None:
        """Ignoring CONFIG_015 or downgrading it does not let an unset variable through."""
        path = write(
            tmp_path,
            "a.yaml",
            "demo: {name: '${UNSET_VAR}'}\nvalidation: {severity: {CONFIG_015: warning}}\n",
        )
        report = run([path], ignore=["CONFIG_015"]).report
        assert [(i.code, i.severity) for i in report.errors] == [("CONFIG_015", "error")]
        assert [i.code for i in report.warnings] == ["VALIDATION_041", "VALIDATION_041"]  # no effect

    def test_dotted_secret_files_are_left_alone(self, tmp_path: Path) -> None:
        """A mounted tls.crt is neither a key path nor a variable."""
        secrets = tmp_path / "s"
        secrets.mkdir()
        (secrets / "tls.crt").write_text("-----BEGIN CERTIFICATE-----")
        outcome = run([], secrets_dir=str(secrets))
        assert outcome.report.ok
        assert outcome.config.tree == {}

    def test_override_scalars_are_coerced_by_the_schema(self) -> None:
        """--set name=123 is the string '123' for a string field and 3 for an int field."""
        config = run([], overrides=["demo.name=123", "demo.inner.level=3", "demo.items=[1, 2]"]).config
        assert config.demo.name == "123"
        assert config.demo.inner.level == 3
        assert config.demo.items == (1, 2)

    def test_secret_values_are_not_quoted_in_errors(self, tmp_path: Path) -> None:
        """A bad duration from the secrets directory is reported without its value."""
        secrets = tmp_path / "s"
        secrets.mkdir()
        (secrets / "monitoring__flush_interval").write_text("canary-secret-duration")
        report = check([], secrets_dir=str(secrets), environ={}, env_file=None).report
        (issue,) = report.errors
        assert issue.code == "VALIDATION_004"
        assert "canary" not in str(issue)

    def test_issue_without_position_has_no_file_location(self, tmp_path: Path) -> None:
        """--require of an unknown module is not located at the first file's 1:1."""
        path = write(tmp_path, "a.yaml", "demo: {}\n")
        (issue,) = run([path], require=["ghost"]).report.errors
        assert issue.location is None


def test_dotenv_and_secrets_are_read_once_per_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The .env file and the secrets directory feed both interpolation and layers from a single read."""
    import sharedconfig.config.loader as loader_module
    import sharedconfig.config.sources.env as env_module
    import sharedconfig.config.sources.secrets as secrets_module

    dotenv = write(tmp_path, ".env", "SHAREDCONFIG_DEMO__NAME=from-dotenv\n")
    secrets = tmp_path / "s"
    secrets.mkdir()
    (secrets / "demo__inner__token").write_text("t")
    reads: list[str] = []
    real_dotenv, real_secrets = env_module.read_dotenv, secrets_module.read_secret_files

    def counting_dotenv(path: str) -> tuple[dict[str, str], list[Issue]]:
        reads.append("dotenv")
        return real_dotenv(path)

    def counting_secrets(directory: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
        reads.append("secrets")
        return real_secrets(directory)

    for module in (loader_module, env_module):
        monkeypatch.setattr(module, "read_dotenv", counting_dotenv)
    for module in (loader_module, secrets_module):
        monkeypatch.setattr(module, "read_secret_files", counting_secrets)
    config = run([], env_file=dotenv, secrets_dir=str(secrets)).config
    assert config.demo.name == "from-dotenv"
    assert config.demo.inner.token.get_secret_value() == "t"
    assert sorted(reads) == ["dotenv", "secrets"]
