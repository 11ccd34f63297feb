"""Benchmark: events (issue 9): publish latency while a channel is slow, and the Kafka and SQLite channels'
sustained throughput, each against an anchor measured in the same run.

1. ``publish``/``emit`` per call (p50, p99) on a started ``Monitoring`` whose webhook channel answers after
   one second, at a steady rate from the main thread, then from THREADS threads, then with the buffer full
   (``overflow: spill``). Anchors, timed in turn with ours at every tick (so background work hits each
   alike): a ``deque(maxlen=...).append`` under a lock for ``publish`` (the floor of handing over a built
   event) and the stdlib's ``logging`` ``info(..., extra=...)`` to a ``NullHandler`` for ``emit`` (building
   and handing over a record). Target: publish's p99 under 20 us (absolute).
2. Events/s from the first ``publish`` to the last delivery report, through the kafka channel to tansu,
   against a bare confluent-kafka producer with the channel's own librdkafka settings sending the same
   messages (``to_kafka_binary`` of the same events: headers, key, value), encoded in its loop; and,
   informative, the same producer sending messages encoded beforehand. Target: at least 0.8x the anchor's
   rate (ratio = anchor / ours <= 1.25). Skipped, and recorded so, when tansu is not installed.
3. Events/s from the first ``publish`` until the sqlite channel has committed the last one, against
   ``EventStore.append`` of the same events in batches of ``batch_size``, each into a fresh store. Target:
   at least 0.8x the anchor's rate, as for Kafka.

Each throughput run starts once the channel has delivered what the Monitoring published at start (the
process check's first result), so the last batch is a full one and never waits for ``flush_interval``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import Case, case, print_table, skipped, write_results
from sharedconfig.monitoring.events import Category, Event, Severity, to_kafka_binary
from sharedconfig.monitoring.events.channels.sqlite import EventStore
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.names import EVENTS_DELIVERED, EVENTS_FAILED, EVENTS_PUBLISHED
from sharedconfig.monitoring.settings import MonitoringSettings

ROOT = Path(__file__).resolve().parent.parent

# -- 1. publish latency
SLOW_ANSWER = 1.0  # seconds the webhook takes to answer each request
TICKS_PER_SECOND = 1000  # one publish and one emit per tick: 2000 events/s in all, 5x what the webhook takes
SECONDS = 5.0
THREADS = 4  # in the threaded run, each at TICKS_PER_SECOND / THREADS
ROOMY_BUFFER = 50_000  # never full in SECONDS: nothing spills
SPILL_BUFFER = 1_000  # filled before the timed run: every timed publish spills
TARGET_P99_US = 20.0  # the goal for publish's p99 (the seed asks < 10 ms); emit builds the event too
FLOOR = "floor: deque(maxlen).append under a lock"
LOGGING = "logging info(extra=...) to a NullHandler"

# -- 2. and 3. throughput
BATCH_SIZE = 100  # monitoring.events.batch_size's default
KAFKA_EVENTS = 50_000
SQLITE_EVENTS = 20_000
ROUNDS = 5  # contenders take turns, best of each (this machine is shared: bursts of load elsewhere)
TARGET_THROUGHPUT_RATIO = 1.25  # anchor / ours: ours at least 0.8x the anchor's events/s
POLL = 0.002  # seconds between looks at the buffer, then at events_delivered_total
PUBLISHED = {"type": "com.example.order.created"}


def bench_event(n: int) -> Event:
    """A typical business event: a subject (the Kafka key), a small JSON object, an extension."""
    return Event(
        "com.example.order.created",
        "/bench/orders",
        subject=f"order/{n % 64}",
        data={"order": n, "amount": 12.5, "items": ["book", "pen"], "note": "déjà vu"},
        severity=Severity.MEDIUM,
        category=Category.BUSINESS,
        extensions={"tenant": "acme"},
    )


def settings(tmp: Path, channel: dict[str, Any], **events: Any) -> MonitoringSettings:
    """Monitoring with one event channel; journal and dead letters under ``tmp``; quiet logs."""
    return MonitoringSettings.model_validate(
        {
            "logging": {"level": "warning"},
            "shutdown_timeout": "2s",
            "events": {
                "source": "/bench",
                "journal": {"path": str(tmp / "journal")},
                "dead_letter_dir": str(tmp / "dead-letter"),
                "exporters": [channel],
                **events,
            },
        }
    )


def counter(monitoring: Monitoring, name: str, labels: dict[str, str]) -> float:
    """A counter's value, 0 when it has no sample yet."""
    return monitoring.metrics.sample_value(name, labels) or 0.0


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """The ``q`` quantile (nearest rank) of sorted nanoseconds, in microseconds."""
    return sorted_ns[min(len(sorted_ns) - 1, max(0, math.ceil(q * len(sorted_ns)) - 1))] / 1000.0


# -- 1. publish latency while a channel is slow ----------------------------------------------------------


class SlowWebhook(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 that answers 200 after SLOW_ANSWER seconds, on a daemon thread."""

    daemon_threads = True

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                time.sleep(SLOW_ANSWER)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/events"
        threading.Thread(target=self.serve_forever, name="slow-webhook", daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up at stop (the channel closed): nothing to report."""


Op = Callable[[int], object]  # one timed call; the argument is the tick's number


@dataclass
class Latencies:
    """Nanoseconds per call of each contender, from one run (every thread's samples together)."""

    samples: dict[str, list[int]]
    published: int
    refused: int  # publish/emit calls that returned False/None: a drop (none expected)
    waiting: int  # events waiting for delivery at the end (in memory, spilled, in the journal)

    def p(self, who: str, q: float) -> float:
        """``who``'s ``q`` quantile in microseconds."""
        return percentile(sorted(self.samples[who]), q)


def contenders(monitoring: Monitoring) -> dict[str, Op]:
    """publish (an event built outside the timing), emit (builds it), and the two anchors."""
    publisher = monitoring.events
    anchor_log = logging.getLogger("bench.events.anchor")
    anchor_log.propagate = False  # the monitoring's logging part captures the root: keep away from it
    anchor_log.addHandler(logging.NullHandler())
    anchor_log.setLevel(logging.INFO)
    lock = threading.Lock()
    floor: deque[object] = deque(maxlen=ROOMY_BUFFER)
    events = [bench_event(n) for n in range(256)]

    def publish(n: int) -> object:
        return publisher.publish(events[n % len(events)])

    def emit(n: int) -> object:
        return publisher.emit(
            "com.example.order.created",
            f"order/{n % 64}",
            {"order": n, "amount": 12.5, "items": ["book", "pen"], "note": "déjà vu"},
            severity="medium",
            category="business",
            extensions={"tenant": "acme"},
        )

    def log(n: int) -> object:
        anchor_log.info(
            "com.example.order.created",
            extra={
                "subject": f"order/{n % 64}",
                "data": {"order": n, "amount": 12.5, "items": ["book", "pen"], "note": "déjà vu"},
                "severity": "medium",
                "category": "business",
                "tenant": "acme",
            },
        )
        return True

    def append(n: int) -> object:
        with lock:
            floor.append(events[n % len(events)])
        return True

    return {"publish": publish, "emit": emit, "logging": log, "floor": append}


def paced(ops: dict[str, Op], ticks_per_second: float, seconds: float, out: dict[str, list[int]]) -> int:
    """Call every op once per tick, timing each, in an order that rotates every tick; how many returned
    a falsy value (a publish or emit that was refused)."""
    names = list(ops)
    calls = [ops[name] for name in names]
    lists = [out[name] for name in names]
    clock = time.perf_counter_ns
    interval = 1.0 / ticks_per_second
    ticks = int(ticks_per_second * seconds)
    refused = 0
    start = time.perf_counter()
    for tick in range(ticks):
        first = tick % len(calls)
        for i in (*range(first, len(calls)), *range(first)):
            t0 = clock()
            ok = calls[i](tick)
            lists[i].append(clock() - t0)
            refused += not ok
        delay = start + (tick + 1) * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    return refused


def latency_run(webhook: SlowWebhook, *, threads: int, buffer_size: int, fill: bool = False) -> Latencies:
    """One run on a fresh Monitoring with the slow webhook channel; ``threads`` = 1: the main thread;
    ``fill``: the buffer is filled first, so that every timed publish spills."""
    channel = {"type": "webhook", "url": webhook.url, "secret": "bench-secret"}
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
        monitoring = Monitoring(settings(Path(tmp), channel, buffer_size=buffer_size), stream=quiet)
        with monitoring:
            ops = contenders(monitoring)
            paced(ops, 200, 0.5, {name: [] for name in ops})  # warm-up: the channel's first requests
            buffer = monitoring.events.buffer
            assert buffer is not None
            if fill:  # the buffer full before the clock starts: every timed publish spills
                for n in range(buffer.capacity):
                    monitoring.events.publish(bench_event(n))
            before = counter(monitoring, EVENTS_PUBLISHED, PUBLISHED)
            per_thread: list[dict[str, list[int]]] = [{name: [] for name in ops} for _ in range(threads)]
            refused = [0] * threads
            if threads == 1:
                refused[0] = paced(ops, TICKS_PER_SECOND, SECONDS, per_thread[0])
            else:
                barrier = threading.Barrier(threads)

                def work(index: int) -> None:
                    barrier.wait()
                    refused[index] = paced(ops, TICKS_PER_SECOND / threads, SECONDS, per_thread[index])

                workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.join()
            published = counter(monitoring, EVENTS_PUBLISHED, PUBLISHED)
            dropped = sum(buffer.dropped().values())
            waiting, capacity = len(buffer), buffer.capacity
    if dropped:
        raise SystemExit(f"the buffer dropped {dropped} events: the run measured a lossy publish")
    if fill and waiting <= capacity:
        raise SystemExit(f"{waiting} events waiting at the end of the spill run: nothing spilled")
    samples = {name: [s for part in per_thread for s in part[name]] for name in ops}
    return Latencies(samples, int(published - before), sum(refused), waiting)


def latency_cases() -> list[Case]:
    """The publish/emit p50 and p99 cases: main thread, THREADS threads, and the spill case."""
    cases: list[Case] = []
    with SlowWebhook() as webhook:
        runs = {
            "": latency_run(webhook, threads=1, buffer_size=ROOMY_BUFFER),
            f"_{THREADS}_threads": latency_run(webhook, threads=THREADS, buffer_size=ROOMY_BUFFER),
            "_spill": latency_run(webhook, threads=1, buffer_size=SPILL_BUFFER, fill=True),
        }
        webhook.shutdown()
    for suffix, run in runs.items():
        print(
            f"latency run{suffix or '_main_thread'}: {run.published} events published, "
            f"{run.refused} refused, {run.waiting} waiting at the end, "
            f"{len(run.samples['publish'])} calls timed per contender"
        )
        if run.refused:
            raise SystemExit(f"{run.refused} publish/emit calls were refused in run{suffix}")
        for q, label, target in ((0.99, "p99", TARGET_P99_US), (0.5, "p50", None)):
            cases.append(
                case(f"publish_{label}_slow_channel{suffix}", "us", run.p("publish", q),
                     anchor=f"{FLOOR} {label}", anchor_value=run.p("floor", q), target=target)
            )  # fmt: skip
            cases.append(
                case(f"emit_{label}_slow_channel{suffix}", "us", run.p("emit", q),
                     anchor=f"{LOGGING} {label}", anchor_value=run.p("logging", q))
            )  # fmt: skip
    return cases


# -- throughput: shared --------------------------------------------------------------------------------


def published_total(monitoring: Monitoring) -> float:
    """Every event ``publish`` accepted so far, all types together."""
    return sum(
        sample.value
        for family in monitoring.metrics.collect()
        for sample in family.samples
        if sample.name == EVENTS_PUBLISHED
    )


def settle(monitoring: Monitoring, channel: str) -> None:
    """Wait until the channel has delivered every event published so far (the process check's first
    ``health_check_changed`` included), so that a timed run starts with nothing before it."""
    deadline = time.perf_counter() + 30.0
    time.sleep(0.2)  # the first run of every job (the health check publishes on its first result)
    while counter(monitoring, EVENTS_DELIVERED, {"channel": channel}) < published_total(monitoring):
        if time.perf_counter() > deadline:
            raise SystemExit(f"the {channel} channel did not deliver the events published at start")
        time.sleep(0.01)


def delivered_rate(monitoring: Monitoring, channel: str, events: Sequence[Event]) -> float:
    """Publish ``events`` as fast as possible; events/s until the channel has delivered them all."""
    settle(monitoring, channel)
    labels = {"channel": channel}
    base = counter(monitoring, EVENTS_DELIVERED, labels)
    failed = counter(monitoring, EVENTS_FAILED, labels)
    publish = monitoring.events.publish
    buffer = monitoring.events.buffer
    assert buffer is not None
    start = time.perf_counter()
    for event in events:
        if not publish(event):
            raise SystemExit("publish refused an event in a throughput run")
    want = base + len(events)
    deadline = start + 120.0
    while len(buffer) and time.perf_counter() < deadline:  # cheap: a registry collect reads /proc
        time.sleep(POLL)
    while counter(monitoring, EVENTS_DELIVERED, labels) < want:  # the last batches in flight
        if counter(monitoring, EVENTS_FAILED, labels) > failed:
            raise SystemExit(f"the {channel} channel gave up on events (see its dead-letter file)")
        if time.perf_counter() > deadline:
            raise SystemExit(f"the {channel} channel did not deliver {len(events)} events in 120 s")
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    if any(buffer.dropped().values()):
        raise SystemExit(f"events were dropped in a throughput run: {dict(buffer.dropped())}")
    return len(events) / elapsed


# -- 2. kafka ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def tansu() -> Iterator[str | None]:
    """tansu as the integration tests start it (``tests/integration/servers.py``): its address, or None
    when it is not installed (``scripts/install-services`` installs it)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pytest

    from integration.servers import running_tansu, tansu_binary

    try:
        tansu_binary()
    except pytest.skip.Exception as exc:
        print(f"skip: {exc.msg}")
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp, running_tansu(Path(tmp)) as server:
        yield server.address


def bare_producer_rate(producer: Any, topic: str, events: Sequence[Event], *, encode: bool) -> float:
    """A hand-written producer loop: events/s until every delivery report is in (all must say delivered).

    ``encode``: each event goes through ``to_kafka_binary`` in the loop (what the channel does too);
    otherwise the messages are encoded before the clock starts.
    """
    messages = None if encode else [to_kafka_binary(event) for event in events]
    reports = {"ok": 0, "failed": 0}

    def report(error: Any, _message: Any) -> None:
        reports["failed" if error is not None else "ok"] += 1

    produce, poll = producer.produce, producer.poll
    start = time.perf_counter()
    for index, event in enumerate(events):
        headers, value, key = to_kafka_binary(event) if messages is None else messages[index]
        while True:
            try:
                produce(topic, value, key, on_delivery=report, headers=headers)
                break
            except BufferError:  # librdkafka's queue is full: serve reports to make room
                poll(0.05)
        if index % 1000 == 0:
            poll(0)
    if producer.flush(60):
        raise SystemExit("the bare producer still had messages queued after 60 s")
    elapsed = time.perf_counter() - start
    if reports["ok"] != len(events):
        raise SystemExit(f"the bare producer delivered {reports['ok']} of {len(events)}: {reports}")
    return len(events) / elapsed


def kafka_cases() -> list[Case]:
    """Events/s through the kafka channel to tansu against a bare producer, or skipped cases."""
    name = f"kafka_channel_{KAFKA_EVENTS // 1000}k_events"
    anchor = "bare confluent-kafka producer, same librdkafka settings, to_kafka_binary in the loop"
    floor = "bare confluent-kafka producer, same settings, messages encoded beforehand"
    with tansu() as address:
        if address is None:
            reason = "tansu is not installed (scripts/install-services installs it)"
            return [
                skipped(name, "events/s", reason, anchor=anchor, target_ratio=TARGET_THROUGHPUT_RATIO),
                skipped(f"{name}_vs_pre_encoded", "events/s", reason, anchor=floor),
            ]
        import confluent_kafka

        from sharedconfig.monitoring.events.channels.kafka import producer_config
        from sharedconfig.monitoring.settings import KafkaChannelSettings

        channel = {"type": "kafka", "brokers": [address], "topic": "bench-channel"}
        config = producer_config(KafkaChannelSettings.model_validate(channel), client_id="bench-anchor")
        print(f"kafka: tansu at {address}; librdkafka settings {config}")
        events = [bench_event(n) for n in range(KAFKA_EVENTS)]
        best = {"ours": 0.0, "anchor": 0.0, "floor": 0.0}
        producer = confluent_kafka.Producer(config)
        with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
            monitoring = Monitoring(settings(Path(tmp), channel, buffer_size=KAFKA_EVENTS), stream=quiet)
            with monitoring:
                delivered_rate(monitoring, "kafka", events[:1000])  # warm-up: metadata, the topic
                bare_producer_rate(producer, "bench-anchor", events[:1000], encode=True)
                for _ in range(ROUNDS):
                    best["ours"] = max(best["ours"], delivered_rate(monitoring, "kafka", events))
                    best["anchor"] = max(
                        best["anchor"], bare_producer_rate(producer, "bench-anchor", events, encode=True)
                    )
                    best["floor"] = max(
                        best["floor"], bare_producer_rate(producer, "bench-anchor", events, encode=False)
                    )
                    print(f"kafka round: best so far {best}")
        producer.close()
    return [
        case(name, "events/s", best["ours"], anchor=anchor, anchor_value=best["anchor"],
             target_ratio=TARGET_THROUGHPUT_RATIO, throughput=True),
        case(f"{name}_vs_pre_encoded", "events/s", best["ours"], anchor=floor, anchor_value=best["floor"],
             throughput=True),
    ]  # fmt: skip


# -- 3. sqlite ----------------------------------------------------------------------------------------------


def sqlite_channel_rate(events: Sequence[Event]) -> float:
    """Events/s through a fresh Monitoring's sqlite channel into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
        channel = {"type": "sqlite", "path": str(Path(tmp) / "events.sqlite3")}
        monitoring = Monitoring(settings(Path(tmp), channel, buffer_size=len(events)), stream=quiet)
        with monitoring:
            rate = delivered_rate(monitoring, "sqlite", events)
            store = monitoring.events.store
            assert store is not None
            stored = store.count()
    if stored < len(events):
        raise SystemExit(f"the sqlite channel stored {stored} of {len(events)} events")
    return rate


def store_append_rate(events: Sequence[Event]) -> float:
    """Events/s of ``EventStore.append`` in batches of BATCH_SIZE into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp, EventStore(Path(tmp) / "events.sqlite3") as store:
        start = time.perf_counter()
        for i in range(0, len(events), BATCH_SIZE):
            store.append(events[i : i + BATCH_SIZE])
        elapsed = time.perf_counter() - start
        if store.count() != len(events):
            raise SystemExit(f"the store holds {store.count()} of {len(events)} events")
    return len(events) / elapsed


def sqlite_cases() -> list[Case]:
    """Events/s through the sqlite channel against the store's own append in batches of the same size."""
    events = [bench_event(n) for n in range(SQLITE_EVENTS)]
    ours = anchor = 0.0
    for _ in range(ROUNDS):
        ours = max(ours, sqlite_channel_rate(events))
        anchor = max(anchor, store_append_rate(events))
    return [
        case(f"sqlite_channel_{SQLITE_EVENTS // 1000}k_events", "events/s", ours,
             anchor=f"EventStore.append in batches of {BATCH_SIZE}", anchor_value=anchor,
             target_ratio=TARGET_THROUGHPUT_RATIO, throughput=True),
    ]  # fmt: skip


def main() -> int:
    """Measure the three figures, write bench/results/events.json and print the table."""
    cases = [*latency_cases(), *kafka_cases(), *sqlite_cases()]
    path = write_results("events", cases)
    print()
    print_table(cases)
    for c in cases:
        if "skipped" in c:
            print(f"skipped {c['name']}: {c['skipped']}")
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
