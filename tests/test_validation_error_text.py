"""What a ConfigValidationError prints, and the order of issues in reports: by file, line, column, path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from conftest import write_config as write
from sharedconfig.config import SettingsModule, check, load
from sharedconfig.config.issues import Issue, ValidationReport
from sharedconfig.errors import ConfigValidationError, Location


class Demo(BaseModel):
    """A small module schema; fields are declared in the opposite order to the file below."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "demo"
    rate: float = Field(0.5, ge=0, le=1)
    size: int = 1


OPTIONS: dict[str, Any] = {
    "modules": (SettingsModule("demo", Demo),),
    "discover": False,
    "env_file": None,
}


def test_str_lists_every_issue_once_with_location_and_hint(tmp_path: Path) -> None:
    """str() is a summary line then each issue (location, code, message) and its hint; none twice."""
    path = write(tmp_path, "a.yaml", "demo:\n  rate: 9\n  name: 5\n  bogus: 1\n")
    with pytest.raises(ConfigValidationError) as caught:
        load([path], environ={}, **OPTIONS)
    text = str(caught.value)
    lines = text.splitlines()
    assert lines[0] == "error CONFIG_002: configuration has 3 errors"
    assert lines[1].startswith(f"  {path}:2:") and "VALIDATION_003 demo.rate" in lines[1]
    assert lines[2].strip() == "hint: Give a value within the range shown."
    assert lines[3].startswith(f"  {path}:3:") and "demo.name" in lines[3]
    assert lines[5].startswith(f"  {path}:4:") and "VALIDATION_001 demo.bogus" in lines[5]
    assert lines[6].strip().startswith("hint: ")
    assert len(lines) == 7
    assert text.count("VALIDATION_003") == 1
    assert caught.value.line == 2  # located at the first error in line order


def test_report_is_ordered_by_file_and_line_then_other_origins(tmp_path: Path) -> None:
    """Issues come by file name and line (not by schema field order), then env ones, in both outputs."""
    b = write(tmp_path, "b.yaml", "demo:\n  rate: 9\n  name: 5\n")
    a = write(tmp_path, "a.yaml", "demo:\n  size: 1\n  bogus: 1\n")
    environ = {"SHAREDCONFIG_DEMO__SIZE": "many"}
    outcome = check([b, a], environ=environ, **OPTIONS)
    where = [str(i.location) for i in outcome.report.issues]
    assert [w.rsplit(":", 1)[0] for w in where] == [
        f"{a}:3",
        f"{b}:2",
        f"{b}:3",
        "$SHAREDCONFIG_DEMO__SIZE",
    ]
    with pytest.raises(ConfigValidationError) as caught:
        outcome.config_or_raise()
    assert caught.value.issues == outcome.report.issues
    assert caught.value.file == a and caught.value.line == 3


def test_validation_report_sorts_the_issues_it_is_given() -> None:
    """ValidationReport orders file issues by (file, line, column, path); env and unlocated ones after."""

    def issue(path: str, location: Location | None) -> Issue:
        return Issue(code="VALIDATION_002", path=path, message="m", location=location)

    given = (
        issue("x", None),
        issue("e", Location("env", "SHAREDCONFIG_B")),
        issue("d", Location("env", "SHAREDCONFIG_A")),
        issue("c", Location("file", "b.yaml", 1, 1)),
        issue("b2", Location("file", "a.yaml", 10, 3)),
        issue("b1", Location("file", "a.yaml", 10, 3)),
        issue("a", Location("file", "a.yaml", 2, 9)),
        issue("f", Location("file", "a.yaml")),
    )
    report = ValidationReport(given)
    assert [i.path for i in report] == ["f", "a", "b1", "b2", "c", "d", "e", "x"]
