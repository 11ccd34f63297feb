"""The dispatcher on a fake clock: exactly when each receiver hears about each group, as in Alertmanager."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from sharedconfig.monitoring.alerts.dispatch import (
    ALERT_NOTIFICATIONS,
    ALERT_NOTIFICATIONS_FAILED,
    Dispatcher,
    InvalidRoute,
    Route,
)
from sharedconfig.monitoring.alerts.inhibit import Inhibitor, InhibitRule
from sharedconfig.monitoring.alerts.matchers import parse_matchers
from sharedconfig.monitoring.alerts.model import Alert, AlertStatus, Notification
from sharedconfig.monitoring.alerts.promql.values import labels
from sharedconfig.monitoring.alerts.silences import Silences
from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

BY_NAME = Route(group_by=("alertname",))


class Recorder:
    """A notifier that keeps (clock time, notification) of each delivery; fails the first ``fail`` calls."""

    def __init__(self, clock: FakeClock, name: str = "team", fail: int = 0, hang: bool = False) -> None:
        self.name = name
        self.sent: list[tuple[float, Notification]] = []
        self.calls = 0
        self._clock = clock
        self._fail = fail
        self._hang = hang

    async def notify(self, notification: Notification) -> None:
        """Record, or raise while failures are left."""
        self.calls += 1
        if self._hang:
            await self._clock.sleep(1e9)
        if self._fail > 0:
            self._fail -= 1
            raise RuntimeError("refused by https://user:secret@hooks.example/x")
        self.sent.append((self._clock.now(), notification))

    @property
    def times(self) -> list[float]:
        """When each notification arrived."""
        return [t for t, _ in self.sent]

    def fingerprints(self, index: int) -> dict[str, str]:
        """Fingerprint -> status of the alerts in notification ``index``."""
        return {
            a.fingerprint: a.status(a.starts_at + timedelta(days=999)).value
            for a in self.sent[index][1].alerts
        }


def drive(clock: FakeClock, dispatcher: Dispatcher, script: Callable[[], Awaitable[None]]) -> None:
    """Run ``dispatcher.run()`` while ``script`` puts alerts and advances the clock."""

    async def main() -> None:
        task = asyncio.create_task(dispatcher.run())
        try:
            await script()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(main())


def at(clock: FakeClock, t: float) -> Awaitable[None]:
    """Advance the clock to ``t`` seconds after its start."""
    return clock.advance_async(t - clock.now())


def firing(clock: FakeClock, **pairs: str) -> Alert:
    """An alert firing from now."""
    return Alert(pairs, clock.wall())


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 0 s, 2026-01-01T00:00Z."""
    return FakeClock()


class TestRoute:
    def test_group_keys(self) -> None:
        """Group keys are Alertmanager's ROUTEKEY:{labels} (route key {} or {}/{matchers})."""
        alert = labels({"alertname": "A", "job": "api", "instance": "h:1"})
        by = Route(group_by=("alertname", "job"))
        assert by.group_key(by.group_labels(alert)) == '{}:{alertname="A", job="api"}'
        every = Route(group_by="...")
        assert every.group_key(every.group_labels(alert)) == '{}:{alertname="A", instance="h:1", job="api"}'
        assert Route(group_by=("...",)).group_by == "..."
        assert Route().group_key(Route().group_labels(alert)) == "{}:{}"
        paged = Route(group_by=("alertname",), matchers=tuple(parse_matchers('severity="page"')))
        assert paged.group_key(paged.group_labels(alert)) == '{}/{severity="page"}:{alertname="A"}'

    def test_defaults_are_alertmanagers(self) -> None:
        """group_wait 30 s, group_interval 5 min, repeat_interval 4 h."""
        route = Route()
        assert (route.group_wait, route.group_interval, route.repeat_interval) == (30.0, 300.0, 14400.0)

    def test_bad_settings(self, clock: FakeClock) -> None:
        """Non-positive intervals and two notifiers of one name are refused."""
        with pytest.raises(InvalidRoute, match="group_interval must be positive"):
            Route(group_interval=0)
        with pytest.raises(InvalidRoute, match="two notifiers are called 'team'"):
            Dispatcher(Route(), [Recorder(clock), Recorder(clock)], clock=clock)


class TestTiming:
    def test_group_wait_then_group_interval_batches(self, clock: FakeClock) -> None:
        """First notification group_wait after the group appears; later changes wait for the next
        group_interval flush and go out together; an unchanged group is not re-sent early."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)

        async def script() -> None:
            await at(clock, 10)
            d.put([firing(clock, alertname="A", instance="1")])  # the sleeping loop is woken for it
            await at(clock, 39)
            assert rec.times == []
            await at(clock, 40)
            assert rec.times == [40]
            await at(clock, 50)
            d.put([firing(clock, alertname="A", instance="2")])
            d.put([firing(clock, alertname="A", instance="3")])
            await at(clock, 339)
            assert rec.times == [40]
            await at(clock, 340)
            await at(clock, 2000)

        drive(clock, d, script)
        assert rec.times == [40, 340]
        assert len(rec.sent[1][1].alerts) == 3

    def test_repeat_interval(self, clock: FakeClock) -> None:
        """An unchanged firing group is re-sent at the first flush after repeat_interval has fully passed
        (30 s + 4 h is a flush tick too, but exactly 4 h after the last send is not yet past it)."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)

        async def script() -> None:
            d.put([firing(clock, alertname="A")])
            await at(clock, 30 + 14400 + 300 + 14400 + 300 + 1)

        drive(clock, d, script)
        assert rec.times == [30, 30 + 14400 + 300, 30 + 2 * (14400 + 300)]

    def test_old_alert_flushes_at_once(self, clock: FakeClock) -> None:
        """An alert that started more than group_wait ago (a restart) makes its new group flush at once."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)

        async def script() -> None:
            await at(clock, 5)
            d.put([Alert({"alertname": "A"}, clock.wall() - timedelta(minutes=10))])
            await at(clock, 6)

        drive(clock, d, script)
        assert rec.times == [5]

    def test_groups_are_independent(self, clock: FakeClock) -> None:
        """Each group has its own group_wait and its own notifications."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)

        async def script() -> None:
            d.put([firing(clock, alertname="A")])
            await at(clock, 100)
            d.put([firing(clock, alertname="B")])
            await at(clock, 200)

        drive(clock, d, script)
        assert [(t, n.group_key) for t, n in rec.sent] == [
            (30, '{}:{alertname="A"}'),
            (130, '{}:{alertname="B"}'),
        ]


class TestResolved:
    def test_resolved_notification_then_group_removed(self, clock: FakeClock) -> None:
        """A resolved alert is sent at the next flush with its end; the group then goes away."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)
        alert = firing(clock, alertname="A")

        async def script() -> None:
            d.put([alert])
            await at(clock, 100)
            d.put([alert.resolved(clock.wall())])
            await at(clock, 331)
            assert d.groups() == []
            await at(clock, 20000)

        drive(clock, d, script)
        assert rec.times == [30, 330]
        last = rec.sent[1][1]
        assert last.status is AlertStatus.RESOLVED
        assert last.alerts[0].ends_at == alert.starts_at + timedelta(seconds=100)

    def test_without_send_resolved(self, clock: FakeClock) -> None:
        """With send_resolved off, a partly resolved group is not re-sent and a fully resolved one says
        nothing; the group still goes away."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock, send_resolved=False)
        a, b = firing(clock, alertname="A", i="1"), firing(clock, alertname="A", i="2")

        async def script() -> None:
            d.put([a, b])
            await at(clock, 100)
            d.put([a.resolved(clock.wall())])
            await at(clock, 400)
            d.put([b.resolved(clock.wall())])
            await at(clock, 700)
            assert d.groups() == []

        drive(clock, d, script)
        assert rec.times == [30]

    def test_partly_resolved_with_send_resolved(self, clock: FakeClock) -> None:
        """With send_resolved, one resolved alert of two is news: sent with the one still firing."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock, send_resolved={"team": True})
        a, b = firing(clock, alertname="A", i="1"), firing(clock, alertname="A", i="2")

        async def script() -> None:
            d.put([a, b])
            await at(clock, 100)
            d.put([a.resolved(clock.wall())])
            await at(clock, 700)

        drive(clock, d, script)
        assert rec.times == [30, 330]
        assert rec.fingerprints(1) == {a.fingerprint: "resolved", b.fingerprint: "firing"}
        assert rec.sent[1][1].status is AlertStatus.FIRING

    def test_fired_and_resolved_between_flushes(self, clock: FakeClock) -> None:
        """An alert that fires and resolves before its group's first flush is never announced."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)
        alert = firing(clock, alertname="A")

        async def script() -> None:
            d.put([alert])
            await at(clock, 10)
            d.put([alert.resolved(clock.wall())])
            await at(clock, 1000)

        drive(clock, d, script)
        assert rec.times == []
        assert d.groups() == []

    def test_fires_again_after_resolving(self, clock: FakeClock) -> None:
        """A resolved alert that fires again is a new firing alert: announced at the next flush."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)
        alert = firing(clock, alertname="A")

        async def script() -> None:
            d.put([alert])
            await at(clock, 100)
            d.put([alert.resolved(clock.wall())])
            await at(clock, 400)
            d.put([firing(clock, alertname="A")])
            await at(clock, 431)

        drive(clock, d, script)
        assert rec.times == [30, 330, 430]
        assert rec.sent[2][1].status is AlertStatus.FIRING


class TestMuting:
    def test_all_muted_sends_nothing_until_the_silence_ends(self, clock: FakeClock) -> None:
        """A group whose alerts are all silenced sends nothing; when the silence expires the alert is
        announced at the next flush."""
        rec = Recorder(clock)
        silences = Silences(clock=clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock, silences=silences)
        s = silences.add("alertname=A", ends_at=clock.wall() + timedelta(hours=1))

        async def script() -> None:
            d.put([firing(clock, alertname="A")])
            await at(clock, 1000)
            assert rec.times == []
            silences.expire(s.id)
            await at(clock, 1300)

        drive(clock, d, script)
        assert rec.times == [1230]

    def test_silence_added_mid_group(self, clock: FakeClock) -> None:
        """Silencing one of two notified alerts is not news; the repeat leaves it out; when the silence
        ends, the alert is news again."""
        rec = Recorder(clock)
        silences = Silences(clock=clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock, silences=silences)
        a, b = firing(clock, alertname="A", i="1"), firing(clock, alertname="A", i="2")
        repeat = 30 + 14400 + 300

        async def script() -> None:
            d.put([a, b])
            await at(clock, 100)
            s = silences.add("i=1", ends_at=clock.wall() + timedelta(hours=6))
            await at(clock, repeat + 1)
            silences.expire(s.id)
            await at(clock, repeat + 301)

        drive(clock, d, script)
        assert rec.times == [30, repeat, repeat + 300]
        assert set(rec.fingerprints(1)) == {b.fingerprint}
        assert set(rec.fingerprints(2)) == {a.fingerprint, b.fingerprint}

    def test_inhibition(self, clock: FakeClock) -> None:
        """A warning is held back while a critical alert of its cluster fires; sent once that resolves."""
        rec = Recorder(clock)
        inhibitor = Inhibitor([InhibitRule.of("severity=critical", "severity=warning", equal=["cluster"])])
        d = Dispatcher(BY_NAME, [rec], clock=clock, inhibitor=inhibitor)
        critical = firing(clock, alertname="Down", severity="critical", cluster="eu")
        warning = firing(clock, alertname="Slow", severity="warning", cluster="eu")

        async def script() -> None:
            d.put([critical, warning])
            await at(clock, 31)
            assert d.muting(warning).inhibited_by == critical.fingerprint
            await at(clock, 100)
            d.put([critical.resolved(clock.wall())])
            await at(clock, 331)

        drive(clock, d, script)
        assert [(t, n.group_key) for t, n in rec.sent] == [
            (30, '{}:{alertname="Down"}'),
            (330, '{}:{alertname="Down"}'),
            (330, '{}:{alertname="Slow"}'),
        ]


class TestFailures:
    def test_failure_counted_logged_and_retried(self, clock: FakeClock) -> None:
        """A failed notification is counted and logged (secrets masked), not logged as sent, and retried
        at the next flush; the other receiver is not told twice."""
        bad, good = Recorder(clock, "bad", fail=1), Recorder(clock, "good")
        metrics, logger = InMemoryMetricsRecorder(), RecordingLogger()
        d = Dispatcher(BY_NAME, [bad, good], clock=clock, metrics=metrics, logger=logger)

        async def script() -> None:
            d.put([firing(clock, alertname="A")])
            await at(clock, 31)
            assert d.nflog.get('{}:{alertname="A"}', "bad") is None
            await at(clock, 700)

        drive(clock, d, script)
        assert bad.times == [330]
        assert good.times == [30]
        assert metrics.total(ALERT_NOTIFICATIONS_FAILED, {"receiver": "bad"}) == 1
        assert metrics.total(ALERT_NOTIFICATIONS, {"receiver": "bad"}) == 1
        assert metrics.total(ALERT_NOTIFICATIONS, {"receiver": "good"}) == 1
        (warning,) = [r for r in logger.records if r.level == "warning"]
        assert warning.fields["receiver"] == "bad"
        assert "secret" not in str(warning.fields["error"])

    def test_resolved_kept_until_delivered(self, clock: FakeClock) -> None:
        """A resolved alert stays in its group until a flush delivers it."""
        rec = Recorder(clock, fail=0)
        d = Dispatcher(BY_NAME, [rec], clock=clock)
        alert = firing(clock, alertname="A")

        async def script() -> None:
            d.put([alert])
            await at(clock, 100)
            rec._fail = 1
            d.put([alert.resolved(clock.wall())])
            await at(clock, 331)
            assert len(d.groups()) == 1
            await at(clock, 631)
            assert d.groups() == []

        drive(clock, d, script)
        assert rec.times == [30, 630]
        assert rec.sent[1][1].status is AlertStatus.RESOLVED

    def test_alert_firing_again_during_a_flush_is_kept(self, clock: FakeClock) -> None:
        """A resolved alert that fires again while its resolved notification is being sent stays in the
        group (Alertmanager's DeleteIfNotModified) and is announced at the next flush."""
        d: Dispatcher
        alert = firing(clock, alertname="A")

        class Refiring(Recorder):
            async def notify(self, notification: Notification) -> None:
                await super().notify(notification)
                if notification.status is AlertStatus.RESOLVED:
                    d.put([Alert({"alertname": "A"}, clock.wall())])

        rec = Refiring(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)

        async def script() -> None:
            d.put([alert])
            await at(clock, 100)
            d.put([alert.resolved(clock.wall())])
            await at(clock, 331)
            (group,) = d.groups()
            assert group.alerts[0].ends_at is None
            await at(clock, 631)

        drive(clock, d, script)
        assert rec.times == [30, 330, 630]
        assert rec.sent[2][1].status is AlertStatus.FIRING

    def test_hanging_notifier_times_out(self, clock: FakeClock) -> None:
        """A notifier that does not answer within group_interval counts as failed."""
        slow = Recorder(clock, "slow", hang=True)
        metrics = InMemoryMetricsRecorder()
        d = Dispatcher(BY_NAME, [slow], clock=clock, metrics=metrics)

        async def script() -> None:
            d.put([firing(clock, alertname="A")])
            await at(clock, 331)

        drive(clock, d, script)
        assert metrics.total(ALERT_NOTIFICATIONS_FAILED, {"receiver": "slow"}) == 1


class TestContents:
    def test_notification_fields(self, clock: FakeClock) -> None:
        """Receiver, group key and labels, external URL, alerts ordered by job then instance then labels."""
        rec = Recorder(clock)
        route = Route(group_by=("alertname",), matchers=tuple(parse_matchers("severity=page")))
        d = Dispatcher(route, [rec], clock=clock, external_url="http://sc:8080")

        async def script() -> None:
            d.put(
                [
                    firing(clock, alertname="A", severity="page", job="web", instance="2"),
                    firing(clock, alertname="A", severity="page", job="api", instance="9"),
                    firing(clock, alertname="A", severity="page", job="web", instance="1"),
                    firing(clock, alertname="A", severity="page"),
                    firing(clock, alertname="A", severity="info"),  # not this route's
                ]
            )
            await at(clock, 31)

        drive(clock, d, script)
        (n,) = [n for _, n in rec.sent]
        assert (n.receiver, n.group_key, n.group_labels, n.external_url) == (
            "team",
            '{}/{severity="page"}:{alertname="A"}',
            (("alertname", "A"),),
            "http://sc:8080",
        )
        assert [(a.label("job"), a.label("instance")) for a in n.alerts] == [
            ("api", "9"),
            ("web", "1"),
            ("web", "2"),
            ("", ""),
        ]

    def test_update_keeps_the_earliest_start(self, clock: FakeClock) -> None:
        """Putting the same alert again (each evaluation) keeps its first start."""
        d = Dispatcher(BY_NAME, [Recorder(clock)], clock=clock)
        first = firing(clock, alertname="A")
        d.put([first])
        clock.advance(60)
        d.put([firing(clock, alertname="A")])
        (group,) = d.groups()
        assert group.alerts[0].starts_at == first.starts_at


class TestRuntime:
    def test_runs_as_a_runtime_job(self, clock: FakeClock) -> None:
        """``job()`` plugs into the Runtime: a put from another thread wakes it, group_wait later it sends."""
        rec = Recorder(clock)
        d = Dispatcher(BY_NAME, [rec], clock=clock)
        runtime = Runtime(clock=clock)
        runtime.every(d.job().name, d.job().interval, d.job().run)
        runtime.start()
        try:
            clock.advance(5)
            d.put([firing(clock, alertname="A")])
            clock.advance(29)
            assert rec.times == []
            clock.advance(1)
            assert rec.times == [35]
        finally:
            runtime.stop()
