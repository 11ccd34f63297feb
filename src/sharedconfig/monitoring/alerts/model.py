"""Alerts and notifications as Alertmanager sees them: what the dispatcher groups and notifiers format.

``Alert`` is an alert's identity (its labels, whose ``fingerprint`` is Alertmanager's: FNV-1a 64 over
the sorted pairs, ``%016x``), its annotations and its time range (``ends_at`` None while it fires, a
time in the future for a planned end). ``Notification`` is what one receiver is told about one group at
one time, with everything Alertmanager's webhook payload version 4 carries; ``webhook_payload`` writes
that payload, which the ``webhook`` notifier sends and the others format from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, TypeAlias

from sharedconfig.errors import Location, ValidationError
from sharedconfig.monitoring.alerts.promql.values import Labels, label, labels

__all__ = [
    "Alert",
    "AlertStatus",
    "InvalidAlert",
    "LabelsLike",
    "Notification",
    "common",
    "fingerprint",
    "format_labels",
    "go_time",
    "webhook_payload",
]

LabelsLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]
"""What an ``Alert`` takes for its labels and annotations; stored as sorted ``Labels``."""

_FNV_OFFSET: Final = 14695981039346656037
_FNV_PRIME: Final = 1099511628211
_MASK: Final = (1 << 64) - 1
_SEPARATOR: Final = 0xFF  # model.SeparatorByte: never in UTF-8 text, so pairs cannot run together
_GO_ZERO_TIME: Final = "0001-01-01T00:00:00Z"


class InvalidAlert(ValidationError, ValueError):
    """An alert without labels, or with a naive time or an end before its start (``VALIDATION_008``)."""


class AlertStatus(StrEnum):
    """An alert's status at a time, as Alertmanager names it."""

    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(of: Labels) -> str:
    """Alertmanager's fingerprint of a label set (``model.LabelSet.Fingerprint``) as ``%016x``."""
    h = _FNV_OFFSET
    for name, value in sorted(of):
        for byte in name.encode():
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
        for byte in value.encode():
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def _go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``): printable runes kept, the rest escaped."""
    out = ['"']
    for c in text:
        if c in ('"', "\\"):
            out.append("\\" + c)
        elif c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
        elif c == " " or c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def format_labels(of: Labels) -> str:
    """``{a="1", b="2"}``: Go's ``model.LabelSet.String()``, pairs sorted by their text (group keys)."""
    return "{" + ", ".join(sorted(f"{name}={_go_quote(value)}" for name, value in of)) + "}"


def go_time(at: datetime | None) -> str:
    """``at`` as Go's JSON writes a ``time.Time`` (RFC 3339, fraction without trailing zeros, UTC ``Z``);
    None is Go's zero time, which Alertmanager sends as a firing alert's ``endsAt``."""
    if at is None:
        return _GO_ZERO_TIME
    at = at.astimezone(UTC)
    text = at.strftime("%Y-%m-%dT%H:%M:%S")
    if at.microsecond:
        text += f".{at.microsecond:06d}".rstrip("0")
    return text + "Z"


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise InvalidAlert(
            f"the alert's {what} has no time zone",
            hint="Give aware datetimes, e.g. datetime.now(UTC).",
            location=Location("alert"),
            component="alerts",
        )
    return at


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: labels (its identity), annotations, start, end (None while firing) and its source.

    ``labels`` and ``annotations`` may be given as a mapping or pairs; they are kept as sorted ``Labels``
    with empty values dropped (an empty label is an absent one). ``fingerprint`` identifies the alert.
    """

    labels: Labels
    starts_at: datetime
    annotations: Labels = ()
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str = field(init=False, compare=False)

    def __init__(
        self,
        labels: LabelsLike,
        starts_at: datetime,
        annotations: LabelsLike = (),
        ends_at: datetime | None = None,
        generator_url: str = "",
    ) -> None:
        pairs = labels_of(labels)
        if not pairs:
            raise InvalidAlert(
                "an alert needs at least one label",
                hint="Give the alert its labels (alertname at least).",
                location=Location("alert"),
                component="alerts",
            )
        object.__setattr__(self, "labels", pairs)
        object.__setattr__(self, "starts_at", _aware(starts_at, "start"))
        object.__setattr__(self, "annotations", labels_of(annotations))
        if ends_at is not None and _aware(ends_at, "end") < starts_at:
            raise InvalidAlert(
                f"the alert ends ({ends_at.isoformat()}) before it starts ({starts_at.isoformat()})",
                location=Location("alert", fingerprint(pairs)),
                component="alerts",
            )
        object.__setattr__(self, "ends_at", ends_at)
        object.__setattr__(self, "generator_url", generator_url)
        object.__setattr__(self, "fingerprint", fingerprint(pairs))

    @property
    def name(self) -> str:
        """The ``alertname`` label (``""`` when absent)."""
        return label(self.labels, "alertname")

    def label(self, name: str) -> str:
        """The value of label ``name``, ``""`` when absent."""
        return label(self.labels, name)

    def annotation(self, name: str) -> str:
        """The value of annotation ``name``, ``""`` when absent."""
        return label(self.annotations, name)

    def resolved_at(self, at: datetime) -> bool:
        """Whether the alert has ended by ``at`` (Alertmanager's ``ResolvedAt``: ``ends_at <= at``)."""
        return self.ends_at is not None and self.ends_at <= at

    def status(self, at: datetime) -> AlertStatus:
        """``resolved`` once ``ends_at`` has passed at ``at``, else ``firing``."""
        return AlertStatus.RESOLVED if self.resolved_at(at) else AlertStatus.FIRING

    def resolved(self, at: datetime) -> Alert:
        """The same alert, ended at ``at`` (or at its earlier planned end)."""
        end = at if self.ends_at is None or self.ends_at > at else self.ends_at
        return replace_alert(self, ends_at=max(end, self.starts_at))

    def as_of(self, at: datetime) -> Alert:
        """The alert as a notification sent at ``at`` shows it: a planned end still ahead is dropped
        (Alertmanager zeroes ``EndsAt`` of firing alerts in a flush), a passed one kept."""
        if self.ends_at is not None and self.ends_at > at:
            return replace_alert(self, ends_at=None)
        return self


def labels_of(pairs: LabelsLike) -> Labels:
    """Sorted ``Labels`` from a mapping or pairs (empty values dropped; a repeated name is an error)."""
    items = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise InvalidAlert(
            f"label {repeated[0]!r} is given twice",
            location=Location("alert"),
            component="alerts",
        )
    return labels(items)


def replace_alert(alert: Alert, **changes: object) -> Alert:
    """``dataclasses.replace`` for ``Alert`` (whose ``__init__`` takes its fields by name)."""
    return replace(alert, **changes)  # type: ignore[arg-type]  # fingerprint is derived, never passed


def common(of: Iterable[Labels]) -> Labels:
    """The pairs every label set in ``of`` shares (Alertmanager's common labels and annotations)."""
    sets = iter(of)
    first = next(sets, None)
    if first is None:
        return ()
    shared = set(first)
    for pairs in sets:
        shared &= set(pairs)
    return tuple(sorted(shared))


@dataclass(frozen=True, slots=True)
class Notification:
    """What a receiver is told about one group: Alertmanager's template data and webhook message.

    ``alerts`` are as of the notification's time: firing ones have ``ends_at`` None, resolved ones their
    end. ``truncated_alerts`` counts alerts left out by ``truncate`` (the webhook's ``max_alerts``).
    """

    receiver: str
    group_key: str
    group_labels: Labels
    alerts: tuple[Alert, ...]
    external_url: str = ""
    truncated_alerts: int = 0

    @property
    def status(self) -> AlertStatus:
        """``firing`` when any alert fires, else ``resolved`` (the webhook's top-level ``status``)."""
        firing = any(a.ends_at is None for a in self.alerts)
        return AlertStatus.FIRING if firing else AlertStatus.RESOLVED

    @property
    def firing(self) -> tuple[Alert, ...]:
        """The firing alerts."""
        return tuple(a for a in self.alerts if a.ends_at is None)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        """The resolved alerts."""
        return tuple(a for a in self.alerts if a.ends_at is not None)

    @property
    def common_labels(self) -> Labels:
        """Labels every alert has with the same value."""
        return common(a.labels for a in self.alerts)

    @property
    def common_annotations(self) -> Labels:
        """Annotations every alert has with the same value."""
        return common(a.annotations for a in self.alerts)

    def truncate(self, max_alerts: int) -> Notification:
        """At most ``max_alerts`` alerts (0: all), the rest counted in ``truncated_alerts``; common labels
        are then those of the alerts kept, as in Alertmanager's webhook."""
        if max_alerts <= 0 or len(self.alerts) <= max_alerts:
            return self
        kept = self.alerts[:max_alerts]
        return replace(
            self, alerts=kept, truncated_alerts=self.truncated_alerts + len(self.alerts) - max_alerts
        )


def _alert_json(alert: Alert) -> dict[str, object]:
    return {
        "status": AlertStatus.FIRING.value if alert.ends_at is None else AlertStatus.RESOLVED.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_payload(notification: Notification) -> dict[str, object]:
    """Alertmanager's webhook message, version 4, for ``notification`` (JSON-ready)."""
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.truncated_alerts,
        "status": notification.status.value,
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(notification.common_labels),
        "commonAnnotations": dict(notification.common_annotations),
        "externalURL": notification.external_url,
        "alerts": [_alert_json(a) for a in notification.alerts],
    }
