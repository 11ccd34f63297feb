"""Mistakes in naming sources that used to pass silently (issue 8): a profile with no overlay anywhere,
a named .env file that does not exist, a named secrets directory that does not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sharedconfig.cli.main import main
from sharedconfig.config.loader import Outcome, check
from sharedconfig.config.sources import DotenvSource
from sharedconfig.config.tree import ReadContext
from sharedconfig.errors import REGISTRY

VALID = "monitoring: {}\n"


def write(directory: Path, name: str, text: str = VALID) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def run(files: list[Path], **kw: Any) -> Outcome:
    kw.setdefault("environ", {})
    kw.setdefault("env_file", None)
    return check([str(f) for f in files], **kw)


def codes(outcome: Outcome) -> list[tuple[str, str]]:
    return [(i.code, i.severity) for i in outcome.report]


class TestProfileWithoutOverlay:
    def test_a_misspelt_profile_warns_with_did_you_mean(self, tmp_path: Path) -> None:
        """profile="prodution" beside app.production.yaml: a CONFIG_027 warning (the load stays valid)
        naming the profile and where its overlay was looked for, with a did-you-mean."""
        base = write(tmp_path, "app.yaml")
        write(tmp_path, "app.production.yaml")
        outcome = run([base], profile="prodution")
        assert outcome.report.ok
        assert codes(outcome) == [("CONFIG_027", "warning")]
        (issue,) = outcome.report.issues
        assert "'prodution'" in issue.message
        assert str(tmp_path / "app.prodution.yaml") in issue.message
        assert "did you mean profile 'production'?" in issue.hint.lower()
        assert str(issue.location) == "option profile"
        assert "CONFIG_027" in REGISTRY and not REGISTRY["CONFIG_027"].retryable

    def test_the_profiles_that_exist_are_listed(self, tmp_path: Path) -> None:
        """A profile far from every existing one still lists the profiles that have overlays."""
        base = write(tmp_path, "app.yaml")
        write(tmp_path, "app.production.yaml")
        write(tmp_path, "app.staging.yaml")
        (issue,) = run([base], profile="qa").report.issues
        assert issue.code == "CONFIG_027"
        assert "Overlays exist for: production, staging." in issue.hint

    def test_a_production_profile_whose_overlay_is_named_otherwise_warns(self, tmp_path: Path) -> None:
        """profile="production" when the overlays are app.prod.yaml: warned, listing 'prod' (the production
        checks alone do not make it quiet when overlays are in use)."""
        base = write(tmp_path, "app.yaml")
        write(tmp_path, "app.prod.yaml")
        (issue,) = run([base], profile="production").report.issues
        assert (issue.code, issue.severity) == ("CONFIG_027", "warning")
        assert issue.hint == "Overlays exist for: prod."

    def test_a_profile_with_no_overlay_for_any_profile_warns(self, tmp_path: Path) -> None:
        """With no overlays at all, a (non-production) profile reads nothing: warned, with that said."""
        base = write(tmp_path, "app.yaml")
        (issue,) = run([base], profile="staging").report.issues
        assert (issue.code, issue.severity) == ("CONFIG_027", "warning")
        assert "No overlay exists" in issue.hint

    def test_one_overlay_somewhere_is_enough(self, tmp_path: Path) -> None:
        """Overlays are looked for beside every file; one existing overlay means no warning, and a
        misspelt profile's warning names every place looked at."""
        (tmp_path / "b").mkdir()
        a = write(tmp_path, "a.yaml")
        b = write(tmp_path / "b", "b.yaml")
        write(tmp_path / "b", "b.staging.yaml", "monitoring: {enabled: false}\n")
        outcome = run([a, b], profile="staging")
        assert codes(outcome) == []
        # the same files under a misspelt profile: one warning naming both places looked at
        (issue,) = run([a, b], profile="stagign").report.issues
        assert str(tmp_path / "a.stagign.yaml") in issue.message
        assert str(tmp_path / "b" / "b.stagign.yaml") in issue.message
        assert "'staging'" in issue.hint

    def test_the_cli_profile_flag_warns_too(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`validate --profile prodution app.yaml` prints the warning and its hint, and exits 0."""
        write(clean_cli_env, "app.yaml")
        write(clean_cli_env, "app.production.yaml")
        code = main(["validate", "--profile", "prodution", "app.yaml"])
        out = capsys.readouterr().out
        assert code == 0
        assert "option profile: warning CONFIG_027: profile 'prodution' has no overlay file" in out
        assert "hint: Did you mean profile 'production'?" in out


class TestNamedEnvFile:
    def test_a_named_env_file_that_does_not_exist_is_an_error(self, tmp_path: Path) -> None:
        """env_file= naming a missing file is CONFIG_003 at that file, like a missing config file."""
        missing = tmp_path / "prod.env"
        outcome = run([], env_file=str(missing))
        assert not outcome.report.ok
        (issue,) = outcome.report.issues
        assert (issue.code, issue.severity) == ("CONFIG_003", "error")
        assert issue.location is not None and issue.location.source == "dotenv"
        assert issue.location.name == str(missing)
        assert "env_file=" in issue.message and "--env-file" in issue.message
        assert "read only when it exists" in issue.hint

    def test_a_named_env_file_that_is_a_directory_is_an_error(self, tmp_path: Path) -> None:
        """env_file= naming a directory is CONFIG_004 (it used to read nothing, silently)."""
        outcome = run([], env_file=str(tmp_path))
        assert codes(outcome) == [("CONFIG_004", "error")]
        assert "is a directory" in outcome.report.issues[0].message

    def test_only_a_required_dotenv_source_reports_its_absence(self, tmp_path: Path) -> None:
        """DotenvSource(required=True) reports a missing file; the default (optional) one stays empty."""
        missing = str(tmp_path / ".env")
        (required,) = DotenvSource(missing, required=True).read(ReadContext())
        (optional,) = DotenvSource(missing).read(ReadContext())
        assert [i.code for i in required.issues] == ["CONFIG_003"]
        assert optional.issues == [] and optional.data == {}

    def test_the_cli_env_file_flag_must_name_a_file_but_the_default_stays_optional(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--env-file nope.env` fails with CONFIG_003; without the flag (no .env in the cwd) or with
        `--env-file ""` the same load is valid."""
        write(clean_cli_env, "app.yaml")
        assert main(["validate", "--env-file", "nope.env", "app.yaml"]) == 1
        assert "nope.env: error CONFIG_003:" in capsys.readouterr().out
        assert main(["validate", "app.yaml"]) == 0
        assert main(["validate", "--env-file", "", "app.yaml"]) == 0
        assert "CONFIG_003" not in capsys.readouterr().out


class TestNamedSecretsDirectory:
    def test_a_missing_secrets_dir_says_so_and_names_the_options(self, tmp_path: Path) -> None:
        """secrets_dir= naming nothing is a CONFIG_021 error saying the directory does not exist (not
        "cannot read secret ..."), at that path, with a hint naming the options."""
        missing = tmp_path / "secrets"
        outcome = run([], secrets_dir=str(missing))
        (issue,) = outcome.report.issues
        assert (issue.code, issue.severity) == ("CONFIG_021", "error")
        assert issue.message == "the path named as the secrets directory does not exist"
        assert str(issue.location) == str(missing)
        assert "--secrets-dir" in issue.hint and "$SHAREDCONFIG_SECRETS_DIR" in issue.hint

    def test_the_environment_variable_is_a_name_too(self, tmp_path: Path) -> None:
        """$SHAREDCONFIG_SECRETS_DIR naming nothing is the same error."""
        missing = str(tmp_path / "nope")
        outcome = run([], environ={"SHAREDCONFIG_SECRETS_DIR": missing})
        assert [(i.code, i.message) for i in outcome.report.issues] == [
            ("CONFIG_021", "the path named as the secrets directory does not exist")
        ]

    def test_a_file_named_as_the_secrets_dir_is_not_a_directory(self, tmp_path: Path) -> None:
        """secrets_dir= naming a regular file: CONFIG_021, "is not a directory"."""
        path = write(tmp_path, "secrets", "x")
        (issue,) = run([], secrets_dir=str(path)).report.issues
        assert (issue.code, issue.severity) == ("CONFIG_021", "error")
        assert issue.message == "the path named as the secrets directory is not a directory"

    def test_the_cli_secrets_dir_flag(self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`validate --secrets-dir nope` exits 1 saying the directory does not exist."""
        write(clean_cli_env, "app.yaml")
        assert main(["validate", "--secrets-dir", "nope", "app.yaml"]) == 1
        out = capsys.readouterr().out
        assert "nope: error CONFIG_021: the path named as the secrets directory does not exist" in out
