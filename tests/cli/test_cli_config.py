"""End-to-end tests of ``sharedconfig validate | show | schema | diff`` through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from sharedconfig.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SEED = str(ROOT / "deploy" / "config" / "monitoring-production.yaml")
CANARY = "canary-7f3a9c"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No SHAREDCONFIG_* or seed variables from the outer environment; cwd without a .env."""
    for name in list(os.environ):
        if name.startswith("SHAREDCONFIG_") or name in ("DATADOG_API_KEY", "SLACK_WEBHOOK_URL"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def seed_env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The seed YAML's two variables set."""
    clean_env.setenv("DATADOG_API_KEY", "dd-demo")
    clean_env.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/demo")
    return clean_env


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class TestValidate:
    def test_seed_yaml_is_valid_with_its_variables(
        self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit 0 with the Jaeger compliance warning shown in compiler style."""
        code, out, _ = cli(capsys, "validate", "--profile", "production", SEED)
        assert code == 0
        assert f"{SEED}:57:9: warning VALIDATION_030 monitoring.tracing.exporters.0.endpoint:" in out
        assert "    hint: " in out
        assert out.rstrip().endswith("valid: 1 warning")

    def test_strict_fails_on_warnings_and_ignore_silences(
        self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--strict turns the warning into exit 1; --ignore drops it again."""
        assert cli(capsys, "validate", "--strict", SEED)[0] == 1
        assert cli(capsys, "validate", "--strict", "--ignore", "VALIDATION_030", SEED)[0] == 0

    def test_missing_variables_exit_1_naming_both(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without the variables: exit 1, each named with its line."""
        code, out, _ = cli(capsys, "validate", SEED)
        assert code == 1
        assert (
            f"{SEED}:18:18: error CONFIG_015 monitoring.metrics.exporters.1.api_key: environment "
            "variable DATADOG_API_KEY not set" in out
        )
        assert f"{SEED}:78:22: error CONFIG_015 monitoring.alerts.notifications.0.webhook_url" in out
        assert "SLACK_WEBHOOK_URL" in out

    def test_json_format(self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        """--format json prints a list of objects with the documented keys."""
        code, out, _ = cli(capsys, "validate", "--format", "json", SEED)
        assert code == 1
        items = json.loads(out)
        assert {tuple(sorted(i)) for i in items} == {
            ("code", "column", "file", "hint", "line", "message", "origin", "path", "severity", "source")
        }
        assert {i["line"] for i in items} == {18, 78}

    def test_usage_error_exits_2(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown option is a usage error: exit 2."""
        assert cli(capsys, "validate", "--no-such-option")[0] == 2

    @pytest.mark.parametrize(
        ("content", "code", "line"),
        [
            ("monitoring:\n  sample_rate: [1\n", "CONFIG_007", 3),
            ("monitoring:\n\tenabled: true\n", "CONFIG_008", 2),
            ("monitoring:\n  enabled: true\n  enabled: false\n", "CONFIG_009", 3),
            ("monitoring:\n  sampel_rate: 0.5\n", "VALIDATION_001", 2),
            ("monitoring:\n  sample_rate: 2\n", "VALIDATION_003", 2),
            ("monitoring:\n  buffer_size: lots\n", "VALIDATION_002", 2),
            ("monitoring:\n  flush_interval: 30 seconds\n", "VALIDATION_004", 2),
            ("monitoring: !!python/object/apply:os.system ['true']\n", "CONFIG_010", 1),
            ("", "CONFIG_012", 1),
            (b"monitoring:\n  x: \xff\n", "CONFIG_006", 2),
        ],
    )
    def test_bad_input_is_one_line_per_problem_never_a_traceback(
        self,
        clean_env: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
        content: str | bytes,
        code: str,
        line: int,
    ) -> None:
        """Each bad input exits 1 with its code and file:line, and no traceback."""
        path = tmp_path / "bad.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        rc, out, err = cli(capsys, "validate", str(path))
        assert rc == 1
        assert f"{path}:{line}:" in out
        assert f"error {code}" in out
        assert "Traceback" not in out + err

    def test_did_you_mean(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """Unknown keys come with a suggestion."""
        path = tmp_path / "a.yaml"
        path.write_text("monitoring:\n  sampel_rate: 0.5\n")
        out = cli(capsys, "validate", str(path))[1]
        assert "hint: did you mean 'sample_rate'?" in out

    def test_missing_file(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A missing file named on the command line is CONFIG_003."""
        rc, out, _ = cli(capsys, "validate", str(tmp_path / "nope.yaml"))
        assert rc == 1
        assert "CONFIG_003" in out


class TestShow:
    def test_show_prints_effective_config_with_defaults(
        self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show prints YAML with the file's values and schema defaults; the secret is masked."""
        code, out, _ = cli(capsys, "show", SEED)
        assert code == 0
        data = yaml.safe_load(out)
        assert data["monitoring"]["sample_rate"] == 0.1
        assert data["monitoring"]["metrics"]["exporters"][1]["api_key"] == "**********"
        assert "dd-demo" not in out

    def test_explain_names_origins(
        self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--explain prints each leaf with file:line:col, env var or default."""
        seed_env.setenv("SHAREDCONFIG_MONITORING__SAMPLE_RATE", "0.3")
        out = cli(capsys, "show", "--explain", SEED)[1]
        lines = {line.split(" = ")[0].strip(): line for line in out.splitlines()}
        assert lines["monitoring.sample_rate"].endswith("# $SHAREDCONFIG_MONITORING__SAMPLE_RATE")
        assert lines["monitoring.buffer_size"].endswith(f"# {SEED}:5:3")
        assert lines["monitoring.metrics.exporters.1.api_key"].split("#")[0].strip().endswith('"**********"')
        assert any(line.endswith("# default") for line in lines.values())

    def test_explain_json(self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        """--explain --format json gives path, value and origin objects."""
        rows = json.loads(cli(capsys, "show", "--explain", "--format", "json", SEED)[1])
        assert {"path": "monitoring.sample_rate", "value": 0.1, "origin": f"{SEED}:4:3"} in rows

    def test_show_invalid_config_exits_1(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show on an invalid config prints the errors to stderr and exits 1."""
        code, out, err = cli(capsys, "show", SEED)
        assert code == 1
        assert out == ""
        assert "CONFIG_015" in err

    def test_never_prints_a_secret(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A canary through env, a file, the secrets dir and interpolation never reaches any output."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "monitoring__alerts__notifications__0__webhook_url").write_text(
            f"https://x/{CANARY}-dir\n"
        )
        (secrets / "ES_PASSWORD").write_text(f"{CANARY}-interp")
        conf = tmp_path / "app.yaml"
        conf.write_text(
            "monitoring:\n"
            "  metrics:\n    exporters:\n      - type: datadog\n"
            f"        api_key: {CANARY}-file\n"
            "  events:\n    exporters:\n      - type: elasticsearch\n        endpoint: http://es:9200\n"
            "        index: ev\n        username: svc\n        password: ${ES_PASSWORD}\n"
            "  alerts:\n    notifications:\n      - type: slack\n        webhook_url: https://placeholder\n"
            "  tracing:\n    exporters:\n      - type: otlp\n        endpoint: http://otel:4318\n"
            "        headers: {authorization: Bearer x}\n"
        )
        clean_env.setenv(
            "SHAREDCONFIG_MONITORING__TRACING__EXPORTERS__0__HEADERS",
            json.dumps({"authorization": f"{CANARY}-env"}),
        )
        outputs = []
        for args in (
            ["validate", str(conf)],
            ["validate", "--format", "json", str(conf)],
            ["show", str(conf)],
            ["show", "--explain", str(conf)],
            ["show", "--format", "json", "--explain", str(conf)],
        ):
            code, out, err = cli(capsys, *args, "--secrets-dir", str(secrets))
            assert code == 0, out + err
            outputs.append(out + err)
        text = "\n".join(outputs)
        assert "VALIDATION_010" in text  # the plain-text secret in the file is flagged...
        assert CANARY not in text  # ...but never printed, from any source


class TestSchema:
    def test_schema_is_valid_draft_2020_12_and_accepts_the_seed(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The schema passes the meta-schema and the seed YAML validates against it."""
        code, out, _ = cli(capsys, "schema")
        assert code == 0
        schema = json.loads(out)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
        with open(SEED) as fh:
            seed = yaml.safe_load(fh)
        jsonschema.Draft202012Validator(schema).validate(seed)
        bad = {"monitoring": {"sampel_rate": 0.5}}
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))

    def test_single_module_schema(
        self, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--module prints one module's schema; an unknown module is CONFIG_018."""
        code, out, _ = cli(capsys, "schema", "--module", "storage")
        assert code == 0
        jsonschema.Draft202012Validator.check_schema(json.loads(out))
        code, _, err = cli(capsys, "schema", "--module", "nope")
        assert code == 1
        assert "CONFIG_018" in err


class TestDiff:
    def test_diff_lists_changes_and_redacts_secrets(
        self, seed_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """Changed, added and removed keys are listed; a changed secret shows no value."""
        a = tmp_path / "a.yaml"
        b = tmp_path / "b.yaml"
        a.write_text(
            "monitoring:\n  sample_rate: 0.1\n  metrics:\n    exporters:\n      - type: datadog\n"
            f"        api_key: {CANARY}-a\n"
        )
        b.write_text(
            "monitoring:\n  sample_rate: 0.2\n  metrics:\n    exporters:\n      - type: datadog\n"
            f"        api_key: {CANARY}-b\n"
        )
        code, out, err = cli(capsys, "diff", str(a), str(b))
        assert code == 1
        assert "~ monitoring.sample_rate: 0.1 -> 0.2" in out
        assert "~ monitoring.metrics.exporters.0.api_key: (secret changed)" in out
        assert CANARY not in out + err
        assert cli(capsys, "diff", str(a), str(a))[:2] == (0, "no differences\n")


def test_subprocess_has_no_traceback(tmp_path: Path) -> None:
    """Run as a real process: bad input gives a clean message and exit 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitoring:\n  a: 1\n  a: 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCONFIG_")}
    proc = subprocess.run(
        [sys.executable, "-m", "sharedconfig.cli.main", "validate", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "CONFIG_009" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_diff_exits_2_when_a_file_fails_to_load(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """diff follows diff(1): trouble loading a file is exit 2, not 'different'."""
    good = tmp_path / "a.yaml"
    good.write_text("monitoring: {}\n")
    code, _, err = cli(capsys, "diff", str(good), str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "CONFIG_003" in err


class TestOverrideProblemsShowTheKeyOnly:
    @pytest.mark.parametrize("fmt", ["text", "json"])
    def test_malformed_overrides_never_echo_their_value(
        self, clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
    ) -> None:
        """--set without '=', with an empty key part, or with a broken collection: coded, key only."""
        config = tmp_path / "app.yaml"
        config.write_text("monitoring: {}\n")
        code, out, err = cli(
            capsys,
            "validate",
            str(config),
            "--format",
            fmt,
            "--set",
            "canary-one-ZQ1",
            "--set",
            "a..b=canary-two-ZQ2",
            "--set",
            "monitoring.tags=[canary-three-ZQ3, {",
        )
        assert code == 1
        assert "ZQ" not in out + err
        assert (out + err).count("CONFIG_017") >= 3
