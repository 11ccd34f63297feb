"""Tests for layers, merging with provenance, and ${VAR} interpolation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharedconfig.config.tree import (
    InterpolationProblem,
    Layer,
    Provenance,
    interpolate,
    looks_secret,
    merge,
    set_path,
)


def layer(source: str, data: dict[str, object], spots: dict[tuple[str | int, ...], object]) -> Layer:
    out = Layer(source, source)
    out.data = data  # type: ignore[assignment]
    out.spots = spots  # type: ignore[assignment]
    return out


class TestMerge:
    def test_mappings_merge_and_scalars_replace(self) -> None:
        """Higher layers win key by key; mappings merge deeply."""
        low = layer("file", {"m": {"a": 1, "b": {"c": 2, "d": 3}}}, {})
        high = layer("env", {"m": {"b": {"c": 9}}}, {})
        assert merge([low, high]) == {"m": {"a": 1, "b": {"c": 9, "d": 3}}}

    def test_lists_are_replaced_whole(self) -> None:
        """A list in a higher layer replaces the lower list."""
        low = layer("file", {"m": {"x": [1, 2, 3]}}, {})
        high = layer("file", {"m": {"x": [7]}}, {})
        assert merge([low, high]) == {"m": {"x": [7]}}

    def test_index_paths_reach_into_lists(self) -> None:
        """An env-style index path updates one list item and may append the next one."""
        low = layer("file", {"m": {"x": [{"k": 1, "j": 0}, {"k": 2}]}}, {})
        high = Layer("env", "environment")
        set_path(high.data, ("m", "x", 1, "k"), 5)
        set_path(high.data, ("m", "x", 2, "k"), 6)
        assert merge([low, high]) == {"m": {"x": [{"k": 1, "j": 0}, {"k": 5}, {"k": 6}]}}
        assert not high.issues

    def test_index_out_of_range_is_an_issue(self) -> None:
        """An index beyond the end of the list is reported, not silently dropped."""
        low = layer("file", {"m": {"x": [1]}}, {})
        high = Layer("env", "environment")
        set_path(high.data, ("m", "x", 5), 2)
        assert merge([low, high]) == {"m": {"x": [1]}}
        assert [i.code for i in high.issues] == ["CONFIG_024"]

    def test_index_paths_without_a_list_build_one(self) -> None:
        """Contiguous indexes with nothing below become a list; others become string keys."""
        high = Layer("env", "environment")
        set_path(high.data, ("m", "x", 0), "a")
        set_path(high.data, ("m", "x", 1), "b")
        set_path(high.data, ("m", "y", 3), "c")
        assert merge([high]) == {"m": {"x": ["a", "b"], "y": {"3": "c"}}}

    def test_mapping_over_scalar_is_reported(self) -> None:
        """Setting keys below a scalar replaces it and says so."""
        low = layer("file", {"m": {"a": 1}}, {})
        high = Layer("env", "environment")
        set_path(high.data, ("m", "a", "b"), 2)
        assert merge([low, high]) == {"m": {"a": {"b": 2}}}
        assert [i.code for i in high.issues] == ["CONFIG_024"]

    def test_merge_does_not_mutate_layers(self) -> None:
        """Layers can be merged again (reload) because merging copies."""
        low = layer("file", {"m": {"a": 1}}, {})
        high = layer("env", {"m": {"a": 2}}, {})
        merge([low, high])
        assert low.data == {"m": {"a": 1}}


class TestProvenance:
    def test_highest_layer_that_set_a_path_wins(self) -> None:
        """origin() names the highest layer with the exact path; None means default."""
        low = layer("file", {}, {("m", "a"): (3, 5), ("m",): (2, 1)})
        low.name = "app.yaml"
        high = layer("env", {}, {("m", "b"): "APP_M__B"})
        prov = Provenance([low, high])
        assert str(prov.origin(("m", "a"))) == "app.yaml:3:5"
        assert str(prov.origin(("m", "b"))) == "$APP_M__B"
        assert prov.origin(("m", "c")) is None
        assert str(prov.locate(("m", "c", "d"))) == "app.yaml:2:1"

    def test_secret_flag_follows_the_winning_layer(self) -> None:
        """A value is secret when the layer that set it marked it so."""
        low = layer("secret", {}, {("m", "k"): "/run/secrets/m__k"})
        low.secret.add(("m", "k"))
        assert Provenance([low]).is_secret(("m", "k"))
        high = layer("env", {}, {("m", "k"): "X"})
        assert not Provenance([low, high]).is_secret(("m", "k"))


class TestReplacedValues:
    def test_a_list_replaced_whole_takes_the_lower_origins_below_it(self) -> None:
        """A higher layer's list replaces the lower one: the lower item's keys have no origin any more,
        and an issue there is located at the list that replaced it."""
        low = layer("file", {"m": {"xs": [{"a": 1, "b": 2}]}}, {("m", "xs", 0, "b"): (4, 7)})
        high = Layer("env", "environment")
        high.put(("m", "xs"), [{"a": 5}], "APP_M__XS")
        prov = Provenance([low, high])
        assert prov.origin(("m", "xs", 0, "b")) is None
        assert str(prov.locate(("m", "xs", 0, "b"))) == "$APP_M__XS"

    def test_an_indexed_key_merges_into_the_lower_list(self) -> None:
        """``APP_M__XS__0__A`` reaches into the list: the item's other keys keep their lower origins."""
        low = layer(
            "file", {"m": {"xs": [{"a": 1, "b": 2}]}}, {("m", "xs", 0, "b"): (4, 7), ("m", "xs"): (2, 3)}
        )
        low.name = "app.yaml"
        high = Layer("env", "environment")
        high.put(("m", "xs", 0, "a"), "5", "APP_M__XS__0__A")
        prov = Provenance([low, high])
        assert str(prov.origin(("m", "xs", 0, "b"))) == "app.yaml:4:7"
        assert str(prov.origin(("m", "xs", 0, "a"))) == "$APP_M__XS__0__A"
        assert str(prov.origin(("m", "xs"))) == "app.yaml:2:3"

    def test_keys_below_a_lower_scalar_make_the_higher_layer_its_origin(self) -> None:
        """A mapping set over a lower scalar replaces it: the scalar's path is located at the higher key."""
        low = layer("file", {"m": {"s": "text"}}, {("m", "s"): (2, 3)})
        high = Layer("env", "environment")
        high.put(("m", "s", "x"), "1", "APP_M__S__X")
        assert str(Provenance([low, high]).origin(("m", "s"))) == "$APP_M__S__X"

    def test_put_forgets_what_it_replaces(self) -> None:
        """Setting a key below a value this layer set, or setting it again, drops the old origins."""
        one = Layer("override", "--set")
        one.put(("m", "xs"), [1, 2], "--set m.xs")
        one.put(("m", "xs", "k"), "v", "--set m.xs.k")
        assert set(one.spots) == {("m", "xs", "k")}
        one.put(("m", "xs"), "w", "--set m.xs=w")
        assert one.spots == {("m", "xs"): "--set m.xs=w"}


class TestInterpolation:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("${A}", "1"),
            ("x-${A}-${B}", "x-1-two"),
            ("${MISSING:-fallback}", "fallback"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${A:-fallback}", "1"),
            ("$${A}", "${A}"),
            ("cost: $5", "cost: $5"),
            ("$A", "$A"),
            ("${MISSING:-}", ""),
        ],
    )
    def test_forms(self, text: str, expected: str) -> None:
        """Every documented form gives the documented result."""
        assert interpolate(text, {"A": "1", "B": "two", "EMPTY": ""})[0] == expected

    def test_used_names_are_returned(self) -> None:
        """The variables that supplied values are returned (for secret tracking)."""
        assert interpolate("${A}${B:-x}", {"A": "1"})[1] == {"A"}

    def test_missing_variables_are_all_named(self) -> None:
        """All missing names come in one problem, with :? messages."""
        with pytest.raises(InterpolationProblem) as info:
            interpolate("${X}/${Y:?set Y to the region}", {})
        assert info.value.code == "CONFIG_015"
        assert "X, Y" in info.value.message
        assert "set Y to the region" in info.value.message

    def test_required_refuses_an_empty_value_as_the_shell_does(self) -> None:
        """${VAR:?msg} fails when VAR is set but empty, naming it and the message; plain ${VAR} does not."""
        with pytest.raises(InterpolationProblem) as info:
            interpolate("${X:?set X to the region}/${Y}", {"X": "", "Y": ""})
        assert info.value.code == "CONFIG_015"
        assert info.value.message == "environment variable X is empty (X: set X to the region)"
        with pytest.raises(InterpolationProblem) as both:
            interpolate("${A:?}${B:?}${C}", {"A": "", "B": ""})
        assert both.value.message == "environment variables C not set; A, B are empty"
        assert interpolate("${Y}", {"Y": ""})[0] == ""

    @pytest.mark.parametrize("text", ["${", "${1BAD}", "${A B}", "x${A"])
    def test_malformed(self, text: str) -> None:
        """Malformed references are CONFIG_016."""
        with pytest.raises(InterpolationProblem) as info:
            interpolate(text, {"A": "1"})
        assert info.value.code == "CONFIG_016"

    @given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=40))
    def test_text_without_dollar_is_unchanged(self, text: str) -> None:
        """Property: text with no '$' passes through unchanged."""
        assert interpolate(text, {}) == (text, set())

    @given(st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), st.text(alphabet="abc/:.-", max_size=20))
    def test_substitution_property(self, name: str, value: str) -> None:
        """Property: ${NAME} becomes the value and $${NAME} stays literal."""
        assert interpolate(f"<${{{name}}}>", {name: value})[0] == f"<{value}>"
        assert interpolate(f"$${{{name}}}", {})[0] == f"${{{name}}}"


def test_looks_secret() -> None:
    """Secret-looking key names are recognised, ordinary ones are not."""
    assert all(looks_secret(k) for k in ("password", "API_KEY", "webhook_url", "auth_token", "apikey"))
    assert not any(looks_secret(k) for k in ("endpoint", "channel", "sample_rate"))


def test_nested_default_is_refused() -> None:
    """${A:-${B}} is not supported and says so instead of keeping the text."""
    with pytest.raises(InterpolationProblem) as info:
        interpolate("${A:-${B}}", {})
    assert info.value.code == "CONFIG_016"


def test_locate_never_falls_back_to_the_root() -> None:
    """A path with no located ancestor has no location (not the first file's 1:1)."""
    low = layer("file", {}, {(): (1, 1), ("m",): (2, 1)})
    assert Provenance([low]).locate(("x", "y")) is None
    assert Provenance([low]).locate(("m", "y")) is not None


def test_names_of_a_secrets_place_are_not_secret() -> None:
    """token_header or password_file name where a secret goes; their values are shown."""
    assert not looks_secret("token_header")
    assert not looks_secret("password_file")
