"""Tests of the root command: --version, -h, and help text without type artefacts."""

from __future__ import annotations

import re

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
