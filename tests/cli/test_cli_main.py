"""Tests of the root command: --version, -h, and help text without type artefacts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sharedconfig
from sharedconfig.cli.main import app, main

COMMANDS = sorted(c.name or "" for c in app.registered_commands)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version (and -V) print "sharedconfig <version>" and exit 0."""
    for flag in ("--version", "-V"):
        assert main([flag]) == 0
        assert capsys.readouterr().out == f"sharedconfig {sharedconfig.__version__}\n"


@pytest.mark.parametrize("argv", [["-h"], ["--help"], *([c, "-h"] for c in COMMANDS)])
def test_short_help_works_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """-h is --help for the root command and every subcommand."""
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("Usage: sharedconfig")


@pytest.mark.parametrize("command", COMMANDS)
def test_options_show_a_metavar_not_a_python_type(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """No option line shows <bool>, <str>, <int> or <list[...]>: flags show nothing, values a metavar."""
    assert main([command, "--help"]) == 0
    options = capsys.readouterr().out.split("Options:", 1)[1]
    artefacts = re.findall(r"<(?:bool|str|int|float|list\[[^\]]*\]|Path)>", options)
    assert artefacts == []


def test_serve_with_an_invalid_config_ends_with_the_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve prints every issue and then validate's summary line on stderr, exit 1, and serves nothing."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitoring:\n  sample_rate: 2\n  bogus: 1\n")
    assert main(["serve", str(bad), "--env-file", ""]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "invalid: 2 errors, 0 warnings"
    assert sum(" error VALIDATION_" in line for line in err) == 2
