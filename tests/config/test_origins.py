"""Every issue names where its value or key came from: ``$VAR``, ``.env:LINE VAR``, a secret file's path,
``--set KEY=VALUE``, as a YAML value gets ``file:line:col``; in the console, in JSON and in str(error)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from conftest import write_config as write
from sharedconfig.cli.main import main
from sharedconfig.config import SettingsModule, ValidationContext, check, load, validator
from sharedconfig.config.issues import Issue
from sharedconfig.errors import ConfigValidationError

CANARY = "canary-0r1g1n5"


class Box(BaseModel):
    """A nested part of the demo module."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    size: int = Field(1, ge=0, le=10)
    label: str = ""


class Needy(BaseModel):
    """A module with a required key and a secret-typed field under a plain name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str
    name: str = ""
    dsn: SecretStr | None = None


class Demo(BaseModel):
    """A demo module with a range, a list of models, a secret typed field under a plain name, a map."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(0.5, ge=0, le=1)
    boxes: tuple[Box, ...] = ()
    endpoint: SecretStr | None = None
    targets: tuple[Needy, ...] = ()
    session_token: str = ""  # a plain string the name says is secret
    callback: SecretStr | None = Field(None, alias="hook")  # written ``hook`` in the data


@validator("demo.endpoint_scheme", 30)
def endpoint_scheme(ctx: ValidationContext) -> None:
    """A custom check on a secret-typed field: reports it without its value."""
    demo = ctx.settings("demo")
    endpoint = demo.endpoint if demo is not None else None
    if endpoint is not None and not endpoint.get_secret_value().startswith("https://"):
        ctx.report("VALIDATION_011", ("demo", "endpoint"), "endpoint must use https")


@validator("demo.rate_warning", 30)
def rate_warning(ctx: ValidationContext) -> None:
    """A custom warning on a plain value."""
    demo = ctx.settings("demo")
    if demo is not None and demo.rate > 0.9:
        ctx.report("VALIDATION_021", ("demo", "rate"), "a rate above 0.9 is costly", severity="warning")


OPTIONS: dict[str, Any] = {
    "modules": (SettingsModule("demo", Demo), SettingsModule("needy", Needy)),
    "discover": False,
    "env_file": None,
    "validators": [endpoint_scheme, rate_warning],
}


def issues(files: list[str] | None = None, **options: Any) -> list[Issue]:
    """The issues of a check of ``files`` with the demo modules and ``options``."""
    return list(check(files or [], **{**OPTIONS, "environ": {}, **options}).report)


def where(found: list[Issue], code: str) -> list[str]:
    """The origin text of each issue of ``code``."""
    return [str(i.location) for i in found if i.code == code]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the command line in-process; its exit code and stdout."""
    code = main(list(args))
    return code, capsys.readouterr().out


class TestEnvironmentVariable:
    def test_a_value_out_of_range_names_the_variable(self) -> None:
        """A schema range error on a value from the environment is located at ``$VAR``."""
        found = issues(environ={"SHAREDCONFIG_DEMO__RATE": "2"})
        assert where(found, "VALIDATION_003") == ["$SHAREDCONFIG_DEMO__RATE"]

    def test_a_wrong_type_names_the_variable(self, tmp_path: Path) -> None:
        """A type error on a value from the environment, inside a file's list, is located at ``$VAR``."""
        path = write(tmp_path, "app.yaml", "demo:\n  boxes:\n    - size: 1\n")
        found = issues([path], environ={"SHAREDCONFIG_DEMO__BOXES__0__SIZE": "lots"})
        assert where(found, "VALIDATION_002") == ["$SHAREDCONFIG_DEMO__BOXES__0__SIZE"]

    def test_a_stray_variable_naming_no_module_says_which_variable(self) -> None:
        """``SHAREDCONFIG_DEMP__RATE`` invents a module: the issue names the variable, with did-you-mean."""
        found = issues(environ={"SHAREDCONFIG_DEMP__RATE": "1"})
        unknown = [i for i in found if i.code == "VALIDATION_001"]
        assert [str(i.location) for i in unknown] == ["$SHAREDCONFIG_DEMP__RATE"]
        assert unknown[0].hint == "did you mean 'demo'?"

    def test_a_stray_variable_naming_no_key_says_which_variable(self) -> None:
        """A misspelt key from the environment is an unknown key at ``$VAR``, with did-you-mean."""
        found = issues(environ={"SHAREDCONFIG_DEMO__RAET": "1"})
        unknown = [i for i in found if i.code == "VALIDATION_001"]
        assert [(i.path, str(i.location), i.hint) for i in unknown] == [
            ("demo.raet", "$SHAREDCONFIG_DEMO__RAET", "did you mean 'rate'?")
        ]

    def test_a_key_inside_a_json_value_names_the_variable_that_carried_it(self) -> None:
        """``SHAREDCONFIG_DEMO__BOXES='[{"sise": 1}]'``: the unknown key deep inside is at that variable."""
        found = issues(environ={"SHAREDCONFIG_DEMO__BOXES": '[{"sise": 1}]'})
        assert [(i.path, str(i.location)) for i in found if i.code == "VALIDATION_001"] == [
            ("demo.boxes.0.sise", "$SHAREDCONFIG_DEMO__BOXES")
        ]

    def test_a_list_replaced_by_the_environment_is_located_there_not_in_the_file(
        self, tmp_path: Path
    ) -> None:
        """A YAML list replaced whole by an env JSON list: an issue below it names the variable, the winner,
        and never the file line of the list item that is gone."""
        path = write(
            tmp_path, "app.yaml", "needy:\n  url: http://x\n  name: n\ndemo:\n  boxes:\n    - size: 1\n"
        )
        found = issues([path], environ={"SHAREDCONFIG_DEMO__BOXES": '[{"size": 11}]'})
        assert where(found, "VALIDATION_003") == ["$SHAREDCONFIG_DEMO__BOXES"]

    def test_a_required_key_missing_from_a_replacing_json_list_names_the_variable(
        self, tmp_path: Path
    ) -> None:
        """The file's list item set ``url``; an env JSON list replaced the list: the key missing now is
        reported at the variable, never at the file line of the value that is gone."""
        path = write(tmp_path, "app.yaml", "demo:\n  targets:\n    - url: http://a\n      name: a\n")
        found = issues([path], environ={"SHAREDCONFIG_DEMO__TARGETS": '[{"name": "b"}]'})
        assert [(i.path, str(i.location)) for i in found] == [
            ("demo.targets.0.url", "$SHAREDCONFIG_DEMO__TARGETS")
        ]

    def test_a_leaf_of_a_file_list_overridden_by_an_indexed_variable_names_it(self, tmp_path: Path) -> None:
        """``SHAREDCONFIG_DEMO__BOXES__0__SIZE`` over a YAML list: the item's other keys keep their lines."""
        path = write(tmp_path, "app.yaml", "demo:\n  boxes:\n    - size: 1\n      lable: a\n")
        found = issues([path], environ={"SHAREDCONFIG_DEMO__BOXES__0__SIZE": "99"})
        assert [(i.path, str(i.location)) for i in found] == [
            ("demo.boxes.0.lable", f"{path}:4:7"),
            ("demo.boxes.0.size", "$SHAREDCONFIG_DEMO__BOXES__0__SIZE"),
        ]

    def test_keys_set_below_a_file_scalar_are_located_at_the_variable(self, tmp_path: Path) -> None:
        """``SHAREDCONFIG_DEMO__RATE__X`` turns the file's number into a mapping: the schema's complaint
        about that mapping names the variable, not the file line of the number it replaced."""
        path = write(tmp_path, "app.yaml", "demo:\n  rate: 0.5\n")
        found = issues([path], environ={"SHAREDCONFIG_DEMO__RATE__X": "1"})
        assert where(found, "VALIDATION_002") == ["$SHAREDCONFIG_DEMO__RATE__X"]
        assert where(found, "CONFIG_024") == ["$SHAREDCONFIG_DEMO__RATE__X"]

    def test_a_custom_warning_names_the_variable(self) -> None:
        """A validator's warning on a value from the environment is located at ``$VAR``."""
        found = issues(environ={"SHAREDCONFIG_DEMO__RATE": "0.95"})
        assert [(i.severity, str(i.location)) for i in found] == [("warning", "$SHAREDCONFIG_DEMO__RATE")]

    def test_a_section_set_only_by_the_environment_is_located_at_its_variable(self) -> None:
        """A required key missing from a section only a variable created is reported at that variable."""
        found = issues(environ={"SHAREDCONFIG_NEEDY__NAME": "n"})
        assert [(i.path, str(i.location)) for i in found] == [("needy.url", "$SHAREDCONFIG_NEEDY__NAME")]


class TestDotenv:
    def test_a_value_out_of_range_names_the_file_line_and_variable(self, tmp_path: Path) -> None:
        """A schema error on a .env value is at ``FILE:LINE VAR``: the line of the (last) assignment."""
        env_file = write(
            tmp_path, ".env", "# demo\nSHAREDCONFIG_DEMO__RATE=0.1\nOTHER=1\nSHAREDCONFIG_DEMO__RATE=3\n"
        )
        found = issues(env_file=env_file)
        assert where(found, "VALIDATION_003") == [f"{env_file}:4 SHAREDCONFIG_DEMO__RATE"]

    def test_a_stray_variable_in_the_file_names_its_line(self, tmp_path: Path) -> None:
        """An unknown module from a .env variable names the file, its line and the variable."""
        env_file = write(tmp_path, ".env", "\n\nexport SHAREDCONFIG_DEMP__RATE=1\n")
        found = issues(env_file=env_file)
        assert where(found, "VALIDATION_001") == [f"{env_file}:3 SHAREDCONFIG_DEMP__RATE"]

    def test_json_gives_the_file_and_line(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``--format json`` keeps ``file``/``line`` for a .env origin; ``source`` is the origin text."""
        (clean_cli_env / ".env").write_text("SHAREDCONFIG_MONITORING__SAMPLE_RATE=2\n")
        code, out = cli(capsys, "validate", "--format", "json")
        assert code == 1
        [item] = json.loads(out)
        assert (item["file"], item["line"], item["column"]) == (".env", 1, None)
        assert item["source"] == ".env:1 SHAREDCONFIG_MONITORING__SAMPLE_RATE"
        assert item["origin"] == "dotenv"


class TestSecretsDirectory:
    def test_a_wrong_value_names_the_file_and_never_shows_the_value(self, tmp_path: Path) -> None:
        """A secret file feeding a number is reported at the file's path; its content appears nowhere."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "demo__rate").write_text(CANARY)
        outcome = check([], **{**OPTIONS, "environ": {}, "secrets_dir": str(secrets)})
        assert where(list(outcome.report), "VALIDATION_002") == [str(secrets / "demo__rate")]
        with pytest.raises(ConfigValidationError) as caught:
            outcome.config_or_raise()
        rendered = str(caught.value) + json.dumps([i.to_dict() for i in outcome.report])
        assert str(secrets / "demo__rate") in rendered
        assert CANARY not in rendered

    def test_an_unknown_key_names_the_secret_file(self, tmp_path: Path) -> None:
        """A misspelt secret file name is an unknown key at that file, with did-you-mean."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "demo__raet").write_text(CANARY)
        [issue] = issues(secrets_dir=str(secrets))
        assert (issue.code, str(issue.location), issue.hint) == (
            "VALIDATION_001",
            str(secrets / "demo__raet"),
            "did you mean 'rate'?",
        )
        assert CANARY not in str(issue)

    def test_json_gives_the_secret_file(self, tmp_path: Path) -> None:
        """A secret file's origin is a file in JSON: ``file`` is its path, no line."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "demo__rate").write_text("7")
        [issue] = issues(secrets_dir=str(secrets))
        data = issue.to_dict()
        assert (data["file"], data["line"], data["origin"]) == (str(secrets / "demo__rate"), None, "secret")


class TestOverride:
    def test_a_value_out_of_range_names_the_override_text(self) -> None:
        """An override's issue is at ``--set KEY=VALUE``, the text as given."""
        assert where(issues(overrides=["demo.rate=2"]), "VALIDATION_003") == ["--set demo.rate=2"]

    def test_an_unknown_key_names_the_override(self) -> None:
        """A misspelt override key is an unknown key at that override, with did-you-mean."""
        [issue] = issues(overrides=["demo.raet=1"])
        assert (issue.code, str(issue.location), issue.hint) == (
            "VALIDATION_001",
            "--set demo.raet=1",
            "did you mean 'rate'?",
        )

    def test_a_collection_is_shown_as_its_kind(self) -> None:
        """An issue inside a flow collection names the override, its value as ``[...]``."""
        assert where(issues(overrides=["demo.boxes=[{size: 20}]"]), "VALIDATION_003") == [
            "--set demo.boxes=[...]"
        ]

    def test_a_secret_looking_key_never_shows_its_value(self) -> None:
        """``--set demo.api_token=...``: the origin text hides the value (the key looks secret)."""
        found = issues(overrides=[f"demo.api_token={CANARY}"])
        assert where(found, "VALIDATION_001") == ["--set demo.api_token=**********"]

    def test_a_secret_looking_key_never_shows_its_value_in_explain(self) -> None:
        """A plain string field whose name looks secret: ``Config.explain`` hides the override's value."""
        overrides = [f"demo.session_token={CANARY}"]
        config = load([], **{**OPTIONS, "validators": [], "environ": {}, "overrides": overrides})
        rows = {path: (value, str(origin)) for path, value, origin in config.explain()}
        assert rows["demo.session_token"] == ("**********", "--set demo.session_token=**********")

    def test_a_secret_typed_key_never_shows_its_value(self) -> None:
        """A field the schema types as a secret, under a plain name, is hidden in the origin text too, in
        a custom validator's issue and in ``Config.explain``."""
        found = issues(overrides=[f"demo.endpoint=http://{CANARY}"])
        assert where(found, "VALIDATION_011") == ["--set demo.endpoint=**********"]
        config = load(
            [], **{**OPTIONS, "validators": [], "environ": {}, "overrides": [f"demo.endpoint={CANARY}"]}
        )
        origins = {path: str(origin) for path, _, origin in config.explain()}
        assert origins["demo.endpoint"] == "--set demo.endpoint=**********"

    def test_a_secret_typed_key_written_by_its_alias_never_shows_its_value(self) -> None:
        """A secret-typed field the data names by its alias (``hook`` for ``callback``) is hidden too."""
        overrides = [f"demo.hook={CANARY}"]
        config = load([], **{**OPTIONS, "validators": [], "environ": {}, "overrides": overrides})
        origins = {path: str(origin) for path, _, origin in config.explain()}
        assert origins["demo.hook"] == "--set demo.hook=**********"

    def test_a_secret_typed_key_of_a_rejected_section_never_shows_its_value(self) -> None:
        """A section its schema rejects, known only by a secret-typed override: the missing key is
        reported at that override, its value hidden."""
        found = issues(overrides=[f"needy.dsn={CANARY}"])
        assert [(i.path, str(i.location)) for i in found] == [("needy.url", "--set needy.dsn=**********")]

    def test_an_override_set_twice_is_located_at_the_last_one(self) -> None:
        """``--set demo.rate=0.1 --set demo.rate.x=1``: the later override replaced the value; the issue
        names it, not the earlier text whose value is gone."""
        found = issues(overrides=["demo.rate=0.1", "demo.rate.x=1"])
        assert where(found, "VALIDATION_002") == ["--set demo.rate.x=1"]

    def test_a_password_in_a_url_is_masked(self) -> None:
        """A URL's password is never shown in an override's origin text."""
        found = issues(overrides=[f"needy.url=https://me:{CANARY}@host/", "needy.nmae=x"])
        assert where(found, "VALIDATION_001") == ["--set needy.nmae=x"]
        config = load(
            [],
            **{
                **OPTIONS,
                "validators": [],
                "environ": {},
                "overrides": [f"needy.url=https://me:{CANARY}@host/"],
            },
        )
        origins = {path: str(origin) for path, _, origin in config.explain()}
        assert origins["needy.url"] == "--set needy.url=https://me:**********@host/"


class TestFileValues:
    def test_a_section_written_in_a_file_keeps_its_line_when_a_variable_adds_to_it(
        self, tmp_path: Path
    ) -> None:
        """A required key missing from a section written in the file, that a variable added a key to, is
        reported at the section's line: the most specific honest origin of the section."""
        path = write(tmp_path, "app.yaml", "needy:\n  name: n\n")
        found = issues([path], environ={"SHAREDCONFIG_NEEDY__NAME": "m"})
        assert [(i.path, str(i.location)) for i in found] == [("needy.url", f"{path}:1:1")]

    def test_an_interpolated_value_is_located_at_its_reference(self, tmp_path: Path) -> None:
        """``rate: ${RATE}`` fed out of range by the environment is reported at its key in the file (as
        every YAML value is), an unset ``${RATE}`` at the reference: the file names the variable."""
        path = write(tmp_path, "app.yaml", "demo:\n  rate: ${RATE}\n")
        found = issues([path], environ={"RATE": "2"})
        assert where(found, "VALIDATION_003") == [f"{path}:2:3"]
        missing = issues([path], environ={})
        assert where(missing, "CONFIG_015") == [f"{path}:2:9"]  # the reference itself


class TestRendering:
    def test_issues_are_ordered_files_then_variables_then_overrides(self, tmp_path: Path) -> None:
        """Files (YAML, .env, secret files) by name and line, then ``$VAR`` and ``--set`` origins."""
        path = write(tmp_path, "app.yaml", "demo:\n  raet: 1\n")
        env_file = write(tmp_path, "b.env", 'SHAREDCONFIG_DEMO__BOXES=[{"size": 99}]\n')
        found = issues(
            [path],
            env_file=env_file,
            environ={"SHAREDCONFIG_NEEDY__URL": "u", "SHAREDCONFIG_NEEDY__NAEM": "x"},
            overrides=["demo.rate=5"],
        )
        assert [str(i.location) for i in found] == [
            f"{path}:2:3",
            f"{env_file}:1 SHAREDCONFIG_DEMO__BOXES",
            "$SHAREDCONFIG_NEEDY__NAEM",
            "--set demo.rate=5",
        ]

    def test_str_of_the_error_lists_every_origin_with_its_hint(self) -> None:
        """str(ConfigValidationError) gives each issue's origin text, code, path, message, then its hint."""
        with pytest.raises(ConfigValidationError) as caught:
            load([], **{**OPTIONS, "environ": {"SHAREDCONFIG_DEMP__X": "1"}, "overrides": ["demo.rate=2"]})
        lines = str(caught.value).splitlines()
        assert lines[1:] == [
            "  $SHAREDCONFIG_DEMP__X: error VALIDATION_001 demp: unknown configuration module 'demp'",
            "      hint: did you mean 'demo'?",
            "  --set demo.rate=2: error VALIDATION_003 demo.rate: "
            "Input should be less than or equal to 1 (got '2')",
            "      hint: Give a value within the range shown.",
        ]

    def test_the_console_names_the_variable(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``sharedconfig validate`` prints ``$VAR: error CODE key: message`` for a variable's value."""
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SHAREDCONFIG_MONITORING__SAMPLE_RATE", "2")
            env.setenv("SHAREDCONFIG_MONITORNG__X", "1")
            code, out = cli(capsys, "validate")
        assert code == 1
        assert out.splitlines() == [
            "$SHAREDCONFIG_MONITORING__SAMPLE_RATE: error VALIDATION_003 monitoring.sample_rate: "
            "Input should be less than or equal to 1 (got '2')",
            "    hint: Give a value within the range shown.",
            "$SHAREDCONFIG_MONITORNG__X: error VALIDATION_001 monitorng: "
            "unknown configuration module 'monitorng'",
            "    hint: did you mean 'monitoring'?",
            "invalid: 2 errors, 0 warnings",
        ]

    def test_the_console_and_json_name_the_override(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``--set monitoring.sample_rate=2`` is the origin text in the console and in JSON's ``source``."""
        code, out = cli(capsys, "validate", "--set", "monitoring.sample_rate=2")
        assert code == 1
        assert out.startswith("--set monitoring.sample_rate=2: error VALIDATION_003 monitoring.sample_rate:")
        code, out = cli(capsys, "validate", "--set", "monitoring.sample_rate=2", "--format", "json")
        [item] = json.loads(out)
        assert (item["source"], item["origin"], item["file"], item["line"]) == (
            "--set monitoring.sample_rate=2",
            "override",
            None,
            None,
        )

    def test_control_characters_in_an_origin_are_escaped(self) -> None:
        """An override or variable carrying a terminal escape or a line break is shown escaped, so an issue
        line cannot recolour the terminal or forge a second line."""
        found = issues(overrides=["demo.rate=2\x1b[31m"], environ={"SHAREDCONFIG_DEMO__X\n": "1"})
        text = "".join(f"{i}\n" for i in found)
        assert "\x1b" not in text and text.count("\n") == len(found) == 2
        assert "--set demo.rate=2\\x1b[31m: error VALIDATION_002" in text
        assert "$SHAREDCONFIG_DEMO__X\\n: error VALIDATION_001 demo.x\\n: " in text

    def test_a_secret_typed_override_of_a_built_in_module_is_hidden_in_the_console(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A webhook channel's ``url`` (a ``SecretUrl`` under a plain name) from ``--set``: ``validate`` and
        ``show --explain`` name the override with its value hidden."""
        url = f"http://{CANARY}.example/hook"
        sets = [
            "--set",
            "monitoring.events.exporters.0.type=webhook",
            "--set",
            f"monitoring.events.exporters.0.url={url}",
        ]
        code, out = cli(capsys, "validate", "--profile", "production", *sets)
        assert code == 1
        assert out.startswith("--set monitoring.events.exporters.0.url=**********: error VALIDATION_011 ")
        code, out = cli(capsys, "show", "--explain", *sets)
        assert code == 0
        assert CANARY not in out
        assert "# --set monitoring.events.exporters.0.url=**********" in out
