"""Alerts and notifications: Alertmanager's fingerprints, label and time spellings, webhook v4 payload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sharedconfig.monitoring.alerts.model import (
    Alert,
    AlertStatus,
    InvalidAlert,
    Notification,
    fingerprint,
    format_labels,
    go_time,
    webhook_payload,
)
from sharedconfig.monitoring.alerts.promql.values import labels

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class TestFingerprint:
    def test_matches_prometheus_common_model(self) -> None:
        """The fingerprints are those prometheus/common's model tests give (FNV-1a 64 over sorted pairs)."""
        assert int(fingerprint(()), 16) == 14695981039346656037
        pairs = labels({"name": "garland, briggs", "fear": "love is not enough"})
        assert int(fingerprint(pairs), 16) == 5799056148416392346

    def test_written_as_sixteen_hex_digits(self) -> None:
        """An alert's fingerprint is ``%016x`` of its labels' hash, whatever order the labels came in."""
        a = Alert({"alertname": "Up", "job": "api"}, T0)
        b = Alert([("job", "api"), ("alertname", "Up")], T0)
        assert a.fingerprint == b.fingerprint
        assert len(a.fingerprint) == 16
        assert a.fingerprint != Alert({"alertname": "Up", "job": "web"}, T0).fingerprint

    def test_pairs_cannot_run_together(self) -> None:
        """The separator byte keeps {a="bc"} and {ab="c"} apart."""
        assert fingerprint((("a", "bc"),)) != fingerprint((("ab", "c"),))


class TestAlert:
    def test_labels_sorted_and_empty_values_dropped(self) -> None:
        """Labels are kept sorted and an empty value is an absent label."""
        alert = Alert({"z": "1", "a": "2", "empty": ""}, T0, annotations={"summary": "s"})
        assert alert.labels == (("a", "2"), ("z", "1"))
        assert alert.annotation("summary") == "s"
        assert alert.label("missing") == ""

    def test_status_follows_ends_at(self) -> None:
        """Firing while ends_at is None or ahead; resolved from ends_at on (Alertmanager's ResolvedAt)."""
        firing = Alert({"alertname": "A"}, T0)
        assert firing.status(T0 + timedelta(days=9)) is AlertStatus.FIRING
        planned = Alert({"alertname": "A"}, T0, ends_at=T0 + timedelta(minutes=5))
        assert planned.status(T0 + timedelta(minutes=4)) is AlertStatus.FIRING
        assert planned.status(T0 + timedelta(minutes=5)) is AlertStatus.RESOLVED
        assert planned.as_of(T0 + timedelta(minutes=4)).ends_at is None
        assert planned.as_of(T0 + timedelta(minutes=6)).ends_at == T0 + timedelta(minutes=5)

    def test_resolved_copy(self) -> None:
        """``resolved(at)`` ends a firing alert at ``at`` and keeps its identity."""
        alert = Alert({"alertname": "A"}, T0)
        done = alert.resolved(T0 + timedelta(seconds=10))
        assert done.ends_at == T0 + timedelta(seconds=10)
        assert done.fingerprint == alert.fingerprint

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"labels": {}, "starts_at": T0}, "at least one label"),
            ({"labels": {"a": "1"}, "starts_at": datetime(2026, 1, 1)}, "no time zone"),
            ({"labels": {"a": "1"}, "starts_at": T0, "ends_at": T0 - timedelta(1)}, "before it starts"),
            ({"labels": [("a", "1"), ("a", "2")], "starts_at": T0}, "given twice"),
        ],
    )
    def test_bad_alerts_are_refused(self, kwargs: dict[str, object], message: str) -> None:
        """Alerts without labels, with naive times, ending before they start or with a repeated label fail."""
        with pytest.raises(InvalidAlert, match=message) as info:
            Alert(**kwargs)  # type: ignore[arg-type]
        assert info.value.code == "VALIDATION_008"
        assert isinstance(info.value, ValueError)


class TestSpellings:
    def test_label_set_as_go_prints_it(self) -> None:
        """``format_labels`` is model.LabelSet.String(): pairs sorted by their text, Go-quoted values."""
        assert format_labels(()) == "{}"
        assert format_labels(labels({"b": "2", "a": "1"})) == '{a="1", b="2"}'
        # sorted as text: 'a1="' sorts before 'a="' because '1' < '='
        assert format_labels(labels({"a": "x", "a1": "y"})) == '{a1="y", a="x"}'
        assert format_labels((("a", 'q"\\\n\x01é'),)) == '{a="q\\"\\\\\\n\\x01é"}'

    def test_times_as_go_marshals_them(self) -> None:
        """RFC 3339 in UTC with the fraction's trailing zeros cut; None is Go's zero time."""
        assert go_time(None) == "0001-01-01T00:00:00Z"
        assert go_time(T0) == "2026-01-01T00:00:00Z"
        assert go_time(T0 + timedelta(microseconds=120000)) == "2026-01-01T00:00:00.12Z"
        plus_two = datetime(2026, 1, 1, 2, tzinfo=datetime.now(UTC).astimezone().tzinfo)
        assert go_time(plus_two).endswith("Z")


def _notification(*alerts: Alert) -> Notification:
    return Notification("team", '{}:{alertname="A"}', (("alertname", "A"),), alerts, "http://sc:8080")


class TestNotification:
    def test_status_and_common_labels(self) -> None:
        """Firing while any alert fires; common labels and annotations are the pairs all alerts share."""
        a = Alert({"alertname": "A", "job": "api", "i": "1"}, T0, {"summary": "x", "d": "1"})
        b = Alert({"alertname": "A", "job": "api", "i": "2"}, T0, {"summary": "x", "d": "2"}, ends_at=T0)
        n = _notification(a, b)
        assert n.status is AlertStatus.FIRING
        assert n.firing == (a,) and n.resolved == (b,)
        assert n.common_labels == (("alertname", "A"), ("job", "api"))
        assert n.common_annotations == (("summary", "x"),)
        assert _notification(b).status is AlertStatus.RESOLVED

    def test_truncate_counts_what_it_leaves_out(self) -> None:
        """``truncate(n)`` keeps the first n alerts and counts the rest; 0 keeps all."""
        alerts = [Alert({"alertname": "A", "i": str(i)}, T0) for i in range(5)]
        n = _notification(*alerts)
        assert n.truncate(0) is n
        cut = n.truncate(2)
        assert cut.alerts == tuple(alerts[:2])
        assert cut.truncated_alerts == 3

    def test_webhook_payload_version_4(self) -> None:
        """The payload has exactly the fields of Alertmanager's webhook message version 4."""
        a = Alert({"alertname": "A", "job": "api"}, T0, {"summary": "x"}, generator_url="http://p/g")
        b = Alert({"alertname": "A", "job": "db"}, T0, {"summary": "x"}, ends_at=T0 + timedelta(seconds=90))
        payload = webhook_payload(_notification(a, b).truncate(1))
        assert payload == {
            "version": "4",
            "groupKey": '{}:{alertname="A"}',
            "truncatedAlerts": 1,
            "status": "firing",
            "receiver": "team",
            "groupLabels": {"alertname": "A"},
            "commonLabels": {"alertname": "A", "job": "api"},
            "commonAnnotations": {"summary": "x"},
            "externalURL": "http://sc:8080",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "A", "job": "api"},
                    "annotations": {"summary": "x"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://p/g",
                    "fingerprint": a.fingerprint,
                }
            ],
        }
        resolved = webhook_payload(_notification(b))
        assert resolved["status"] == "resolved"
        assert resolved["alerts"][0]["endsAt"] == "2026-01-01T00:01:30Z"  # type: ignore[index]
