"""The evaluator's semantics: lookback and window ends (v2 closed, v3 left-open), staleness, offset, @,
subqueries, the worked example, absent/timestamp/scalar/vector, and errors."""

from __future__ import annotations

import importlib
import math
import re
from types import ModuleType

import pytest

from sharedconfig.monitoring.alerts.promql.engine import Engine
from sharedconfig.monitoring.alerts.promql.parse import PromQLError, parse
from sharedconfig.monitoring.alerts.promql.store import SampleStore
from sharedconfig.monitoring.alerts.promql.values import STALE_NAN, Sample, Series, labels

MIN = 60_000
ERRORS = labels({"__name__": "errors_total", "job": "api"})
UP = labels({"__name__": "up", "job": "api"})


@pytest.fixture
def store() -> SampleStore:
    """errors_total 0+10x15 and up 1 at every minute, as promtool would load them."""
    store = SampleStore()
    for i in range(16):
        store.append(i * MIN, {ERRORS: 10.0 * i, UP: 1.0})
    return store


def samples(result: object) -> list[Sample]:
    assert isinstance(result, list) and all(isinstance(s, Sample) for s in result)
    return [s for s in result if isinstance(s, Sample)]


def values(result: object) -> list[float]:
    return [s.value for s in samples(result)]


class TestWorkedExample:
    @pytest.mark.parametrize("compat", ["v2", "v3"])
    def test_rate_while_the_window_fills(self, store: SampleStore, compat: str) -> None:
        """SERVICES.md: rate(errors_total[5m]) is 0.033, 0.067, 0.100, 0.133, 0.167 at 1..5m."""
        engine = Engine(store, compat=compat)  # type: ignore[arg-type]
        got = [values(engine.instant("rate(errors_total[5m])", m * MIN)) for m in range(1, 6)]
        assert [round(v[0], 3) for v in got] == [0.033, 0.067, 0.1, 0.133, 0.167]
        assert values(engine.instant("rate(errors_total[5m])", 0)) == []

    def test_result_labels_drop_the_name(self, store: SampleStore) -> None:
        """rate drops __name__; last_over_time keeps it."""
        engine = Engine(store)
        (rate,) = samples(engine.instant("rate(errors_total[5m])", 5 * MIN))
        (last,) = samples(engine.instant("last_over_time(errors_total[5m])", 5 * MIN))
        assert rate.labels == (("job", "api"),) and last.labels == ERRORS


class TestWindows:
    def sparse(self) -> SampleStore:
        store = SampleStore()
        store.write(UP, [(0, 1.0), (MIN, 2.0)])
        return store

    def test_lookback_is_closed_in_v2_and_left_open_in_v3(self) -> None:
        """A point exactly lookback before t is seen by Prometheus 2, not by Prometheus 3."""
        store = self.sparse()
        assert values(Engine(store, compat="v2").instant("up", 6 * MIN)) == [2.0]
        assert values(Engine(store, compat="v3").instant("up", 6 * MIN)) == []
        assert values(Engine(store, compat="v3").instant("up", 6 * MIN - 1)) == [2.0]
        assert values(Engine(store, lookback_ms=MIN).instant("up", MIN + 30_000)) == [2.0]

    def test_range_window_is_closed_in_v2_and_left_open_in_v3(self) -> None:
        """count_over_time(up[1m]) at 1m: both points in v2, only the newest in v3 (documented example)."""
        store = self.sparse()
        assert values(Engine(store, compat="v2").instant("count_over_time(up[1m])", MIN)) == [2.0]
        assert values(Engine(store, compat="v3").instant("count_over_time(up[1m])", MIN)) == [1.0]

    def test_a_stale_marker_ends_a_series_at_once(self) -> None:
        """After its stale marker a series is absent, without waiting for the lookback."""
        store = SampleStore()
        store.write(UP, [(0, 1.0), (MIN, STALE_NAN), (3 * MIN, 5.0)])
        engine = Engine(store)
        assert values(engine.instant("up", 30_000)) == [1.0]
        assert values(engine.instant("up", 2 * MIN)) == []
        assert values(engine.instant("up", 3 * MIN)) == [5.0]
        assert values(engine.instant("count_over_time(up[5m])", 3 * MIN)) == [2.0]  # the marker is no point

    def test_offset_and_at(self, store: SampleStore) -> None:
        """offset looks back from t; @ fixes the time; @ start()/end() are the query time."""
        engine = Engine(store)
        assert values(engine.instant("errors_total offset 2m", 5 * MIN)) == [30.0]
        assert values(engine.instant("errors_total offset -2m", 5 * MIN)) == [70.0]
        assert values(engine.instant("errors_total @ 120", 10 * MIN)) == [20.0]
        assert values(engine.instant("errors_total @ 240 offset 1m", 10 * MIN)) == [30.0]
        assert values(engine.instant("errors_total @ end()", 7 * MIN)) == [70.0]
        assert values(engine.instant("increase(errors_total[2m] @ 300)", 15 * MIN)) == pytest.approx([20.0])

    def test_subquery_steps_are_aligned_to_the_epoch(self, store: SampleStore) -> None:
        """errors_total[5m:2m] at 5m30s evaluates at 2m and 4m (multiples of 2m), not 1m30s, 3m30s, ..."""
        engine = Engine(store, compat="v2")
        result = engine.instant("errors_total[5m:2m]", 5 * MIN + 30_000)
        assert isinstance(result, list)
        (series,) = result
        assert isinstance(series, Series)
        assert series.points == ((2 * MIN, 20.0), (4 * MIN, 40.0))

    def test_subquery_start_is_closed_in_v2_and_open_in_v3(self, store: SampleStore) -> None:
        """A step exactly range before t is evaluated by Prometheus 2 only."""
        v2 = Engine(store, compat="v2").instant("count_over_time(errors_total[4m:2m])", 6 * MIN)
        v3 = Engine(store, compat="v3").instant("count_over_time(errors_total[4m:2m])", 6 * MIN)
        assert values(v2) == [3.0] and values(v3) == [2.0]

    def test_subquery_default_step_is_the_evaluation_interval(self, store: SampleStore) -> None:
        """Without a step, the engine's default_step_ms (the rules' evaluation interval) is used."""
        engine = Engine(store, default_step_ms=30_000)
        assert values(engine.instant("count_over_time(up[2m:])", 4 * MIN)) == [4.0]


class TestFunctions:
    def test_absent_and_absent_over_time(self, store: SampleStore) -> None:
        """1 with the selector's = labels when nothing matches; nothing when something does."""
        engine = Engine(store)
        assert engine.instant('absent(nope{job="x", a=~"y", b="1", b="2"})', 0) == [
            Sample((("job", "x"),), 1.0, 0)
        ]
        assert engine.instant("absent(up)", 0) == []
        assert engine.instant('absent_over_time(nope{k="v"}[1m])', 0) == [Sample((("k", "v"),), 1.0, 0)]
        assert engine.instant("absent_over_time(up[1m])", 0) == []
        assert values(engine.instant("present_over_time(up[1m])", 0)) == [1.0]

    def test_time_timestamp_vector_scalar(self, store: SampleStore) -> None:
        """time() in seconds; timestamp() of a selector is its point's time; vector/scalar convert."""
        engine = Engine(store)
        assert engine.instant("time()", 90_000) == 90.0
        assert values(engine.instant("timestamp(up)", 90_000)) == [60.0]
        assert values(engine.instant("timestamp(-up)", 90_000)) == [90.0]
        assert engine.instant("vector(2)", 0) == [Sample((), 2.0, 0)]
        assert engine.instant("scalar(up)", 0) == 1.0
        assert math.isnan(engine.instant('scalar({job="api"})', 0))  # type: ignore[arg-type]

    def test_unary_minus_and_literals(self, store: SampleStore) -> None:
        """-x drops the name; literals evaluate to themselves."""
        engine = Engine(store)
        assert engine.instant("-up", 0) == [Sample((("job", "api"),), -1.0, 0)]
        assert engine.instant('"text"', 0) == "text"
        assert engine.instant("-(2)", 0) == -2.0

    def test_a_parsed_tree_evaluates_like_its_text(self, store: SampleStore) -> None:
        """instant takes text or a parsed tree."""
        engine = Engine(store)
        assert engine.instant(parse("rate(errors_total[5m])"), 5 * MIN) == engine.instant(
            "rate(errors_total[5m])", 5 * MIN
        )

    def test_range_query_steps_instant_evaluations(self, store: SampleStore) -> None:
        """range_query collects one series per labels over the steps."""
        (series,) = Engine(store).range_query("errors_total", 0, 2 * MIN, MIN)
        assert series.points == ((0, 0.0), (MIN, 10.0), (2 * MIN, 20.0))


class TestErrors:
    def test_same_labelset_after_dropping_names(self) -> None:
        """Two series that differ only by name collide after rate: Prometheus's error."""
        store = SampleStore()
        for i in range(3):
            store.append(
                i * MIN,
                {
                    labels({"__name__": "a", "j": "1"}): float(i),
                    labels({"__name__": "b", "j": "1"}): float(i),
                },
            )
        with pytest.raises(PromQLError, match="same labelset"):
            Engine(store).instant('rate({j="1"}[5m])', 2 * MIN)

    def test_a_missing_piece_is_not_supported_yet(
        self, store: SampleStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Operators, aggregations and instant functions are sibling modules: a missing one, a clear error."""
        real = importlib.import_module

        def without_siblings(name: str, package: str | None = None) -> ModuleType:
            if name.rsplit(".", 1)[-1] in ("binary", "aggregate", "functions_instant"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return real(name, package)

        monkeypatch.setattr(importlib, "import_module", without_siblings)
        engine = Engine(store)
        for query, what in [
            ("up > 0", "operator >"),
            ("sum(up)", "aggregation sum"),
            ("abs(up)", "function abs()"),
        ]:
            with pytest.raises(PromQLError, match=f"^{re.escape(what)} is not supported yet$"):
                engine.instant(query, 0)

    def test_bad_settings_and_bad_queries(self, store: SampleStore) -> None:
        """compat other than v2/v3 is refused; a syntax error is a PromQLError."""
        with pytest.raises(ValueError, match="compat"):
            Engine(store, compat="v1")  # type: ignore[arg-type]
        with pytest.raises(PromQLError):
            Engine(store).instant("rate(", 0)
