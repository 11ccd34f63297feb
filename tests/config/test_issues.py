"""Tests for the issue vocabulary: key paths, Issue, ValidationReport, and its place at the bottom."""

from __future__ import annotations

import ast
from pathlib import Path

import sharedconfig
from sharedconfig import config as config_pkg
from sharedconfig.config import issues, validation
from sharedconfig.config.issues import Issue, ValidationReport, format_path, key_path
from sharedconfig.errors import REGISTRY, Location


class TestKeyPaths:
    def test_format_and_parse_round_trip(self) -> None:
        """A dotted path parses into keys and list indexes and formats back to the same text."""
        dotted = "monitoring.metrics.exporters.1.api_key"
        path = key_path(dotted.split("."))
        assert path == ("monitoring", "metrics", "exporters", 1, "api_key")
        assert format_path(path) == dotted
        assert format_path(()) == ""


class TestIssue:
    def test_hint_defaults_to_the_registered_one(self) -> None:
        """An issue without a hint takes the hint its code has in the error registry."""
        issue = Issue("VALIDATION_010", "demo.token", "secret value is written in plain text")
        assert issue.hint == REGISTRY["VALIDATION_010"].hint
        assert Issue("VALIDATION_010", "p", "m", hint="mine").hint == "mine"

    def test_text_and_json_shape(self) -> None:
        """str() is compiler style; to_dict() names the file only for file and secret locations."""
        in_file = Issue("VALIDATION_003", "demo.rate", "too big", location=Location("file", "a.yaml", 2, 3))
        assert str(in_file) == "a.yaml:2:3: error VALIDATION_003 demo.rate: too big"
        assert (in_file.to_dict()["file"], in_file.to_dict()["line"]) == ("a.yaml", 2)
        from_env = Issue("VALIDATION_003", "demo.rate", "too big", location=Location("env", "X__Y"))
        assert from_env.to_dict()["file"] is None


class TestValidationReport:
    def test_errors_warnings_and_ok(self) -> None:
        """A report is ok when no issue is an error, and splits its issues by severity in order."""
        warning = Issue("VALIDATION_021", "a", "slow", severity="warning")
        error = Issue("VALIDATION_003", "b", "too big")
        assert ValidationReport((warning,)).ok
        report = ValidationReport((warning, error))
        assert not report.ok
        assert (report.errors, report.warnings, list(report), len(report)) == (
            (error,),
            (warning,),
            [warning, error],
            2,
        )


class TestPlace:
    def test_imports_nothing_else_from_config(self) -> None:
        """issues.py is the bottom of sharedconfig.config: no import of a sibling, even a lazy one."""
        tree = ast.parse(Path(issues.__file__).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.startswith("sharedconfig.config")}

    def test_old_import_paths_give_the_same_objects(self) -> None:
        """Issue and ValidationReport are still importable from validation, config and the package."""
        for home in (validation, config_pkg, sharedconfig):
            assert home.Issue is Issue
            assert home.ValidationReport is ValidationReport
        assert validation.format_path is format_path
