"""Benchmark: a /metrics render (collect + text format) of 1k and 10k series against prometheus_client.

Equivalent registries in the same run: the same families, labels, buckets and values; ``_created`` is off.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from _common import Case, case, print_table, timeit_best, write_results
from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.metrics.registry import DEFAULT_BUCKETS, MetricsRegistry

ROOT = Path(__file__).resolve().parent.parent
R = TypeVar("R")
SIZES = (1_000, 10_000)
METHODS = ("GET", "POST", "PUT", "DELETE")
REPEAT = 5
MEASURE_SECONDS = 2.0  # wall time aimed at for each measure (REPEAT runs together)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def measure(fn: Callable[[], object]) -> float:
    """Milliseconds per call, with ``number`` chosen so that the whole measure takes ~MEASURE_SECONDS."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    number = max(1, int(MEASURE_SECONDS / REPEAT / once))
    return timeit_best(fn, number=number, repeat=REPEAT) * 1000.0


def series_labels(count: int) -> list[tuple[str, str]]:
    """``count`` distinct (method, route) label values."""
    return [(METHODS[i % len(METHODS)], f"/api/v1/items/{i}") for i in range(count)]


def ours(kind: str, count: int) -> MetricsRegistry:
    """Our registry with ``count`` series of one counter or histogram family."""
    registry = MetricsRegistry(cardinality_limit=count)
    if kind == "counter":
        counter = registry.counter("http_requests_total", "Requests served.", ("method", "route"))
        for i, (method, route) in enumerate(series_labels(count)):
            counter.labels(method, route).inc(i + 1)
    else:
        histogram = registry.histogram(
            "http_request_duration_seconds", "Request latency.", ("method", "route")
        )
        for i, (method, route) in enumerate(series_labels(count)):
            histogram.labels(method, route).observe((i % 100) / 50.0)
    return registry


def prometheus(kind: str, count: int) -> CollectorRegistry:
    """A prometheus_client CollectorRegistry holding the same series."""
    registry = CollectorRegistry()
    if kind == "counter":
        counter = Counter("http_requests", "Requests served.", ("method", "route"), registry=registry)
        for i, (method, route) in enumerate(series_labels(count)):
            counter.labels(method, route).inc(i + 1)
    else:
        histogram = Histogram(
            "http_request_duration_seconds",
            "Request latency.",
            ("method", "route"),
            registry=registry,
            buckets=DEFAULT_BUCKETS,
        )
        for i, (method, route) in enumerate(series_labels(count)):
            histogram.labels(method, route).observe((i % 100) / 50.0)
    return registry


def measure_registry(
    registry: R, text: Callable[[R], bytes], openmetrics: Callable[[R], bytes]
) -> tuple[int, float, float]:
    """Sample lines in the text output, then ms per text render and per OpenMetrics render."""
    return (
        sample_count(text(registry)),
        measure(lambda: text(registry)),
        measure(lambda: openmetrics(registry)),
    )


def sample_count(text: bytes) -> int:
    """Sample lines in an exposition (lines not starting with #)."""
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def main() -> int:
    """Measure both renders per size and kind, write bench/results/exposition.json and print the table."""
    prometheus_client.disable_created_metrics()
    cases: list[Case] = []
    for kind in ("counter", "histogram"):
        for count in SIZES:
            # one registry alive at a time, so neither pays for the other's objects in the garbage collector
            our_samples, our_text, our_openmetrics = measure_registry(
                ours(kind, count), lambda r: generate(r, None)[0], lambda r: generate(r, OPENMETRICS)[0]
            )
            their_samples, their_text, their_openmetrics = measure_registry(
                prometheus(kind, count), generate_latest, generate_openmetrics
            )
            if our_samples != their_samples:
                raise SystemExit(
                    f"{kind} x {count}: {our_samples} samples, prometheus_client {their_samples}"
                )
            label = f"{count // 1000}k_{kind}_series"
            cases.append(
                case(
                    f"render_text_{label}",
                    "ms/op",
                    our_text,
                    anchor="prometheus_client generate_latest",
                    anchor_value=their_text,
                    target_ratio=0.5,
                )
            )
            cases.append(
                case(
                    f"render_openmetrics_{label}",
                    "ms/op",
                    our_openmetrics,
                    anchor="prometheus_client openmetrics generate_latest",
                    anchor_value=their_openmetrics,
                )
            )
    path = write_results("exposition", cases)
    print_table(cases)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
