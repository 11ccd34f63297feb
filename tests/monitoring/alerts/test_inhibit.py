"""Inhibition: a firing source alert mutes targets with equal labels, never itself, as in Alertmanager."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sharedconfig.monitoring.alerts.inhibit import Inhibitor, InhibitRule
from sharedconfig.monitoring.alerts.model import Alert
from sharedconfig.monitoring.alerts.promql.values import labels

T0 = datetime(2026, 1, 1, tzinfo=UTC)

CRITICAL_MUTES_WARNING = InhibitRule.of('severity="critical"', 'severity="warning"', equal=["cluster"])


def _alert(ends_at: datetime | None = None, **pairs: str) -> Alert:
    return Alert(pairs, T0, ends_at=ends_at)


class TestInhibitor:
    def test_source_mutes_target_with_equal_labels(self) -> None:
        """A firing critical alert mutes warnings of its own cluster only."""
        source = _alert(alertname="Down", severity="critical", cluster="eu")
        inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
        inhibitor.put([source])
        assert inhibitor.mutes(labels({"alertname": "Slow", "severity": "warning", "cluster": "eu"}), T0) == (
            source.fingerprint
        )
        assert (
            inhibitor.mutes(labels({"alertname": "Slow", "severity": "warning", "cluster": "us"}), T0) is None
        )
        assert inhibitor.mutes(labels({"alertname": "Slow", "severity": "info", "cluster": "eu"}), T0) is None

    def test_absent_on_both_sides_is_equal(self) -> None:
        """An equal label that neither alert has counts as equal ("" == "")."""
        inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
        inhibitor.put([_alert(alertname="Down", severity="critical")])
        assert inhibitor.mutes(labels({"alertname": "Slow", "severity": "warning"}), T0) is not None
        assert (
            inhibitor.mutes(labels({"alertname": "Slow", "severity": "warning", "cluster": "eu"}), T0) is None
        )

    def test_resolved_source_stops_inhibiting(self) -> None:
        """A source that has resolved (or whose planned end passed) mutes nothing; ``collect`` forgets it."""
        inhibitor = Inhibitor([CRITICAL_MUTES_WARNING])
        target = labels({"alertname": "Slow", "severity": "warning", "cluster": "eu"})
        source = _alert(alertname="Down", severity="critical", cluster="eu")
        inhibitor.put([source])
        inhibitor.put([source.resolved(T0 + timedelta(minutes=1))])
        assert inhibitor.mutes(target, T0 + timedelta(seconds=30)) is not None
        assert inhibitor.mutes(target, T0 + timedelta(minutes=1)) is None
        inhibitor.collect(T0 + timedelta(minutes=1))
        inhibitor.put([])
        assert inhibitor.mutes(target, T0) is None  # forgotten, even when asked about an earlier time

    def test_an_alert_never_inhibits_itself(self) -> None:
        """With rules matching both sides, an alert selected by both never mutes itself or its peers."""
        rule = InhibitRule.of('severity="critical"', 'severity=~".*"', equal=["cluster"])
        a = _alert(alertname="A", severity="critical", cluster="eu")
        b = _alert(alertname="B", severity="critical", cluster="eu")
        inhibitor = Inhibitor([rule])
        inhibitor.put([a, b])
        assert inhibitor.mutes(a.labels, T0) is None
        assert inhibitor.mutes(b.labels, T0) is None
        warning = labels({"alertname": "C", "severity": "warning", "cluster": "eu"})
        assert inhibitor.mutes(warning, T0) in {a.fingerprint, b.fingerprint}

    def test_no_rules_no_muting(self) -> None:
        """Without rules nothing is inhibited."""
        inhibitor = Inhibitor([])
        inhibitor.put([_alert(alertname="Down", severity="critical")])
        assert inhibitor.mutes(labels({"severity": "warning"}), T0) is None
