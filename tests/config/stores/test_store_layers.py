"""A snapshot as layers: documents and leaves, merged in name order, located at entry and revision."""

from __future__ import annotations

import json

from sharedconfig.config.loader import check
from sharedconfig.config.stores import Entry, Snapshot, changes, parse_store_url, snapshot_layers, stored_tree
from sharedconfig.config.stores.layers import MISSING, shown
from sharedconfig.config.tree import ReadContext, merge
from sharedconfig.redaction import REDACTED

URL = parse_store_url("etcd://127.0.0.1:2379/app")


class TestLayers:
    def test_documents_and_leaves_merge_in_name_order(self) -> None:
        """a.yaml, then b.json, then the leaf monitoring/sample_rate: the later name wins."""
        snap = Snapshot(
            9,
            {
                "monitoring/sample_rate": Entry("0.25", 9),
                "b.json": Entry('{"monitoring": {"sample_rate": 0.5, "enabled": false}}', 7),
                "a.yaml": Entry("monitoring:\n  sample_rate: 1.0\n  enabled: true\n", 3),
            },
        )
        tree = merge(snapshot_layers(URL, snap, ReadContext()))
        assert tree == {"monitoring": {"sample_rate": 0.25, "enabled": False}}

    def test_provenance_names_entry_line_and_revision(self) -> None:
        """show --explain's origin of a document value is URL/entry:line:col @ revision N."""
        snap = Snapshot(
            42,
            {
                "base.yaml": Entry("monitoring:\n  sample_rate: 0.5\n", 42),
                "monitoring/enabled": Entry("false", 40),
            },
        )
        config = check(sources=[_Fixed(snapshot_layers(URL, snap, ReadContext()))]).config_or_raise()
        origins = {path: str(origin) for path, _, origin in config.explain() if origin is not None}
        assert origins["monitoring.sample_rate"] == "etcd://127.0.0.1:2379/app/base.yaml:2:3 @ revision 42"
        assert origins["monitoring.enabled"] == "etcd://127.0.0.1:2379/app/monitoring/enabled @ revision 40"

    def test_placeholders_resolve_at_load_and_mark_secrets(self) -> None:
        """${VAR} in a stored document is resolved from the loading service's variables."""
        snap = Snapshot(1, {"base.yaml": Entry("monitoring:\n  server:\n    api_token: ${API_TOKEN}\n", 1)})
        layers = snapshot_layers(URL, snap, ReadContext(variables={"API_TOKEN": "t0k3n"}))
        assert layers[0].data["monitoring"]["server"]["api_token"] == "t0k3n"
        assert ("monitoring", "server", "api_token") in layers[0].secret

    def test_an_unreadable_entry_is_an_issue_located_in_the_store(self) -> None:
        """A YAML syntax error in a stored document is CONFIG_007 at URL/entry:line:col @ revision."""
        snap = Snapshot(5, {"bad.yaml": Entry("monitoring:\n  sample_rate: [1\n", 5)})
        layer = snapshot_layers(URL, snap, ReadContext())[0]
        (issue,) = layer.issues
        assert issue.code == "CONFIG_007"
        assert str(issue.location).startswith("etcd://127.0.0.1:2379/app/bad.yaml:")
        assert str(issue.location).endswith("@ revision 5")
        assert issue.location is not None and not issue.location.in_file

    def test_a_leaf_under_a_secret_key_that_cannot_be_read_is_not_quoted(self) -> None:
        """A broken leaf value under a secret-looking key is described, never repeated."""
        snap = Snapshot(1, {"db/password": Entry("[unclosed hunter2", 1)})
        (issue,) = snapshot_layers(URL, snap, ReadContext())[0].issues
        assert "hunter2" not in issue.message


class _Fixed:
    def __init__(self, layers: list) -> None:  # type: ignore[type-arg]
        self.layers = layers

    def read(self, ctx: ReadContext) -> list:  # type: ignore[type-arg]
        return self.layers


class TestStoredTree:
    def test_placeholders_are_kept_as_written(self) -> None:
        """stored_tree does not interpolate: ${VAR} stays text, defaults included."""
        tree, unreadable = stored_tree({"a.yaml": "x:\n  url: ${URL:-http://localhost}\n", "x/n": "3"})
        assert tree == {"x": {"url": "${URL:-http://localhost}", "n": 3}}
        assert unreadable == []

    def test_unreadable_entries_are_named(self) -> None:
        """An entry that is not YAML/JSON (or not a mapping) is listed, not raised."""
        _, unreadable = stored_tree({"a.json": "{", "b.yaml": "- a list"})
        assert unreadable == ["a.json", "b.yaml"]


class TestChanges:
    def test_rows_per_key_path_with_secrets_redacted(self) -> None:
        """Added, removed and changed leaves; a literal secret is redacted, a bare placeholder shown."""
        old = {"m": {"rate": 0.5, "gone": 1, "password": "hunter2", "token": "${TOKEN}"}}
        new = {"m": {"rate": 0.7, "new": "redis://u:pw@h:6379", "password": "hunter3", "token": "${TOKEN2}"}}
        rows = changes(old, new)
        assert ("m.rate", 0.5, 0.7) in rows
        assert ("m.gone", 1, MISSING) in rows
        assert ("m.new", MISSING, "redis://u:**********@h:6379") in rows
        assert ("m.password", REDACTED, REDACTED) in rows
        assert ("m.token", "${TOKEN}", "${TOKEN2}") in rows
        assert "hunter" not in repr(rows)

    def test_a_placeholder_with_a_default_under_a_secret_key_is_redacted(self) -> None:
        """${VAR:-default} may carry the secret in its default: not shown."""
        assert changes({}, {"db": {"password": "${PW:-hunter2}"}}) == [("db.password", MISSING, REDACTED)]

    def test_a_field_the_schema_types_as_secret_is_redacted_whatever_its_key(self) -> None:
        """layers.py ``shown``: a webhook's ``url`` and ``headers`` are secrets by schema, not by name, as
        ``show`` hides them; a plain field beside them is shown."""
        hook = {"type": "webhook", "name": "hook", "url": "https://h.example/T0KEN", "headers": {"X": "v1"}}
        old = {"monitoring": {"events": {"exporters": [hook]}}}
        hook2 = {**hook, "name": "hook2", "headers": {"X": "v2"}}
        new = {"monitoring": {"events": {"exporters": [hook2]}}}
        ((path, before, after),) = changes(old, new)  # a list is one leaf
        assert path == "monitoring.events.exporters"
        assert [(h["name"], h["url"], h["headers"]) for h in (*before, *after)] == [
            ("hook", REDACTED, REDACTED),
            ("hook2", REDACTED, REDACTED),
        ]
        (tree, _) = stored_tree({"app.json": json.dumps(new)})
        assert "T0KEN" not in repr(shown((), tree)) and "v2" not in repr(shown((), tree))


LAUGHS = "".join(
    [
        "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)),
        "monitoring: {tags: *i}\n",
    ]
)
"""A billion laughs: nine levels of ten aliases, a few hundred bytes standing for 10**9 values."""


class TestHostileEntries:
    def test_a_billion_laughs_is_unreadable_as_written_and_an_issue_at_load(self) -> None:
        """layers.py ``_bounded``: what push, pull and watch parse refuses to expand it (instead of
        hanging); a load reports the files' alias limit, located at the entry."""
        tree, unreadable = stored_tree({"bad.yaml": LAUGHS, "monitoring/tags": LAUGHS})
        assert unreadable == ["bad.yaml", "monitoring/tags"] and tree == {}
        layers = snapshot_layers(URL, Snapshot(3, {"bad.yaml": Entry(LAUGHS, 3)}), ReadContext())
        [issue] = [i for layer in layers for i in layer.issues]
        assert issue.location is not None and "bad.yaml" in str(issue.location)

    def test_an_entry_over_the_size_limit_is_config_005_at_load(self) -> None:
        """An entry larger than ``max_file_size`` is not parsed: CONFIG_005 located at it, revision too."""
        big = "monitoring:\n  tags: {x: '" + "y" * 2000 + "'}\n"
        snap = Snapshot(5, {"big.yaml": Entry(big, 5)})
        [layer] = snapshot_layers(URL, snap, ReadContext(max_file_size=1000))
        [issue] = layer.issues
        assert issue.code == "CONFIG_005" and layer.data == {}
        assert str(issue.location) == "etcd://127.0.0.1:2379/app/big.yaml @ revision 5"
