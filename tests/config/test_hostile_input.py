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
        assert locations[:2] == ["$SHAREDCONFIG_MONITORING__TAGS", "$SHAREDCONFIG_MONITORING__X"]
        assert all(loc.startswith("--set ") for loc in locations[2:])


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


class TestNumbersAndNames:
    def test_a_json_integer_past_the_digit_limit_is_coded(self, tmp_path: Path) -> None:
        """A 5,000-digit JSON integer is CONFIG_007, and the message does not repeat the digits."""
        path = tmp_path / "big.json"
        path.write_text('{"monitoring": {"buffer_size": ' + "9" * 5000 + "}}")
        outcome = load([path])
        assert codes(outcome) == [("CONFIG_007", "", str(path))]
        message = outcome.report.errors[0].message  # type: ignore[attr-defined]
        assert "more than 4300 digits" in message and len(message) < 200

    def test_a_long_yaml_scalar_is_not_repeated_in_full(self, tmp_path: Path) -> None:
        """The YAML error for a 5,000-digit integer quotes an excerpt and its length."""
        path = tmp_path / "big.yaml"
        path.write_text("monitoring:\n  buffer_size: " + "9" * 5000 + "\n")
        outcome = load([path])
        assert codes(outcome) == [("CONFIG_007", "monitoring.buffer_size", f"{path}:2:16")]
        message = outcome.report.errors[0].message  # type: ignore[attr-defined]
        assert "(5000 characters)" in message and len(message) < 300

    def test_a_missing_file_with_brackets_in_its_name_is_an_error(self, tmp_path: Path) -> None:
        """A missing 'app[1].yaml' is an error (file not found); a '*' glob matching nothing a warning."""
        outcome = load([tmp_path / "app[1].yaml", tmp_path / "conf.d" / "*.yaml"])
        assert codes(outcome) == [("CONFIG_003", "", str(tmp_path / "app[1].yaml"))]
        assert [i.code for i in outcome.report.warnings] == ["CONFIG_003"]  # type: ignore[attr-defined]

    def test_a_file_really_named_with_brackets_is_read(self, tmp_path: Path) -> None:
        """An existing file whose name looks like a glob is read as that file."""
        path = tmp_path / "app[1].yaml"
        path.write_text("monitoring: {sample_rate: 0.5}\n")
        outcome = load([path])
        assert outcome.config is not None  # type: ignore[attr-defined]
        assert outcome.config.module("monitoring").sample_rate == 0.5  # type: ignore[attr-defined]


class TestEnvFileAndSecrets:
    def test_a_non_utf8_env_file_is_coded_at_its_line_and_column(self, tmp_path: Path) -> None:
        """A .env with a byte that is not UTF-8 is CONFIG_006 at file:line:column, not a crash."""
        env_file = tmp_path / ".env"
        env_file.write_bytes(b"A=1\nSHAREDCONFIG_A__B=\xff\xfe\n")
        outcome = check([], environ={}, env_file=env_file)
        assert codes(outcome) == [("CONFIG_006", "", f"{env_file}:2:19")]

    def test_a_symlink_loop_in_the_secrets_directory_is_reported(self, tmp_path: Path) -> None:
        """A link loop is CONFIG_021 naming the entry; the other secrets are still read."""
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "loop1").symlink_to(secrets / "loop2")
        (secrets / "loop2").symlink_to(secrets / "loop1")
        (secrets / "TOKEN").write_text("t0k")
        outcome = check([], environ={}, env_file=None, secrets_dir=str(secrets))
        found = codes(outcome)
        assert [c for c, _, _ in found] == ["CONFIG_021", "CONFIG_021"]
        assert all("loop" in loc for _, _, loc in found)


class TestAliasBudget:
    def test_aliases_to_a_large_scalar_are_charged_by_their_text(self, tmp_path: Path) -> None:
        """2,000 aliases to a 100 KB string would be 200 MB of values: CONFIG_011 at the alias past 10 MiB."""
        path = tmp_path / "bomb.yaml"
        lines = ["monitoring:", "  tags:", "    a: &s " + "x" * 100_000]
        lines += [f"    k{i}: *s" for i in range(2000)]
        path.write_text("\n".join(lines) + "\n")
        found = codes(load([path]))
        assert [c for c, _, _ in found] == ["CONFIG_011"]
        assert found[0][1].startswith("monitoring.tags.k")

    def test_aliases_to_scalars_count_as_values(self, tmp_path: Path) -> None:
        """Each alias to a scalar counts against the value budget, as aliases to collections do."""
        path = tmp_path / "many.yaml"
        lines = ["monitoring:", "  tags:", "    a: &s v"] + [f"    k{i}: *s" for i in range(10_001)]
        path.write_text("\n".join(lines) + "\n")
        assert [c for c, _, _ in codes(load([path]))] == ["CONFIG_011"]

    def test_ordinary_aliases_still_work(self, tmp_path: Path) -> None:
        """A few aliases to scalars and mappings load as before."""
        path = tmp_path / "ok.yaml"
        path.write_text(
            "monitoring:\n  health: {check_interval: &i 30s}\n  resources: {check_interval: *i}\n"
        )
        outcome = load([path])
        assert outcome.config is not None  # type: ignore[attr-defined]
        settings = outcome.config.module("monitoring")  # type: ignore[attr-defined]
        assert settings.resources.check_interval == settings.health.check_interval


def test_a_scalar_that_fails_to_parse_under_a_secret_key_is_not_quoted(tmp_path: Path) -> None:
    """CONFIG_007 under a secret-looking key names the key and the length, never the value or its echo."""
    path = tmp_path / "sec.yaml"
    path.write_text("storage:\n  secret_key: !!int 12x-canary-ZQ9\n")
    outcome = load([path])
    messages = [i.message for i in outcome.report.errors]  # type: ignore[attr-defined]
    assert [i.path for i in outcome.report.errors] == ["storage.secret_key"]  # type: ignore[attr-defined]
    assert "ZQ9" not in messages[0] and "14 characters" in messages[0]


class TestFoundByFuzzing:
    """Classes the fuzz target (test_fuzz_inputs.py) found; each ended in a raw exception before."""

    def errors(self, tmp_path: Path, **options: object) -> list[tuple[str, str]]:
        """(code, message) of every error of loading a plain file with ``options``."""
        path = tmp_path / "app.yaml"
        path.write_text("monitoring: {}\n")
        return [(i.code, i.message) for i in load([path], **options).report.errors]  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            ("[&a [x, x], [*a, *a]]", "CONFIG_017"),  # aliases: refused before they can expand
            ("[&x [*x]]", "CONFIG_017"),  # a recursive alias
            ("[!!binary aGk=]", "CONFIG_010"),  # a tag a value has no use for
            ("[" + "9" * 5000 + "]", "CONFIG_017"),  # past Python's digit limit
        ],
    )
    def test_overrides_that_yaml_cannot_read_plainly_are_coded(
        self, tmp_path: Path, value: str, code: str
    ) -> None:
        """--set a flow value with an alias, an odd tag or a huge integer: coded, at the override's key."""
        ((found, message),) = self.errors(tmp_path, overrides=[f"monitoring.tags={value}"])
        assert found == code
        assert message.startswith("override monitoring.tags: ") and value not in message

    def test_an_env_json_value_with_a_huge_integer_is_coded(self, tmp_path: Path) -> None:
        """SHAREDCONFIG_X='[9999...]' past the digit limit is CONFIG_020 naming the variable."""
        path = tmp_path / "app.yaml"
        path.write_text("monitoring: {}\n")
        environ = {"SHAREDCONFIG_MONITORING__TAGS": "[" + "9" * 5000 + "]"}
        report = check([path], environ=environ, env_file=None).report
        assert [i.code for i in report.errors] == ["CONFIG_020"]
        assert "SHAREDCONFIG_MONITORING__TAGS" in report.errors[0].message
        assert "9999" not in report.errors[0].message

    def test_validation_ignore_that_is_not_a_list_of_codes_is_coded(self, tmp_path: Path) -> None:
        """validation.ignore: {a: b} is VALIDATION_002, not a crash while reading the rules."""
        path = tmp_path / "app.yaml"
        path.write_text("validation:\n  ignore: {a: b}\n")
        assert "VALIDATION_002" in [i.code for i in load([path]).report.errors]  # type: ignore[attr-defined]

    def test_a_digit_key_part_in_a_mapping_keeps_its_origin(self, tmp_path: Path) -> None:
        """SHAREDCONFIG_..._TAGS__1 lands under the string key "1" with its variable as origin."""
        path = tmp_path / "app.yaml"
        path.write_text("monitoring:\n  health:\n    checks:\n      - name: db\n")
        environ = {"SHAREDCONFIG_MONITORING__HEALTH__CHECKS__0__TAGS__1": "x"}
        config = check([path], environ=environ, env_file=None).config
        assert config is not None
        assert config.get("monitoring.health.checks.0.tags") == {"1": "x"}
        origin = config.provenance.origin(("monitoring", "health", "checks", 0, "tags", "1"))
        assert "SHAREDCONFIG_MONITORING__HEALTH__CHECKS__0__TAGS__1" in str(origin)
