"""Rule configuration with codes it cannot act on: unknown codes are errors, unignorable codes say so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from conftest import write_config as write
from sharedconfig.config import SettingsModule, check
from sharedconfig.errors import REGISTRY, Category

IGNORABLE = {
    "VALIDATION_001",
    "VALIDATION_010",
    "VALIDATION_011",
    "VALIDATION_020",
    "VALIDATION_021",
    "VALIDATION_030",
    "VALIDATION_041",
    "VALIDATION_099",
}


class Demo(BaseModel):
    """A small module schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: float = Field(0.5, ge=0, le=1)
    name: str = "demo"


MODULES = (SettingsModule("demo", Demo),)


def run(files: list[str], **kw: Any) -> Any:
    kw.setdefault("modules", MODULES)
    kw.setdefault("discover", False)
    kw.setdefault("environ", {})
    kw.setdefault("env_file", None)
    return check(files, **kw)


def codes(outcome: Any) -> list[tuple[str, str]]:
    return [(i.code, i.severity) for i in outcome.report]


class TestRegistry:
    def test_ignorable_is_data_on_the_codes(self) -> None:
        """Only the linter-style codes are ignorable; every CONFIG_* and schema code is not, with a reason."""
        assert {code for code, entry in REGISTRY.items() if entry.ignorable} == IGNORABLE
        for code, entry in REGISTRY.items():
            if entry.category is Category.CONFIG:
                assert not entry.ignorable, code
            assert bool(entry.not_ignorable_because) is not entry.ignorable, code


class TestUnknownCodes:
    def test_unknown_code_in_the_option_is_an_error_with_a_suggestion(self, tmp_path: Path) -> None:
        """ignore=["VALIDATIN_010"] is VALIDATION_040, located at the option, suggesting VALIDATION_010."""
        outcome = run([write(tmp_path, "a.yaml", "demo: {rate: 0.1}\n")], ignore=["VALIDATIN_010"])
        assert outcome.config is None
        (issue,) = outcome.report.issues
        assert (issue.code, issue.severity) == ("VALIDATION_040", "error")
        assert issue.location is not None and str(issue.location) == "option ignore"
        assert "'VALIDATIN_010'" in issue.message and "ignore option" in issue.message
        assert issue.hint == "did you mean 'VALIDATION_010'?"

    def test_unknown_code_in_the_file_is_located_at_its_entry(self, tmp_path: Path) -> None:
        """An unknown code in validation.ignore points at the file and line of that list entry."""
        path = write(
            tmp_path,
            "a.yaml",
            "demo: {rate: 0.1}\nvalidation:\n  ignore:\n    - VALIDATION_030\n    - VALIDATION_3O\n",
        )
        outcome = run([path])
        (issue,) = outcome.report.issues
        assert issue.code == "VALIDATION_040" and issue.path == "validation.ignore.1"
        assert issue.location is not None
        assert (issue.location.name, issue.location.line) == (path, 5)
        assert issue.hint.startswith("did you mean 'VALIDATION_0")

    def test_unknown_code_in_severity_is_an_error(self, tmp_path: Path) -> None:
        """A key of validation.severity that is no registered code is VALIDATION_040 at that key."""
        path = write(tmp_path, "a.yaml", "validation:\n  severity:\n    NOPE_001: warning\n")
        (issue,) = run([path]).report.issues
        assert (issue.code, issue.path) == ("VALIDATION_040", "validation.severity.NOPE_001")
        assert issue.location is not None and issue.location.line == 3


class TestUnignorableCodes:
    def test_ignoring_a_syntax_error_says_it_has_no_effect(self, tmp_path: Path) -> None:
        """--ignore CONFIG_007 keeps the syntax error and adds a warning explaining why."""
        outcome = run([write(tmp_path, "a.yaml", "demo: [\n")], ignore=["CONFIG_007"])
        assert codes(outcome) == [("CONFIG_007", "error"), ("VALIDATION_041", "warning")]
        note = outcome.report.warnings[0]
        assert "ignoring CONFIG_007" in note.message and "has no effect" in note.message
        assert "reading problem" in note.message

    @pytest.mark.parametrize("rule", ["ignore: [VALIDATION_003]", "severity: {VALIDATION_003: warning}"])
    def test_schema_errors_cannot_be_ignored_or_downgraded(self, tmp_path: Path, rule: str) -> None:
        """An out-of-range value stays an error: ignoring it would load the module's defaults instead."""
        path = write(tmp_path, "a.yaml", f"demo:\n  rate: 9\nvalidation:\n  {rule}\n")
        outcome = run([path])
        assert outcome.config is None
        assert codes(outcome) == [("VALIDATION_003", "error"), ("VALIDATION_041", "warning")]
        note = outcome.report.warnings[0]
        assert note.path.startswith("validation.") and note.location is not None
        assert note.location.line == 4
        assert "defaults" in note.message

    def test_unknown_key_in_a_rejected_section_is_kept(self, tmp_path: Path) -> None:
        """Ignoring VALIDATION_001 for a key of a module does not load that module's defaults silently."""
        path = write(tmp_path, "a.yaml", "demo:\n  rate: 0.1\n  rats: 2\n")
        outcome = run([path], ignore=["VALIDATION_001"])
        assert outcome.config is None
        assert codes(outcome) == [("VALIDATION_001", "error"), ("VALIDATION_041", "warning")]
        assert outcome.report.warnings[0].path == "demo.rats"

    def test_ignorable_codes_still_work(self, tmp_path: Path) -> None:
        """An unknown top-level module is ignorable: the load succeeds with no issue and no warning."""
        path = write(
            tmp_path, "a.yaml", "demo: {rate: 0.1}\ndemmo: {}\nvalidation: {ignore: VALIDATION_001}\n"
        )
        outcome = run([path])
        assert outcome.config is not None and outcome.config.demo.rate == 0.1
        assert codes(outcome) == []
        assert REGISTRY["VALIDATION_001"].ignorable
