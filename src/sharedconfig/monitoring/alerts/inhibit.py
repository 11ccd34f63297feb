"""Inhibition as Alertmanager does it: a firing alert mutes others that share some label values.

A rule has ``source_matchers``, ``target_matchers`` and ``equal`` label names. An alert the target
matchers select is muted while some firing alert that the source matchers select has the same values
of the ``equal`` labels (absent on both sides counts as equal). An alert never inhibits itself: when
the muted candidate also matches the source side, sources that also match the target side are not
considered (Alertmanager's two-sided rule), so ``severity=critical`` inhibiting ``severity=~".*"``
does not make critical alerts mute each other.

``Inhibitor.put`` receives every alert (the dispatcher passes on what it is given; a put is an upsert by
fingerprint, so several dispatchers may share one inhibitor); it keeps, per rule, the alerts that match
the source side. ``mutes(labels, at)`` asks the rules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sharedconfig.monitoring.alerts.matchers import Matcher, matches, parse_matchers
from sharedconfig.monitoring.alerts.model import Alert, fingerprint
from sharedconfig.monitoring.alerts.promql.values import Labels, label

__all__ = ["InhibitRule", "Inhibitor"]


def _matchers(given: str | Iterable[Matcher | str]) -> tuple[Matcher, ...]:
    if isinstance(given, str):
        return tuple(parse_matchers(given))
    found: list[Matcher] = []
    for item in given:
        found.extend([item] if isinstance(item, Matcher) else parse_matchers(item))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """Alerts selected by ``target_matchers`` are muted while a firing ``source_matchers`` alert has the
    same values of the ``equal`` labels. Matchers may be given as text (``'severity="critical"'``)."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        source_matchers: str | Iterable[Matcher | str],
        target_matchers: str | Iterable[Matcher | str],
        equal: Iterable[str] = (),
    ) -> InhibitRule:
        """A rule from matchers written as text or ``Matcher``s."""
        return cls(_matchers(source_matchers), _matchers(target_matchers), tuple(equal))


@dataclass(slots=True)
class _Sources:
    rule: InhibitRule
    alerts: dict[str, Alert] = field(default_factory=dict)  # fingerprint -> latest alert on the source side


class Inhibitor:
    """Answers whether an alert is inhibited, from the alerts ``put`` so far. Thread-safe."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        self.rules = tuple(rules)
        self._sources = [_Sources(rule) for rule in self.rules]
        self._lock = threading.Lock()

    def put(self, alerts: Iterable[Alert]) -> None:
        """Take the latest state of ``alerts`` (an upsert by fingerprint; resolved ones stop inhibiting)."""
        with self._lock:
            for alert in alerts:
                for sources in self._sources:
                    if matches(sources.rule.source_matchers, alert.labels):
                        sources.alerts[alert.fingerprint] = alert

    def collect(self, at: datetime) -> None:
        """Forget source alerts resolved by ``at`` (they no longer inhibit anything)."""
        with self._lock:
            for sources in self._sources:
                for fp in [fp for fp, a in sources.alerts.items() if a.resolved_at(at)]:
                    del sources.alerts[fp]

    def mutes(self, labels: Labels, at: datetime) -> str | None:
        """The fingerprint of an alert that inhibits ``labels`` at ``at``, or None when none does."""
        own = fingerprint(labels)
        with self._lock:
            for sources in self._sources:
                rule = sources.rule
                if not matches(rule.target_matchers, labels):
                    continue
                two_sided = matches(rule.source_matchers, labels)
                for fp, source in sources.alerts.items():
                    if fp == own or source.resolved_at(at):
                        continue
                    if any(label(source.labels, n) != label(labels, n) for n in rule.equal):
                        continue
                    if two_sided and matches(rule.target_matchers, source.labels):
                        continue
                    return fp
        return None
