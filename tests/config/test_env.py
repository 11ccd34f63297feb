"""Tests for environment variables as config: key paths, odd digits, and names with empty key parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharedconfig import check
from sharedconfig.config.issues import key_path
from sharedconfig.config.sources.env import DEFAULT_PREFIX, dotenv_lines, env_path


class TestEnvPath:
    def test_parts_and_list_indexes(self) -> None:
        """PREFIX_A__B__0 sets a.b[0]; names without a double underscore are the tool's own settings."""
        assert env_path("SHAREDCONFIG_MONITORING__EXPORTERS__0__TYPE", DEFAULT_PREFIX) == (
            "monitoring",
            "exporters",
            0,
            "type",
        )
        assert env_path("SHAREDCONFIG_PROFILE", DEFAULT_PREFIX) is None
        assert env_path("OTHER_A__B", DEFAULT_PREFIX) is None

    @pytest.mark.parametrize("part", ["²", "٣", "①", "𝟕"])
    def test_unicode_digits_are_names_not_indexes(self, part: str) -> None:
        """A part of non-ASCII digits is a key name (int() would fail on it): no crash, no index."""
        assert key_path(["monitoring", part, "1"]) == ("monitoring", part, 1)

    def test_a_unicode_digit_variable_is_an_unknown_key_not_a_crash(self) -> None:
        """One such variable in the environment gives an issue; every load does not break."""
        outcome = check([], environ={"SHAREDCONFIG_MONITORING__²__X": "1"}, env_file=None)
        assert [(i.code, i.path) for i in outcome.report.errors] == [("VALIDATION_001", "monitoring.²")]


class TestEmptyKeyParts:
    @pytest.mark.parametrize(
        "name",
        [
            "SHAREDCONFIG___X",
            "SHAREDCONFIG_MONITORING____SAMPLE_RATE",
            "SHAREDCONFIG_MONITORING__SAMPLE_RATE__",
        ],
    )
    def test_reported_as_a_warning_naming_the_variable(self, name: str) -> None:
        """A prefixed name with an empty part sets nothing and says so (CONFIG_025) at the variable."""
        outcome = check([], environ={name: "0.5"}, env_file=None)
        warnings = [i for i in outcome.report.warnings if i.code == "CONFIG_025"]
        assert len(warnings) == 1
        assert warnings[0].message.startswith(f"{name} has an empty key part")
        assert warnings[0].location is not None and str(warnings[0].location) == f"${name}"
        assert outcome.config is not None
        assert outcome.config.module("monitoring").sample_rate == 1.0  # type: ignore[attr-defined]

    def test_the_dotenv_file_reports_them_too(self, tmp_path: Path) -> None:
        """The same name in a .env file is reported with the file's name."""
        env_file = tmp_path / ".env"
        env_file.write_text("SHAREDCONFIG_A____B=1\n")
        outcome = check([], environ={}, env_file=env_file)
        assert [str(i.location) for i in outcome.report.warnings if i.code == "CONFIG_025"] == [
            f"{env_file}:1 SHAREDCONFIG_A____B"
        ]


class TestDotenvLines:
    def test_each_variable_gets_the_line_of_its_last_assignment(self, tmp_path: Path) -> None:
        """Blank lines, comments, ``export`` and a quoted value over two lines do not shift the lines; a
        variable assigned twice is at its second line, the one that wins."""
        env_file = tmp_path / ".env"
        env_file.write_text('# top\n\n\nA=1\n\nexport B=2\nC="two\nlines"\nD=4\nA=5\n')
        assert dotenv_lines(env_file) == {"A": 10, "B": 6, "C": 7, "D": 9}

    def test_a_missing_file_has_no_lines(self, tmp_path: Path) -> None:
        """A .env file that does not exist gives no lines (the source reports nothing either)."""
        assert dotenv_lines(tmp_path / "absent.env") == {}
