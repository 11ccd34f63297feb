"""Tests for configuration files: positions, formats, and every kind of bad input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharedconfig.config.sources.files import FileSource, ProfileSource, expand, profile_overlay, read_file
from sharedconfig.config.tree import ReadContext
from sharedconfig.errors import ConfigFileError


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def fails(path: Path, ctx: ReadContext | None = None) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        read_file(path, ctx)
    return info.value


class TestYamlPositions:
    def test_every_value_knows_its_line_and_column(self, tmp_path: Path) -> None:
        """Mapping entries record their key's 1-based position, list items their own."""
        path = write(tmp_path, "a.yaml", "monitoring:\n  sample_rate: 0.1\n  tags: [a, b]\n")
        layer = read_file(path)
        assert layer.data == {"monitoring": {"sample_rate": 0.1, "tags": ["a", "b"]}}
        assert layer.location(("monitoring", "sample_rate")).line == 2
        assert layer.location(("monitoring", "sample_rate")).column == 3
        assert layer.location(("monitoring", "tags", 1)).column == 13
        assert str(layer.location(("monitoring",))) == f"{path}:1:1"

    def test_scalars_are_typed_like_safe_load(self, tmp_path: Path) -> None:
        """ints, floats, booleans, null and strings come out as yaml.safe_load gives them."""
        import yaml

        text = "m: {i: 0x10, f: 1.5e3, g: 2.5, b: yes, n: ~, s: '7', big: 1_000, d: 2026-01-02}\n"
        assert read_file(write(tmp_path, "a.yaml", text)).data == yaml.safe_load(text)

    def test_merge_keys_and_aliases_are_expanded(self, tmp_path: Path) -> None:
        """YAML merge keys bring the anchored keys, and explicit keys win over merged ones."""
        text = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n"
        assert read_file(write(tmp_path, "a.yaml", text)).data["m"] == {"x": 1, "y": 3}

    def test_interpolation_marks_values(self, tmp_path: Path) -> None:
        """Interpolated values are substituted and flagged; secret-sourced ones are flagged secret."""
        ctx = ReadContext({"A": "1", "S": "hidden"}, frozenset({"S"}))
        layer = read_file(write(tmp_path, "a.yaml", "m: {a: '${A}', s: 'x${S}'}\n"), ctx)
        assert layer.data == {"m": {"a": "1", "s": "xhidden"}}
        assert ("m", "a") in layer.interpolated
        assert ("m", "s") in layer.secret

    def test_missing_variables_are_issues_with_line(self, tmp_path: Path) -> None:
        """A missing variable is an issue at that value's path and line, naming the variable."""
        layer = read_file(write(tmp_path, "a.yaml", "m:\n  key: ${NOT_SET_ANYWHERE}\n"), ReadContext({}))
        (issue,) = layer.issues
        assert issue.code == "CONFIG_015"
        assert issue.path == "m.key"
        assert issue.location is not None and issue.location.line == 2
        assert "NOT_SET_ANYWHERE" in issue.message


class TestBadYaml:
    def test_syntax_error(self, tmp_path: Path) -> None:
        """A syntax error names CONFIG_007, the line and the key path it sits under."""
        err = fails(write(tmp_path, "a.yaml", "m:\n  a: 1\n  b:\n    c: [1, 2\n  d: 3\n"))
        assert err.code == "CONFIG_007"
        assert err.line == 5
        assert err.path == "m.d"
        assert err.file == str(tmp_path / "a.yaml")

    def test_tab_indentation(self, tmp_path: Path) -> None:
        """A tab used for indentation gets its own code and the line of the tab."""
        err = fails(write(tmp_path, "a.yaml", "m:\n  n:\n\ta: 1\n"))
        assert err.code == "CONFIG_008"
        assert err.line == 3
        assert err.path == "m.n.a"
        assert "spaces" in err.hint

    def test_duplicate_keys_report_both_lines(self, tmp_path: Path) -> None:
        """PyYAML keeps the last duplicate silently; we report the key path and both lines."""
        err = fails(write(tmp_path, "a.yaml", "m:\n  a: 1\n  b: 2\n  a: 3\n"))
        assert err.code == "CONFIG_009"
        assert err.path == "m.a"
        assert err.line == 4
        assert "line 2" in err.message and "line 4" in err.message

    def test_unsafe_python_tag_is_refused_without_executing(self, tmp_path: Path) -> None:
        """A python/object tag is refused before anything is constructed."""
        marker = tmp_path / "executed"
        text = f"m:\n  x: !!python/object/apply:os.system ['touch {marker}']\n"
        err = fails(write(tmp_path, "a.yaml", text))
        assert err.code == "CONFIG_010"
        assert err.path == "m.x"
        assert err.line == 2
        assert not marker.exists()

    @pytest.mark.parametrize("text", ["m: !!set {a, b}\n", "m: !custom 1\n", "m: !!binary aGk=\n"])
    def test_other_non_plain_tags_are_refused(self, tmp_path: Path, text: str) -> None:
        """Only plain YAML types are read: sets, custom and binary tags are refused."""
        assert fails(write(tmp_path, "a.yaml", text)).code == "CONFIG_010"

    def test_alias_bomb_is_refused_fast(self, tmp_path: Path) -> None:
        """A billion-laughs document is refused after a bounded number of expansions."""
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for i, name in enumerate("bcdefghi"):
            prev = "abcdefghi"[i]
            lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        started = time.process_time()
        err = fails(write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))
        assert err.code == "CONFIG_011"
        assert err.line is not None
        assert time.process_time() - started < 5  # generous: refused long before 10^9 values

    def test_file_over_size_limit(self, tmp_path: Path) -> None:
        """Files over the size limit are refused before they are read."""
        err = fails(write(tmp_path, "a.yaml", "m: " + "x" * 200 + "\n"), ReadContext(max_file_size=100))
        assert err.code == "CONFIG_005"
        assert "100" in err.message

    def test_read_permission_denied(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An OS refusal to open the file gives CONFIG_004 with the OS reason (works as root too)."""
        path = write(tmp_path, "a.yaml", "m: 1\n")

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("builtins.open", refuse)
        err = fails(path)
        assert err.code == "CONFIG_004"
        assert "Permission denied" in err.message

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A file without read permission gives CONFIG_004."""
        path = write(tmp_path, "a.yaml", "m: 1\n")
        path.chmod(0)
        assert fails(path).code == "CONFIG_004"

    def test_directory_instead_of_file(self, tmp_path: Path) -> None:
        """A directory where a file is expected is unreadable (CONFIG_004), not a crash."""
        (tmp_path / "d.yaml").mkdir()
        assert fails(tmp_path / "d.yaml").code == "CONFIG_004"

    @pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
    def test_empty_file(self, tmp_path: Path, text: str) -> None:
        """Empty files (or only comments) give CONFIG_012 at line 1."""
        err = fails(write(tmp_path, "a.yaml", text))
        assert err.code == "CONFIG_012"
        assert err.line == 1

    def test_non_utf8_bytes(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 give CONFIG_006 with their line and column."""
        err = fails(write(tmp_path, "a.yaml", b"m:\n  name: caf\xe9\n"))
        assert err.code == "CONFIG_006"
        assert (err.line, err.column) == (2, 12)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file asked for by name that does not exist gives CONFIG_003."""
        err = fails(tmp_path / "nope.yaml")
        assert err.code == "CONFIG_003"
        assert err.file == str(tmp_path / "nope.yaml")

    def test_top_level_must_be_a_mapping(self, tmp_path: Path) -> None:
        """A list at the top level gives CONFIG_013."""
        assert fails(write(tmp_path, "a.yaml", "- a\n- b\n")).code == "CONFIG_013"

    def test_unknown_extension(self, tmp_path: Path) -> None:
        """A file whose format cannot be told from its name gives CONFIG_014."""
        assert fails(write(tmp_path, "a.ini", "[x]\n")).code == "CONFIG_014"

    def test_complex_key(self, tmp_path: Path) -> None:
        """A mapping used as a key is a syntax error with the key's position."""
        err = fails(write(tmp_path, "a.yaml", "? [a, b]\n: 1\n"))
        assert err.code == "CONFIG_007"
        assert err.line == 1

    def test_multiple_documents(self, tmp_path: Path) -> None:
        """A stream of several documents is refused: one file, one document."""
        assert fails(write(tmp_path, "a.yaml", "a: 1\n---\nb: 2\n")).code == "CONFIG_007"

    def test_bad_scalar_for_explicit_tag(self, tmp_path: Path) -> None:
        """An explicit !!int on text that is not an int is an error at its position."""
        err = fails(write(tmp_path, "a.yaml", "m:\n  a: !!int abc\n"))
        assert err.code == "CONFIG_007"
        assert err.path == "m.a"


class TestJsonToml:
    def test_json_reads_with_interpolation(self, tmp_path: Path) -> None:
        """JSON files are read, interpolated, and located by file name."""
        path = write(tmp_path, "a.json", '{"m": {"a": "${A}", "b": [1, 2]}}')
        layer = read_file(path, ReadContext({"A": "x"}))
        assert layer.data == {"m": {"a": "x", "b": [1, 2]}}
        assert str(layer.location(("m", "b", 1))) == str(path)

    def test_json_duplicate_key(self, tmp_path: Path) -> None:
        """Duplicate JSON keys are refused (CONFIG_009)."""
        err = fails(write(tmp_path, "a.json", '{"m": {"a": 1, "a": 2}}'))
        assert err.code == "CONFIG_009"
        assert err.path == "a"

    def test_json_syntax_error_has_line(self, tmp_path: Path) -> None:
        """JSON syntax errors carry line and column."""
        err = fails(write(tmp_path, "a.json", '{\n "m": ,\n}'))
        assert (err.code, err.line) == ("CONFIG_007", 2)

    def test_toml(self, tmp_path: Path) -> None:
        """TOML files are read; duplicate keys and syntax errors are refused with a line."""
        assert read_file(write(tmp_path, "a.toml", "[m]\na = 1\n")).data == {"m": {"a": 1}}
        err = fails(write(tmp_path, "b.toml", "[m]\na = 1\na = 2\n"))
        assert err.code == "CONFIG_009"
        assert err.line == 3
        assert fails(write(tmp_path, "c.toml", "[m\n")).code == "CONFIG_007"

    def test_empty_json(self, tmp_path: Path) -> None:
        """An empty JSON file gives CONFIG_012."""
        assert fails(write(tmp_path, "a.json", "  \n")).code == "CONFIG_012"

    def test_json_top_level_list(self, tmp_path: Path) -> None:
        """A JSON array at the top level gives CONFIG_013."""
        assert fails(write(tmp_path, "a.json", "[1]")).code == "CONFIG_013"


class TestSourcesAndGlobs:
    def test_globs_expand_sorted(self, tmp_path: Path) -> None:
        """Globs expand to sorted matches; plain names are kept as given."""
        for name in ("b.yaml", "a.yaml"):
            write(tmp_path, name, "m: 1\n")
        assert expand([str(tmp_path / "*.yaml"), "x.yaml"]) == [
            str(tmp_path / "a.yaml"),
            str(tmp_path / "b.yaml"),
            "x.yaml",
        ]

    def test_profile_overlay_name(self) -> None:
        """app.yaml under profile production overlays app.production.yaml."""
        assert profile_overlay("conf/app.yaml", "production") == str(Path("conf/app.production.yaml"))

    def test_file_source_turns_errors_into_issues(self, tmp_path: Path) -> None:
        """A source never raises for a bad file: the layer carries the issue."""
        (layer,) = FileSource((str(tmp_path / "missing.yaml"),)).read(ReadContext())
        assert [i.code for i in layer.issues] == ["CONFIG_003"]

    def test_profile_source_reads_existing_overlays_only(self, tmp_path: Path) -> None:
        """Present overlays are read; a profile with no overlay anywhere reads no data (only a warning,
        see test_silent_source_mistakes.py)."""
        base = write(tmp_path, "app.yaml", "m: {a: 1}\n")
        write(tmp_path, "app.prod.yaml", "m: {a: 2}\n")
        assert ProfileSource((str(base),), None).read(ReadContext()) == []
        (layer,) = ProfileSource((str(base),), "prod").read(ReadContext())
        assert layer.data == {"m": {"a": 2}}
        (empty,) = ProfileSource((str(base),), "staging").read(ReadContext())
        assert empty.data == {} and [i.code for i in empty.issues] == ["CONFIG_027"]


_keys = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)
_leaf = st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(alphabet="xyz ", min_size=1, max_size=5))


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        _keys, st.one_of(_leaf, st.dictionaries(_keys, _leaf, min_size=1, max_size=4)), min_size=1, max_size=6
    )
)
def test_positions_agree_with_safe_dump_layout(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, object]
) -> None:
    """For any nested mapping dumped as block YAML, each key's recorded line holds that key."""
    import yaml

    path = tmp_path_factory.mktemp("p") / "a.yaml"
    text = yaml.safe_dump(data, default_flow_style=False, sort_keys=False)
    path.write_text(text)
    layer = read_file(path)
    assert layer.data == yaml.safe_load(text)
    lines = text.splitlines()
    for key, value in data.items():
        loc = layer.location((key,))
        assert loc is not None and loc.line is not None
        if isinstance(value, dict):
            for sub in value:
                sub_loc = layer.location((key, sub))
                assert sub_loc is not None and sub_loc.line is not None
                assert lines[sub_loc.line - 1].lstrip().startswith(f"{sub}:") or value[sub] == ""


class TestGlobsAndOverlays:
    def test_glob_skips_profile_overlays_of_its_matches(self, tmp_path: Path) -> None:
        """`*.yaml` reads app.yaml but not app.prod.yaml: overlays are read only under their profile."""
        for name in ("app.yaml", "app.prod.yaml", "db.yaml"):
            write(tmp_path, name, "m: 1\n")
        assert expand([str(tmp_path / "*.yaml")]) == [str(tmp_path / "app.yaml"), str(tmp_path / "db.yaml")]

    def test_glob_matching_nothing_warns(self, tmp_path: Path) -> None:
        """A glob with no match is a CONFIG_003 warning, not silence and not an error."""
        layers = FileSource((str(tmp_path / "*.yaml"),)).read(ReadContext())
        (issue,) = [i for layer in layers for i in layer.issues]
        assert (issue.code, issue.severity) == ("CONFIG_003", "warning")
