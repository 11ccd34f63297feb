"""The dispatcher: groups alerts and tells each notifier about each group, as Alertmanager's route does.

Semantics (Alertmanager's ``dispatch`` and ``notify`` packages, followed as facts):

- **Groups.** An alert the route's ``matchers`` select joins the group of its values of the ``group_by``
  labels (``"..."``: all its labels; none: one group). The group key is ``ROUTEKEY:{a="1", b="2"}``
  with the route key ``{}`` (``{}/{severity="page"}`` for a route with matchers). ``put`` is an upsert
  by fingerprint: an update that overlaps the stored alert keeps the earlier start.
- **When a group flushes.** First ``group_wait`` after the group appears (at once when an alert's
  ``starts_at`` plus ``group_wait`` has already passed, e.g. after a restart), then every
  ``group_interval``. A flush leaves out the alerts a silence or an inhibition mutes, then asks the
  notification log, per notifier, whether the receiver must hear about the group:
  never told about it: only if something fires; a firing alert it was not told about: yes; nothing fires
  any more: yes when the last notification had firing alerts (send_resolved or not, to clear them);
  a resolved alert it was not told about: yes with ``send_resolved``; else only once ``repeat_interval``
  has fully passed since the last notification, i.e. at the first flush after it (with the defaults,
  4 h 5 min after, as Alertmanager). A group whose alerts are all muted sends nothing and leaves the
  log as it was.
- **After a flush** that every notifier answered (sent, or nothing to send), the resolved alerts it saw
  are dropped from the group, and an empty group goes away. A notifier that raises (it retries through
  ``delivery`` first), or does not answer within ``group_interval``, is counted, logged and asked again
  at the next flush; the log records only what was delivered.
- **Resolved notifications.** With ``send_resolved`` (per notifier name when a mapping; default true)
  resolved alerts are sent with their end; without it they are left out, and a notification that would
  hold only resolved alerts is not sent (but logged, as Alertmanager does).

Running: ``flush_due()`` flushes what is due and returns the seconds until the next flush;
``run_scheduled`` is the runtime job (it also wakes when ``put`` creates a group), ``job()`` wraps it;
``run()`` loops it for use without a runtime. Every wait is on the ``clock``.

Metrics: ``alert_notifications_total{receiver}`` and ``alert_notifications_failed_total{receiver}``
(receiver: the notifier's name). The names are defined here, not in ``monitoring/names.py``, while other
parts of issue 11 edit that file; they move there when the dispatcher is wired into Monitoring.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal, Protocol

from sharedconfig.clock import SYSTEM_CLOCK, Clock, wait, wait_for
from sharedconfig.errors import Location, ValidationError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.alerts.inhibit import Inhibitor
from sharedconfig.monitoring.alerts.matchers import Matcher, format_matchers, matches
from sharedconfig.monitoring.alerts.model import Alert, Notification, format_labels, replace_alert
from sharedconfig.monitoring.alerts.promql.values import Labels, label
from sharedconfig.monitoring.alerts.silences import Silences
from sharedconfig.redaction import mask_userinfo
from sharedconfig.runtime import Job
from sharedconfig.stdlog import NullLogger

__all__ = [
    "ALERT_NOTIFICATIONS",
    "ALERT_NOTIFICATIONS_FAILED",
    "GROUP_BY_ALL",
    "AlertGroup",
    "Dispatcher",
    "InvalidRoute",
    "LogEntry",
    "Muting",
    "NotificationLog",
    "Notifier",
    "Route",
    "needs_update",
]

ALERT_NOTIFICATIONS: Final = "alert_notifications_total"
ALERT_NOTIFICATIONS_FAILED: Final = "alert_notifications_failed_total"

GROUP_BY_ALL: Final = "..."
"""``group_by: ['...']``: every label groups (each distinct alert its own group)."""

NFLOG_RETENTION: Final = 5 * 24 * 3600.0
"""Seconds a notification log entry is kept after it was written (Alertmanager's 120 h)."""

_IDLE: Final = 60.0
"""The longest ``run_scheduled`` sleeps with no group due (``put`` wakes it earlier), and the job's pause
after a failed round."""


class InvalidRoute(ValidationError, ValueError):
    """A route's intervals are not positive, or two notifiers share a name (``VALIDATION_008``)."""


class Notifier(Protocol):
    """A receiver of notifications (slack, email, webhook, alertmanager): ``notify`` raises on failure."""

    @property
    def name(self) -> str:
        """The receiver's name: notifications, the log and the metrics are keyed by it."""
        ...

    async def notify(self, notification: Notification) -> None:
        """Deliver ``notification`` (retrying as its delivery policy says); raise when it did not arrive."""
        ...


@dataclass(frozen=True, slots=True)
class Route:
    """How alerts are grouped and how often groups are told about (Alertmanager's defaults)."""

    group_by: tuple[str, ...] | Literal["..."] = ()
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        group_by = self.group_by
        if group_by != GROUP_BY_ALL:
            names = tuple(group_by)
            object.__setattr__(self, "group_by", GROUP_BY_ALL if GROUP_BY_ALL in names else names)
        for name in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(self, name)
            if not value > 0 and not (name == "group_wait" and value == 0):
                raise InvalidRoute(
                    f"{name} must be positive (got {value})",
                    path=name,
                    location=Location("route"),
                    component="alerts",
                )

    @property
    def key(self) -> str:
        """Alertmanager's route key: ``{}`` for the root, ``{}/{matchers}`` for a route with matchers."""
        return "{}" if not self.matchers else "{}/" + format_matchers(self.matchers)

    def selects(self, labels: Labels) -> bool:
        """Whether an alert with ``labels`` goes through this route."""
        return matches(self.matchers, labels)

    def group_labels(self, labels: Labels) -> Labels:
        """The labels that name the group of an alert with ``labels``."""
        if self.group_by == GROUP_BY_ALL:
            return labels
        keep = frozenset(self.group_by)
        return tuple((n, v) for n, v in labels if n in keep)

    def group_key(self, group_labels: Labels) -> str:
        """``ROUTEKEY:{a="1", b="2"}``, the ``groupKey`` of Alertmanager's notifications."""
        return f"{self.key}:{format_labels(group_labels)}"


# -- the notification log ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What a receiver was last told about a group: fingerprints of the firing and resolved alerts, and
    when (``clock.now()`` seconds)."""

    group_key: str
    receiver: str
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


class NotificationLog:
    """Alertmanager's ``nflog``: the last notification per (group, receiver), for deduplication.

    In memory: after a restart each group is notified again at its first flush. Thread-safe."""

    def __init__(self, retention: float = NFLOG_RETENTION) -> None:
        self.retention = retention
        self._entries: dict[tuple[str, str], LogEntry] = {}
        self._lock = threading.Lock()

    def get(self, group_key: str, receiver: str) -> LogEntry | None:
        """The last entry for this group and receiver, or None."""
        with self._lock:
            return self._entries.get((group_key, receiver))

    def log(self, entry: LogEntry) -> None:
        """Record ``entry``, replacing the previous one for its group and receiver."""
        with self._lock:
            self._entries[entry.group_key, entry.receiver] = entry

    def entries(self) -> list[LogEntry]:
        """Every entry, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: (e.sent_at, e.group_key, e.receiver))

    def collect(self, now: float) -> None:
        """Drop entries written more than ``retention`` seconds before ``now``."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.sent_at < now - self.retention]:
                del self._entries[key]


def needs_update(
    entry: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> bool:
    """Whether a receiver must be told about a group now (Alertmanager's ``DedupStage.needsUpdate``)."""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        # everything resolved: tell the receiver when it last heard of firing alerts (to clear them); a
        # group that fired and resolved between two flushes was never told, so it says nothing
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.sent_at < now - repeat_interval


# -- groups -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Muting:
    """Why an alert is left out of notifications: active silences' ids, an inhibiting alert's fingerprint."""

    silenced_by: tuple[str, ...] = ()
    inhibited_by: str | None = None

    @property
    def muted(self) -> bool:
        """Whether anything mutes the alert."""
        return bool(self.silenced_by) or self.inhibited_by is not None


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """A group as it stands: its key, labels, and alerts (as of the time asked, in notification order)."""

    key: str
    labels: Labels
    alerts: tuple[Alert, ...]


@dataclass(slots=True)
class _Group:
    key: str
    labels: Labels
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    flushed: bool = False
    flushing: bool = False


def _order(alert: Alert) -> tuple[tuple[int, str], tuple[int, str], Labels]:
    """Alertmanager's ``AlertSlice`` order: by ``job``, then ``instance`` (alerts without them last), then
    by labels."""
    job, instance = label(alert.labels, "job"), label(alert.labels, "instance")
    return ((0, job) if job else (1, ""), (0, instance) if instance else (1, ""), alert.labels)


def _merge(old: Alert | None, new: Alert) -> Alert:
    """The stored alert after ``new`` arrives: an update overlapping ``old`` keeps the earlier start."""
    if old is None:
        return new
    overlaps = (new.ends_at is None or new.ends_at > old.starts_at) and (
        old.ends_at is None or new.starts_at < old.ends_at
    )
    if overlaps and old.starts_at < new.starts_at:
        return replace_alert(new, starts_at=old.starts_at)
    return new


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Dispatcher:
    """Groups the alerts it is ``put`` and notifies ``notifiers`` about each group; see the module."""

    def __init__(
        self,
        route: Route,
        notifiers: Sequence[Notifier],
        *,
        clock: Clock = SYSTEM_CLOCK,
        silences: Silences | None = None,
        inhibitor: Inhibitor | None = None,
        send_resolved: bool | Mapping[str, bool] = True,
        external_url: str = "",
        metrics: MetricsRecorder | None = None,
        logger: Logger | None = None,
        nflog: NotificationLog | None = None,
    ) -> None:
        names = [n.name for n in notifiers]
        if len(set(names)) != len(names):
            raise InvalidRoute(
                f"two notifiers are called {sorted({n for n in names if names.count(n) > 1})[0]!r}",
                hint="Give each receiver its own name: the notification log is kept per name.",
                location=Location("route"),
                component="alerts",
            )
        self.route = route
        self.notifiers = tuple(notifiers)
        self.silences = silences
        self.inhibitor = inhibitor
        self.external_url = external_url
        self.nflog = nflog if nflog is not None else NotificationLog()
        self._send_resolved = send_resolved
        self._clock = clock
        self._metrics = metrics
        self._logger = logger if logger is not None else NullLogger()
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    # -- alerts in ------------------------------------------------------------------------------------------

    def put(self, alerts: Iterable[Alert]) -> None:
        """Take the latest state of ``alerts`` (firing, or resolved with ``ends_at``); any thread."""
        given = list(alerts)
        if self.inhibitor is not None:
            self.inhibitor.put(given)
        now, wall = self._clock.now(), self._clock.wall()
        wake = False
        with self._lock:
            for alert in given:
                if not self.route.selects(alert.labels):
                    continue
                group_labels = self.route.group_labels(alert.labels)
                key = self.route.group_key(group_labels)
                group = self._groups.get(key)
                if group is None:
                    group = self._groups[key] = _Group(key, group_labels, now + self.route.group_wait)
                    wake = True
                group.alerts[alert.fingerprint] = _merge(group.alerts.get(alert.fingerprint), alert)
                if (
                    not group.flushed
                    and group.next_flush > now
                    and alert.starts_at.timestamp() + self.route.group_wait < wall.timestamp()
                ):
                    group.next_flush = now  # its group_wait is over already (a restart, a late alert)
                    wake = True
        if wake:
            self._wake_up()

    def groups(self, at: datetime | None = None) -> list[AlertGroup]:
        """The groups now, by key; alerts as of ``at`` (now), muted ones included."""
        when = self._clock.wall() if at is None else at
        with self._lock:
            found = [(g.key, g.labels, list(g.alerts.values())) for g in self._groups.values()]
        return [
            AlertGroup(key, group_labels, tuple(sorted((a.as_of(when) for a in alerts), key=_order)))
            for key, group_labels, alerts in sorted(found, key=lambda item: item[0])
        ]

    def muting(self, alert: Alert, at: datetime | None = None) -> Muting:
        """What mutes ``alert`` at ``at`` (now): silences first, then inhibition."""
        when = self._clock.wall() if at is None else at
        silenced = tuple(self.silences.mutes(alert.labels, when)) if self.silences is not None else ()
        inhibited = self.inhibitor.mutes(alert.labels, when) if self.inhibitor is not None else None
        return Muting(silenced, inhibited)

    # -- running --------------------------------------------------------------------------------------------

    def job(self, name: str = "alerts-dispatch") -> Job:
        """The runtime job: ``run_scheduled`` (should it raise, the runtime reports it and calls it again
        a minute later)."""
        return Job(name, _IDLE, self.run_scheduled)

    async def run(self) -> None:
        """Flush groups as they fall due, forever (cancel to stop)."""
        while True:
            await self.run_scheduled()

    async def run_scheduled(self) -> float:
        """``flush_due``, then sleep until the next group is due or ``put`` makes a new one; returns 0."""
        delay = await self.flush_due()
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._wake = (loop, woken)
            due = min((g.next_flush for g in self._groups.values()), default=None)
        if due is not None:  # a put between flush_due and here moved a deadline
            delay = min(delay, max(due - self._clock.now(), 0.0))
        try:
            await wait(self._clock, (woken,), delay)
        finally:
            with self._lock:
                if self._wake is not None and self._wake[1] is woken:
                    self._wake = None
            woken.cancel()
        return 0.0

    async def flush_due(self) -> float:
        """Flush every group that is due, concurrently; return the seconds until the next is due."""
        now = self._clock.now()
        with self._lock:
            due = [g for g in self._groups.values() if g.next_flush <= now and not g.flushing]
            for group in due:  # reserved before awaiting, so an overlapping call cannot flush them twice
                group.flushing = True
                group.flushed = True
                group.next_flush = now + self.route.group_interval
        try:
            await asyncio.gather(*(self._flush(group) for group in due))
        finally:
            with self._lock:
                for group in due:
                    group.flushing = False
        self.nflog.collect(self._clock.now())
        if self.inhibitor is not None:
            self.inhibitor.collect(self._clock.wall())
        with self._lock:
            upcoming = [g.next_flush for g in self._groups.values() if not g.flushing]
        if not upcoming:
            return _IDLE
        return min(max(min(upcoming) - self._clock.now(), 0.0), _IDLE)

    def _wake_up(self) -> None:
        with self._lock:
            wake = self._wake
        if wake is not None:
            loop, future = wake
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing is waiting
                loop.call_soon_threadsafe(_settle, future)

    # -- one flush ------------------------------------------------------------------------------------------

    async def _flush(self, group: _Group) -> None:
        at = self._clock.wall()
        with self._lock:
            stored = list(group.alerts.values())
        shown = [alert.as_of(at) for alert in stored]
        resolved = [alert for alert, now in zip(stored, shown, strict=True) if now.ends_at is not None]
        visible = sorted((a for a in shown if not self.muting(a, at).muted), key=_order)
        delivered = True
        if visible:
            answers = await asyncio.gather(*(self._notify(n, group, visible) for n in self.notifiers))
            delivered = all(answers)
        if not delivered:
            return
        with self._lock:
            for alert in resolved:  # unless it changed (fired again) while the notifiers were at work
                if group.alerts.get(alert.fingerprint) == alert:
                    del group.alerts[alert.fingerprint]
            if not group.alerts and self._groups.get(group.key) is group:
                del self._groups[group.key]

    def _sends_resolved(self, notifier: Notifier) -> bool:
        if isinstance(self._send_resolved, bool):
            return self._send_resolved
        return self._send_resolved.get(notifier.name, True)

    async def _notify(self, notifier: Notifier, group: _Group, alerts: list[Alert]) -> bool:
        """Tell ``notifier`` about ``group`` when the log says so; False when it failed."""
        receiver = notifier.name
        firing = frozenset(a.fingerprint for a in alerts if a.ends_at is None)
        resolved = frozenset(a.fingerprint for a in alerts if a.ends_at is not None)
        send_resolved = self._sends_resolved(notifier)
        entry = self.nflog.get(group.key, receiver)
        if not needs_update(
            entry,
            firing,
            resolved,
            send_resolved=send_resolved,
            repeat_interval=self.route.repeat_interval,
            now=self._clock.now(),
        ):
            return True
        sent = alerts if send_resolved else [a for a in alerts if a.ends_at is None]
        if sent:
            notification = Notification(
                receiver, group.key, group.labels, tuple(sent), external_url=self.external_url
            )
            try:
                await wait_for(self._clock, notifier.notify(notification), self.route.group_interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._count(ALERT_NOTIFICATIONS_FAILED, receiver)
                self._logger.warning(
                    "alert notification failed",
                    receiver=receiver,
                    group_key=group.key,
                    alerts=len(sent),
                    error=mask_userinfo(f"{type(exc).__name__}: {exc}"),
                )
                return False
            self._count(ALERT_NOTIFICATIONS, receiver)
            self._logger.debug(
                "alert notification sent",
                receiver=receiver,
                group_key=group.key,
                status=notification.status.value,
                alerts=len(sent),
            )
        self.nflog.log(LogEntry(group.key, receiver, firing, resolved, self._clock.now()))
        return True

    def _count(self, name: str, receiver: str) -> None:
        if self._metrics is not None:
            self._metrics.record_counter(name, 1.0, {"receiver": receiver})
