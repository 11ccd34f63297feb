"""Words every human-facing notifier shares: Alertmanager's default title and what an alert shows.

``title`` is Alertmanager's ``__subject`` template (``[FIRING:2] HighErrorRate (api critical)``): the
status, the firing count, the group labels' values and, in parentheses, the values of the common labels
that are not group labels, each list in label-name order. Alertmanager's template leaves a trailing space
when there is nothing in parentheses; ``title`` does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sharedconfig.monitoring.alerts.model import go_time

if TYPE_CHECKING:
    from sharedconfig.monitoring.alerts.model import Alert, Notification

__all__ = ["RUNBOOK_ANNOTATIONS", "SHOWN_FIRST", "details", "runbook", "title"]

RUNBOOK_ANNOTATIONS: Final = ("runbook_url", "runbook")
"""Annotations read as the alert's runbook link, the first one set wins."""

SHOWN_FIRST: Final = ("summary", "description")
"""Annotations shown as the alert's text, before the rest."""


def title(notification: Notification) -> str:
    """Alertmanager's default subject, e.g. ``[FIRING:2] HighErrorRate (api critical)``."""
    status = notification.status.value.upper()
    if status == "FIRING":
        status += f":{len(notification.firing)}"
    words = [f"[{status}]", *(value for _, value in notification.group_labels)]
    group_names = {name for name, _ in notification.group_labels}
    rest = [value for name, value in notification.common_labels if name not in group_names]
    if len(notification.common_labels) > len(notification.group_labels) and rest:
        words.append("(" + " ".join(rest) + ")")
    return " ".join(words)


def runbook(alert: Alert) -> str:
    """The alert's runbook link (annotation ``runbook_url``, else ``runbook``), ``""`` when none."""
    for name in RUNBOOK_ANNOTATIONS:
        if found := alert.annotation(name):
            return found
    return ""


def details(alert: Alert) -> list[tuple[str, str]]:
    """What a notification shows of one alert below its name, as (heading, text) rows in order:
    summary, description, the other annotations, labels (``alertname`` left out), start, end."""
    rows = [(name.capitalize(), alert.annotation(name)) for name in SHOWN_FIRST if alert.annotation(name)]
    skipped = {*SHOWN_FIRST, *RUNBOOK_ANNOTATIONS}
    rows += [(name, value) for name, value in alert.annotations if name not in skipped]
    shown = [f"{name}={value}" for name, value in alert.labels if name != "alertname"]
    if shown:
        rows.append(("Labels", " ".join(shown)))
    rows.append(("Started", go_time(alert.starts_at)))
    if alert.ends_at is not None:
        rows.append(("Ended", go_time(alert.ends_at)))
    return rows
