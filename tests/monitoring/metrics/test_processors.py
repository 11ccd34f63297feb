"""Tests for sharedconfig.monitoring.metrics.processors: namespace, histogram sampling, cardinality limit.

Each processor is called directly with a small in-memory index, as the registry calls it on a new series.
"""

from __future__ import annotations

import pytest

from sharedconfig.monitoring.metrics.model import Labels, MetricType
from sharedconfig.monitoring.metrics.processors import (
    OVERFLOW_LABELS,
    CardinalityLimit,
    Namespace,
    SeriesDraft,
)


class FakeIndex:
    """A SeriesIndex over a fixed set of (family, labels) series."""

    def __init__(self, *series: tuple[str, Labels]) -> None:
        self.series = set(series)

    def series_count(self, name: str) -> int:
        """How many series the family has."""
        return sum(1 for family, _ in self.series if family == name)

    def has_series(self, name: str, labels: Labels) -> bool:
        """Whether the series exists."""
        return (name, labels) in self.series


GET: Labels = (("method", "GET"),)
POST: Labels = (("method", "POST"),)


class TestNamespace:
    """Namespace prefixes names and validates the prefix."""

    def test_prefixes_the_name(self) -> None:
        """A non-empty prefix is joined to the name with an underscore; labels are untouched."""
        draft = Namespace("shop")(FakeIndex(), SeriesDraft("orders", MetricType.COUNTER, GET))
        assert draft == SeriesDraft("shop_orders", MetricType.COUNTER, GET)

    def test_empty_prefix_changes_nothing(self) -> None:
        """An empty prefix returns the same draft."""
        draft = SeriesDraft("orders", MetricType.COUNTER)
        assert Namespace("")(FakeIndex(), draft) is draft

    @pytest.mark.parametrize("prefix", ["1shop", "shop-api", "a b"])
    def test_rejects_an_invalid_prefix(self, prefix: str) -> None:
        """A prefix that would make names invalid raises ValueError when constructed."""
        with pytest.raises(ValueError, match="namespace"):
            Namespace(prefix)


class TestCardinalityLimit:
    """CardinalityLimit admits series up to the limit and folds the rest into the overflow series."""

    def test_admits_while_there_is_room(self) -> None:
        """A new label set is admitted while the family has fewer series than the limit."""
        draft = SeriesDraft("requests", MetricType.COUNTER, POST)
        assert CardinalityLimit(2)(FakeIndex(("requests", GET)), draft) is draft

    def test_folds_a_new_label_set_at_the_limit(self) -> None:
        """At the limit a new label set becomes the overflow draft."""
        draft = CardinalityLimit(1)(
            FakeIndex(("requests", GET)), SeriesDraft("requests", MetricType.COUNTER, POST)
        )
        assert draft.labels == OVERFLOW_LABELS
        assert draft.overflow

    def test_keeps_existing_series_at_the_limit(self) -> None:
        """A label set that already has a series is never folded."""
        draft = SeriesDraft("requests", MetricType.COUNTER, GET)
        assert CardinalityLimit(1)(FakeIndex(("requests", GET)), draft) is draft

    def test_counts_per_metric(self) -> None:
        """Other families' series do not count against this one."""
        draft = SeriesDraft("requests", MetricType.COUNTER, GET)
        assert CardinalityLimit(1)(FakeIndex(("errors", GET)), draft) is draft

    def test_per_metric_override(self) -> None:
        """``per_metric`` gives one family its own limit."""
        index = FakeIndex(("requests", GET))
        limit = CardinalityLimit(1, per_metric={"requests": 5})
        assert not limit(index, SeriesDraft("requests", MetricType.COUNTER, POST)).overflow
        assert limit(FakeIndex(("errors", GET)), SeriesDraft("errors", MetricType.COUNTER, POST)).overflow

    @pytest.mark.parametrize("limit", [0, -1])
    def test_rejects_a_limit_below_one(self, limit: int) -> None:
        """A limit below one raises ValueError, in the default or per metric."""
        with pytest.raises(ValueError, match="at least 1"):
            CardinalityLimit(limit)
        with pytest.raises(ValueError, match="at least 1"):
            CardinalityLimit(10, per_metric={"x": limit})
