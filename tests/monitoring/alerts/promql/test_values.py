"""values.py: the stale marker, label helpers."""

from __future__ import annotations

import math

from sharedconfig.monitoring.alerts.promql.values import (
    STALE_NAN,
    drop_name,
    is_stale,
    label,
    labels,
    without,
)


def test_the_stale_marker_is_one_nan_among_nans() -> None:
    """Prometheus's StaleNaN (0x7ff0000000000002) is stale; an ordinary NaN sample is not."""
    assert math.isnan(STALE_NAN) and is_stale(STALE_NAN)
    assert not is_stale(math.nan) and not is_stale(1.0) and not is_stale(math.inf)


def test_labels_sort_drop_empty_and_read_as_prometheus_does() -> None:
    """Sorted by name, an empty value is an absent label, and an absent label reads as ``""``."""
    ls = labels({"job": "api", "__name__": "up", "env": ""})
    assert ls == (("__name__", "up"), ("job", "api"))
    assert labels([("b", "2"), ("a", "1")]) == (("a", "1"), ("b", "2"))
    assert label(ls, "job") == "api" and label(ls, "env") == ""
    assert drop_name(ls) == (("job", "api"),)
    assert without(ls, ["job"]) == (("__name__", "up"),)
