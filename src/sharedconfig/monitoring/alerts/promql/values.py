"""The values PromQL computes with, shared by the store, the evaluator, functions and operators.

Timestamps are integer milliseconds since the epoch, as in Prometheus (``promtool`` prints and compares
them that way); sample values are floats, with ``STALE_NAN`` (Prometheus's stale marker, a NaN with a
particular bit pattern) telling a series ended. Labels are a sorted tuple of ``(name, value)`` pairs,
``__name__`` included when the series has a metric name: hashable, so they key dicts and sets, and
comparable, so results sort the way Prometheus sorts them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "METRIC_NAME",
    "STALE_NAN",
    "Labels",
    "Matrix",
    "Point",
    "Sample",
    "Series",
    "Vector",
    "drop_name",
    "is_stale",
    "label",
    "labels",
    "without",
]

METRIC_NAME: Final = "__name__"

Labels: TypeAlias = tuple[tuple[str, str], ...]
"""Sorted ``(name, value)`` pairs; no empty values (an empty label is the same as an absent one)."""

Point: TypeAlias = tuple[int, float]
"""``(timestamp in ms, value)``."""

STALE_NAN: Final[float] = struct.unpack(">d", bytes.fromhex("7ff0000000000002"))[0]
"""Prometheus's stale marker (``value.StaleNaN``): written when a series disappears from a scrape."""

_STALE_BITS: Final = 0x7FF0000000000002


def is_stale(value: float) -> bool:
    """True for the stale marker (not for any other NaN, which is an ordinary sample value)."""
    return math.isnan(value) and struct.unpack(">Q", struct.pack(">d", value))[0] == _STALE_BITS


def labels(pairs: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> Labels:
    """Labels from a mapping or pairs: sorted by name, empty values dropped."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((name, value) for name, value in items if value != ""))


def label(of: Labels, name: str) -> str:
    """The value of label ``name`` in ``of``, or ``""`` when it is absent (as Prometheus reads it)."""
    for key, value in of:
        if key == name:
            return value
    return ""


def without(of: Labels, names: Iterable[str]) -> Labels:
    """``of`` without the labels called ``names``."""
    drop = frozenset(names)
    return tuple((k, v) for k, v in of if k not in drop)


def drop_name(of: Labels) -> Labels:
    """``of`` without ``__name__`` (what functions and most operators return)."""
    return tuple((k, v) for k, v in of if k != METRIC_NAME)


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector: a series' labels and its value at the evaluation time ``t``."""

    labels: Labels
    value: float
    t: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """One element of a range vector: a series' labels and its points in a window, oldest first."""

    labels: Labels
    points: tuple[Point, ...]


Vector: TypeAlias = list[Sample]
Matrix: TypeAlias = list[Series]
