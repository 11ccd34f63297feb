"""Benchmark: the metrics hot path (record_counter, declared child inc, histogram observe) against anchors.

Anchors in the same run: prometheus_client, the OpenTelemetry SDK and a pure-Python floor; 1 and 4 threads.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Case, case, print_table, timeit_best, write_results
from sharedconfig.monitoring.metrics.registry import DEFAULT_BUCKETS, MetricsRegistry

ROOT = Path(__file__).resolve().parent.parent

LABELS = {"method": "GET", "status": "200"}
LOOP = 1000  # operations per timed call, so the call itself is not what we measure
NUMBER, REPEAT = 50, 3
ROUNDS = 5  # contenders take turns, so a burst of load elsewhere on the machine hits each of them alike
THREADS, THREAD_OPS = 4, 100_000
VALUE = 0.3
FLOOR = "floor: tuple(sorted(labels.items())) key + dict update under a lock"

Op = Callable[[int], None]  # runs the operation n times


def ns_per_op(op: Op) -> float:
    """Nanoseconds per operation: best of REPEAT runs of NUMBER x LOOP operations."""
    return timeit_best(lambda: op(LOOP), number=NUMBER, repeat=REPEAT) / LOOP * 1e9


def threaded_ops_per_second(op: Op) -> float:
    """Total operations per second of THREADS threads each running THREAD_OPS operations (best of 2)."""
    best = 0.0
    for _ in range(2):
        barrier = threading.Barrier(THREADS + 1)

        def work(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            op(THREAD_OPS)

        workers = [threading.Thread(target=work) for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        barrier.wait()
        start = time.perf_counter()
        for worker in workers:
            worker.join()
        best = max(best, THREADS * THREAD_OPS / (time.perf_counter() - start))
    return best


# -- contenders --------------------------------------------------------------------------------------------


def ops(
    record_counter: Callable[..., None],
    record_histogram: Callable[..., None],
    inc: Callable[[], None],
    observe: Callable[[float], None],
) -> dict[str, Op]:
    """The four operations every contender is timed on (bench/multiprocess_hot_path.py too)."""

    def counter(n: int, labels: dict[str, str] = LABELS) -> None:
        for _ in range(n):
            record_counter("bench_requests_total", 1, labels)

    def child(n: int) -> None:
        for _ in range(n):
            inc()

    def histogram(n: int, labels: dict[str, str] = LABELS) -> None:
        for _ in range(n):
            record_histogram("bench_latency_seconds", VALUE, labels)

    def histogram_child(n: int) -> None:
        for _ in range(n):
            observe(VALUE)

    return {"counter": counter, "child": child, "histogram": histogram, "histogram_child": histogram_child}


def ours(registry: MetricsRegistry | None = None) -> dict[str, Op]:
    """sharedconfig's MetricsRegistry (a new one unless given): dict-labelled calls and declared children."""
    registry = MetricsRegistry() if registry is None else registry
    counter_inc = (
        registry.counter("bench_declared_total", "Bench.", ("method", "status")).labels(**LABELS).inc
    )
    observe = (
        registry.histogram("bench_declared_seconds", "Bench.", ("method", "status")).labels(**LABELS).observe
    )
    return ops(registry.record_counter, registry.record_histogram, counter_inc, observe)


def prometheus() -> dict[str, Op]:
    """prometheus_client as its docs show it: labels(**l) per call, or a cached child."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    counter_family = Counter("bench_requests", "Bench.", ("method", "status"), registry=registry)
    histogram_family = Histogram(
        "bench_latency_seconds", "Bench.", ("method", "status"), registry=registry, buckets=DEFAULT_BUCKETS
    )
    counter_inc = counter_family.labels(**LABELS).inc
    observe = histogram_family.labels(**LABELS).observe

    def counter(n: int, labels: dict[str, str] = LABELS) -> None:
        for _ in range(n):
            counter_family.labels(**labels).inc()

    def child(n: int) -> None:
        for _ in range(n):
            counter_inc()

    def histogram(n: int, labels: dict[str, str] = LABELS) -> None:
        for _ in range(n):
            histogram_family.labels(**labels).observe(VALUE)

    def histogram_child(n: int) -> None:
        for _ in range(n):
            observe(VALUE)

    return {"counter": counter, "child": child, "histogram": histogram, "histogram_child": histogram_child}


def opentelemetry() -> tuple[dict[str, Op], Any]:
    """The OpenTelemetry SDK: one MeterProvider with an in-memory reader, set up once."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("bench")
    counter_instrument = meter.create_counter("bench_requests")
    histogram_instrument = meter.create_histogram("bench_latency_seconds", unit="s")

    def counter(n: int, attributes: dict[str, str] = LABELS) -> None:
        add = counter_instrument.add
        for _ in range(n):
            add(1, attributes)

    def histogram(n: int, attributes: dict[str, str] = LABELS) -> None:
        record = histogram_instrument.record
        for _ in range(n):
            record(VALUE, attributes)

    return {"counter": counter, "histogram": histogram}, provider


def floor() -> Op:
    """The pure-Python floor for a label-dict API: a sorted key and a dict update under a lock."""
    lock = threading.Lock()
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def counter(n: int, labels: dict[str, str] = LABELS) -> None:
        for _ in range(n):
            key = ("bench_requests_total", tuple(sorted(labels.items())))
            with lock:
                values[key] = values.get(key, 0.0) + 1

    return counter


def check_correct() -> None:
    """Our threaded totals are exact (the anchors' are too): a fast but lossy hot path would not count."""
    registry = MetricsRegistry()
    threads = [
        threading.Thread(
            target=lambda: [registry.record_counter("check_total", 1, LABELS) for _ in range(10_000)]
        )
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = registry.sample_value("check_total", LABELS)
    if total != THREADS * 10_000:
        raise SystemExit(f"lost increments: {total} != {THREADS * 10_000}")


def throughput_case(name: str, ours_ops: float, anchor: str, anchor_ops: float) -> Case:
    """A throughput case in ops/s; ratio = anchor / ours so that lower is still better."""
    result = case(name, "ops/s", ours_ops, anchor=anchor, anchor_value=anchor_ops)
    result["ours"] = round(ours_ops, 1)
    result["anchor_value"] = round(anchor_ops, 1)
    result["ratio"] = round(anchor_ops / ours_ops, 3)
    return result


def main() -> int:
    """Measure every contender, write bench/results/metrics_hot_path.json and print the table."""
    check_correct()
    mine, prom, floor_op = ours(), prometheus(), floor()
    otel, provider = opentelemetry()
    try:
        contenders = {"ours": mine, "prom": prom, "otel": otel, "floor": {"counter": floor_op}}
        single = {who: dict.fromkeys(ops, float("inf")) for who, ops in contenders.items()}
        threaded = {who: dict.fromkeys(("counter", "child", "histogram"), 0.0) for who in ("ours", "prom")}
        for _ in range(ROUNDS):
            for who, ops in contenders.items():
                for key, op in ops.items():
                    single[who][key] = min(single[who][key], ns_per_op(op))
            for who, ops in (("ours", mine), ("prom", prom)):
                for key in threaded[who]:
                    threaded[who][key] = max(threaded[who][key], threaded_ops_per_second(ops[key]))
        floor_ns = single["floor"]["counter"]
    finally:
        provider.shutdown()
    o, p, t = single["ours"], single["prom"], single["otel"]
    prom_labels = "prometheus_client labels(**l).inc()"
    prom_observe = "prometheus_client labels(**l).observe(v)"
    cases: list[Case] = [
        case("record_counter_2_labels", "ns/op", o["counter"], anchor=prom_labels, anchor_value=p["counter"],
             target_ratio=0.5),
        case("record_counter_2_labels_vs_otel", "ns/op", o["counter"],
             anchor="OpenTelemetry SDK counter.add(1, attrs)", anchor_value=t["counter"], target_ratio=0.1),
        case("record_counter_2_labels_vs_floor", "ns/op", o["counter"], anchor=FLOOR, anchor_value=floor_ns),
        case("declared_child_inc", "ns/op", o["child"], anchor="prometheus_client cached child .inc()",
             anchor_value=p["child"], target_ratio=0.8),
        case("record_histogram_2_labels", "ns/op", o["histogram"], anchor=prom_observe,
             anchor_value=p["histogram"], target_ratio=0.5),
        case("record_histogram_2_labels_vs_otel", "ns/op", o["histogram"],
             anchor="OpenTelemetry SDK histogram.record(v, attrs)", anchor_value=t["histogram"]),
        case("declared_histogram_child_observe", "ns/op", o["histogram_child"],
             anchor="prometheus_client cached child .observe(v)", anchor_value=p["histogram_child"]),
        throughput_case("record_counter_2_labels_4_threads", threaded["ours"]["counter"], prom_labels,
                        threaded["prom"]["counter"]),
        throughput_case("declared_child_inc_4_threads", threaded["ours"]["child"],
                        "prometheus_client cached child .inc()", threaded["prom"]["child"]),
        throughput_case("record_histogram_2_labels_4_threads", threaded["ours"]["histogram"],
                        prom_observe, threaded["prom"]["histogram"]),
    ]  # fmt: skip
    path = write_results("metrics_hot_path", cases)
    print_table(cases)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
