"""Tests that pydantic's errors become issues on the keys people wrote, with our codes and hints."""

from __future__ import annotations

from pathlib import Path

from sharedconfig.config import check


def issues(tmp_path: Path, text: str) -> list[tuple[str, str, int | None, str]]:
    path = tmp_path / "a.yaml"
    path.write_text(text)
    report = check([path], environ={}, env_file=None).report
    return [(i.code, i.path, i.location.line if i.location else None, i.hint) for i in report.errors]


def test_unknown_exporter_type_suggests_the_closest(tmp_path: Path) -> None:
    """A misspelt discriminator is VALIDATION_006 at `type`, with the allowed values and a suggestion."""
    found = issues(
        tmp_path,
        "monitoring:\n  metrics:\n    exporters:\n      - type: prometheus\n"
        "        endpoint: http://p:9090\n      - type: datadgo\n",
    )
    assert found == [("VALIDATION_006", "monitoring.metrics.exporters.1.type", 6, "did you mean 'datadog'?")]


def test_missing_discriminator(tmp_path: Path) -> None:
    """A list item without `type` is a missing key at `type`, located at the item."""
    found = issues(tmp_path, "monitoring:\n  metrics:\n    exporters:\n      - endpoint: http://p:9090\n")
    assert [(c, p, line) for c, p, line, _ in found] == [
        ("VALIDATION_005", "monitoring.metrics.exporters.0.type", 4)
    ]


def test_unknown_key_inside_a_union_member_suggests_from_that_member(tmp_path: Path) -> None:
    """Did-you-mean looks at the fields of the exporter type actually written."""
    found = issues(
        tmp_path, "monitoring:\n  metrics:\n    exporters:\n      - type: datadog\n        api_kye: x\n"
    )
    assert ("VALIDATION_001", "monitoring.metrics.exporters.0.api_kye", 5, "did you mean 'api_key'?") in found


def test_missing_required_key_in_a_member(tmp_path: Path) -> None:
    """A required key missing from an item is VALIDATION_005 at that key, located at the item."""
    found = issues(
        tmp_path, "monitoring:\n  events:\n    exporters:\n      - type: kafka\n        topic: t\n"
    )
    assert [(c, p, line) for c, p, line, _ in found] == [
        ("VALIDATION_005", "monitoring.events.exporters.0.brokers", 4)
    ]


def test_invalid_duration_and_byte_size_have_their_own_codes(tmp_path: Path) -> None:
    """Durations and byte sizes report VALIDATION_004 / VALIDATION_007 with the key's line."""
    found = issues(
        tmp_path,
        "monitoring:\n  flush_interval: 30 seconds\n  resources:\n    limits:\n"
        "      max_memory_usage: 2 gigs\n",
    )
    assert [(c, p, line) for c, p, line, _ in found] == [
        ("VALIDATION_004", "monitoring.flush_interval", 2),
        ("VALIDATION_007", "monitoring.resources.limits.max_memory_usage", 5),
    ]


def test_wrong_value_of_a_secret_key_is_not_echoed(tmp_path: Path) -> None:
    """A wrong-typed value under a secret-looking key is not quoted back in the message."""
    path = tmp_path / "a.yaml"
    path.write_text("security:\n  auth:\n    token: [canary-list]\n")
    report = check([path], environ={}, env_file=None).report
    assert report.errors
    assert all("canary" not in str(i) for i in report)


def test_a_wrong_value_for_a_map_of_secrets_is_never_quoted(tmp_path: Path) -> None:
    """headers: 'x' (a string where a map of secret header values belongs) is VALIDATION_002, unquoted."""
    from sharedconfig import check

    path = tmp_path / "app.yaml"
    path.write_text("http:\n  profiles:\n    api: {headers: hdr-canary-W3}\n")
    outcome = check([path], environ={}, env_file=None)
    [issue] = outcome.report.errors
    assert (issue.code, issue.path) == ("VALIDATION_002", "http.profiles.api.headers")
    assert "canary" not in issue.message
