"""The rule/test corpus (tests/monitoring/alerts/testdata) run through the real ``promtool test rules``.

Every ``*.test.yml`` at the top of the corpus passes under promtool (exit 0); every one under
``failing/`` fails (exit 1) and prints exactly the stderr recorded beside it in
``NAME.expected-stderr``. These files are the oracle for ``sharedconfig rules test --compat v2``: if a
promtool upgrade changes an answer, this test says which file and how. promtool runs in the file's
directory with the file's bare name, as the recorded stderr names rule files relative to it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import require_binary

CORPUS = Path(__file__).parent.parent / "monitoring" / "alerts" / "testdata"
PASSING = sorted(CORPUS.glob("*.test.yml"))
FAILING = sorted((CORPUS / "failing").glob("*.test.yml"))
TIMEOUT = 30.0
"""Real seconds one promtool run may take (each takes about 0.1 s)."""

pytestmark = pytest.mark.integration


def run_promtool(test_file: Path) -> subprocess.CompletedProcess[str]:
    """``promtool test rules NAME`` in the file's directory."""
    binary = require_binary("promtool")
    return subprocess.run(
        [binary, "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_corpus_is_large_enough() -> None:
    """The corpus keeps at least 40 passing rule/test pairs and a few expected failures, each test file
    with its own rule file and each failing one with its recorded stderr."""
    assert len(PASSING) >= 40
    assert len(FAILING) >= 3
    for test_file in [*PASSING, *FAILING]:
        rules = test_file.with_name(test_file.name.replace(".test.yml", ".rules.yml"))
        assert rules.is_file(), rules
    for test_file in FAILING:
        assert test_file.with_name(test_file.name.replace(".test.yml", ".expected-stderr")).is_file()


@pytest.mark.parametrize("test_file", PASSING, ids=[p.name for p in PASSING])
def test_promtool_passes(test_file: Path) -> None:
    """promtool runs the test file with exit 0: every expectation in it is what Prometheus computes."""
    done = run_promtool(test_file)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize("test_file", FAILING, ids=[p.name for p in FAILING])
def test_promtool_fails_as_recorded(test_file: Path) -> None:
    """promtool fails the test file with exit 1 and prints exactly the recorded stderr."""
    expected = test_file.with_name(test_file.name.replace(".test.yml", ".expected-stderr"))
    done = run_promtool(test_file)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == expected.read_text(encoding="utf-8")
