"""Hostile input gets a coded, located issue: recursion, depth, NUL bytes and files that are not files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sharedconfig import check


def codes(outcome: object) -> list[tuple[str, str, str]]:
    """(code, path, location) of every error of an outcome."""
    report = outcome.report  # type: ignore[attr-defined]
    return [(i.code, i.path, str(i.location)) for i in report.errors]


def load(files: list[Path], **options: object) -> object:
    return check(files, environ={}, env_file=None, **options)  # type: ignore[arg-type]


class TestRecursionAndDepth:
    def test_a_recursive_yaml_anchor_is_an_error_at_the_alias(self, tmp_path: Path) -> None:
        """a: &x {b: *x} is CONFIG_026 at the anchored node, under the key that recurses (no crash)."""
        path = tmp_path / "rec.yaml"
        path.write_text("a: &x {b: *x}\n")
        assert codes(load([path])) == [("CONFIG_026", "a.b", f"{path}:1:4")]

    @pytest.mark.parametrize(
        ("name", "text"),
        [
            ("deep.json", "[" * 5000 + "]" * 5000),
            ("mid.json", '{"a": ' + "[" * 150 + "]" * 150 + "}"),
            ("mid.yaml", "a: " + "[" * 150 + "]" * 150 + "\n"),
            ("mid.toml", "a = " + "[" * 150 + "]" * 150 + "\n"),
        ],
    )
    def test_nesting_beyond_the_limit_is_an_error(self, tmp_path: Path, name: str, text: str) -> None:
        """Deeper than max_depth (or than the parser can recurse) is CONFIG_026 naming the file."""
        path = tmp_path / name
        path.write_text(text)
        found = codes(load([path]))
        assert [c for c, _, _ in found] == ["CONFIG_026"]
        assert found[0][2].startswith(str(path))

    def test_deep_values_from_env_and_overrides_are_errors_naming_their_origin(self, tmp_path: Path) -> None:
        """A deep JSON variable and a deep --set path or value are CONFIG_026 at the variable / override."""
        deep = "[" * 3000 + "]" * 3000
        long_key = ".".join(["a"] * 3000)
        outcome = check(
            [],
            environ={
                "SHAREDCONFIG_MONITORING__TAGS": deep,
                "SHAREDCONFIG_MONITORING__X": "[" * 200 + "]" * 200,
            },
            env_file=None,
            overrides=[f"{long_key}=1", "monitoring.y=" + "[" * 150 + "]" * 150],
        )
        found = codes(outcome)
        assert [c for c, _, _ in found] == ["CONFIG_026"] * 4
        locations = sorted(loc for _, _, loc in found)
        assert locations[:2] == ["env SHAREDCONFIG_MONITORING__TAGS", "env SHAREDCONFIG_MONITORING__X"]
        assert all(loc.startswith("override --set ") for loc in locations[2:])


class TestBytesAndFiles:
    def test_a_nul_byte_has_line_and_column(self, tmp_path: Path) -> None:
        """A NUL in YAML is CONFIG_007 at its line and column, under the key it sits in."""
        path = tmp_path / "nul.yaml"
        path.write_bytes(b"monitoring:\n  sample_rate: 0.5\x00\n")
        outcome = load([path])
        assert codes(outcome) == [("CONFIG_007", "monitoring.sample_rate", f"{path}:2:19")]
        assert "U+0000" in outcome.report.errors[0].message  # type: ignore[attr-defined]

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
    def test_a_fifo_is_refused_at_once_instead_of_blocking(self, tmp_path: Path) -> None:
        """A FIFO named or globbed as config is CONFIG_004 (opening it would wait for a writer forever)."""
        fifo = tmp_path / "pipe.yaml"
        os.mkfifo(fifo)
        assert codes(load([fifo])) == [("CONFIG_004", "", str(fifo))]
        assert codes(load([tmp_path / "*.yaml"])) == [("CONFIG_004", "", str(fifo))]
