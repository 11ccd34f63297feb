"""The sample store: scrapes with stale markers, selection by matchers and window, memory bounds."""

from __future__ import annotations

import pytest

from sharedconfig.monitoring.alerts.promql.ast import Matcher
from sharedconfig.monitoring.alerts.promql.store import SampleStore
from sharedconfig.monitoring.alerts.promql.values import STALE_NAN, Series, is_stale, labels

A = labels({"__name__": "up", "job": "a"})
B = labels({"__name__": "up", "job": "b"})
C = labels({"__name__": "errors_total", "job": "a"})


def name(value: str) -> Matcher:
    return Matcher.of("__name__", "=", value)


class TestAppend:
    def test_scrape_points_are_selected_in_a_closed_window(self) -> None:
        """Each scrape adds a point per series; select returns [start, end] inclusive, sorted by labels."""
        store = SampleStore()
        for t in (0, 15_000, 30_000):
            store.append(t, {B: 2.0, A: 1.0})
        assert store.select([name("up")], 15_000, 30_000) == [
            Series(A, ((15_000, 1.0), (30_000, 1.0))),
            Series(B, ((15_000, 2.0), (30_000, 2.0))),
        ]

    def test_a_series_missing_from_a_scrape_gets_one_stale_marker(self) -> None:
        """As in Prometheus: absent now, present last time -> STALE_NAN at this scrape's time, once."""
        store = SampleStore()
        store.append(0, {A: 1.0, B: 1.0})
        store.append(15_000, {A: 1.0})
        store.append(30_000, {A: 1.0})
        (b,) = store.select([Matcher.of("job", "=", "b")], 0, 60_000)
        assert [t for t, _ in b.points] == [0, 15_000]
        assert is_stale(b.points[-1][1])

    def test_a_returning_series_continues_after_its_marker(self) -> None:
        """A series back in a scrape gets points again after its stale marker."""
        store = SampleStore()
        store.append(0, {A: 1.0})
        store.append(15_000, {})
        store.append(30_000, {A: 3.0})
        (a,) = store.select([name("up")], 0, 30_000)
        assert a.points[0] == (0, 1.0) and is_stale(a.points[1][1]) and a.points[2] == (30_000, 3.0)

    def test_sources_go_stale_independently(self) -> None:
        """Another source (a recording rule's output, say) does not make the scrape's series stale."""
        store = SampleStore()
        store.append(0, {A: 1.0})
        store.append(0, {C: 5.0}, source="rules")
        store.append(15_000, {C: 6.0}, source="rules")
        (a,) = store.select([name("up")], 0, 15_000)
        assert a.points == ((0, 1.0),)

    def test_out_of_order_points_are_dropped_and_counted(self) -> None:
        """A point at or before the series' newest time is not stored."""
        store = SampleStore()
        store.write(A, [(10_000, 1.0), (10_000, 2.0), (5_000, 3.0), (20_000, 4.0)])
        assert store.select([name("up")], 0, 30_000)[0].points == ((10_000, 1.0), (20_000, 4.0))
        assert store.out_of_order == 2

    def test_write_keeps_given_stale_markers(self) -> None:
        """write stores points as given, stale markers included, with no staleness of its own."""
        store = SampleStore()
        store.write(A, [(0, 1.0), (60_000, STALE_NAN)])
        store.write(B, [(0, 1.0)])
        assert [len(s.points) for s in store.select([name("up")], 0, 60_000)] == [2, 1]


class TestSelect:
    def test_matchers_read_absent_labels_as_empty(self) -> None:
        """{job=""} selects series without job; !=, =~ and !~ behave as in Prometheus."""
        store = SampleStore()
        bare = labels({"__name__": "up"})
        store.append(0, {A: 1.0, B: 1.0, bare: 1.0, C: 1.0})
        assert store.series([name("up"), Matcher.of("job", "=", "")]) == [bare]
        assert sorted(store.series([Matcher.of("job", "!=", "a")])) == sorted([B, bare])
        assert sorted(store.series([Matcher.of("job", "=~", "a|b"), name("up")])) == [A, B]
        assert sorted(store.series([Matcher.of("__name__", "!~", "up")])) == [C]

    def test_latest_is_the_newest_point_in_the_window(self) -> None:
        """latest gives each series' newest point in [start, end], stale markers included."""
        store = SampleStore()
        store.write(A, [(0, 1.0), (10_000, 2.0), (20_000, STALE_NAN)])
        store.write(B, [(0, 5.0)])
        assert store.latest([name("up")], 0, 15_000) == [(A, (10_000, 2.0)), (B, (0, 5.0))]
        assert store.latest([name("up")], 5_000, 15_000) == [(A, (10_000, 2.0))]
        ((labels_a, (t, v)),) = store.latest([name("up")], 15_000, 30_000)
        assert labels_a == A and t == 20_000 and is_stale(v)

    def test_series_without_points_in_the_window_are_left_out(self) -> None:
        """select only returns series that have a point in the window."""
        store = SampleStore()
        store.append(0, {A: 1.0})
        store.append(60_000, {B: 1.0})
        assert [s.labels for s in store.select([name("up")], 30_000, 60_000)] == [A, B]
        assert [s.labels for s in store.select([name("up")], 61_000, 90_000)] == []


class TestBounds:
    def test_points_older_than_the_retention_go(self) -> None:
        """Points older than retention_ms before the newest time are dropped; gone series are forgotten."""
        store = SampleStore(retention_ms=60_000)
        store.append(0, {A: 1.0, B: 1.0})
        for t in range(15_000, 120_001, 15_000):
            store.append(t, {A: float(t)})
        (a,) = store.select([name("up")], 0, 120_000)
        assert a.points[0][0] == 60_000
        assert len(store) == 1  # B's last point (its stale marker at 15 s) aged out

    def test_points_per_series_are_capped(self) -> None:
        """A series keeps its newest max_points points."""
        store = SampleStore(max_points=4)
        for t in range(10):
            store.append(t * 1000, {A: float(t)})
        assert [v for _, v in store.select([name("up")], 0, 10_000)[0].points] == [6.0, 7.0, 8.0, 9.0]

    def test_series_beyond_the_cap_are_rejected_and_counted(self) -> None:
        """New series beyond max_series are not stored."""
        store = SampleStore(max_series=2)
        store.append(0, {A: 1.0, B: 1.0, C: 1.0})
        assert len(store) == 2 and store.rejected_series == 1

    def test_memory_per_series_is_reported(self) -> None:
        """bytes_per_series reflects the 16 bytes a point takes."""
        store = SampleStore()
        for t in range(100):
            store.append(t * 1000, {A: 1.0})
        assert 1600 <= store.bytes_per_series() < 4 * 1600

    def test_bad_bounds_are_refused(self) -> None:
        """Nonsense limits fail at construction."""
        with pytest.raises(ValueError, match="retention_ms"):
            SampleStore(retention_ms=0)
