"""Benchmark: how fast a pushed change reaches every service watching a shared store (issue 10).

SUBSCRIBERS processes each run a ``ConfigWatcher`` over the store (``load(stores=[url])``'s options) with
one subscriber on ``monitoring.sample_rate``. The parent then pushes PUSHES changes of that key, one at
a time (a compare-and-swap save of the document, as ``sharedconfig push`` writes it), and waits until
every process has seen each one. Latency: from the save returning to each process's subscriber callback
(both read ``time.monotonic()``, one clock for every process on Linux); p50 and p99 over all
PUSHES x SUBSCRIBERS deliveries. A delivery can come before the pushing process gets the CPU back to
see its save return (a small negative latency on a machine with fewer cores than processes).
Target: p99 < 100 ms (an etcd watch event arrives ~10 ms after the put and a load takes ~1 ms). Run
for etcd, then for Redis; a server that is not installed is recorded as skipped
(scripts/install-services installs both).

``python bench/reload_propagation.py`` runs it; ``python bench/reload_propagation.py subscribe URL`` is
one subscriber process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import Case, case, print_table, skipped, write_results

SUBSCRIBERS = 10
PUSHES = 50
TARGET_P99_MS = 100.0
READY_TIMEOUT = 60.0  # real seconds for a server, or every subscriber, to be ready
DELIVERY_TIMEOUT = 10.0  # real seconds for one push to reach every subscriber

DOCUMENT = "monitoring:\n  sample_rate: {rate}\n"


def subscribe(url: str) -> None:
    """One subscriber process: print ``ready``, then ``RATE MONOTONIC`` for every change seen."""
    from sharedconfig.config.loader import LoadOptions
    from sharedconfig.config.watcher import ConfigWatcher

    def seen(old: Any, new: Any, diff: Any) -> None:
        now = time.monotonic()
        print(f"{new.get('monitoring.sample_rate')} {now}", flush=True)

    watcher: ConfigWatcher[Any] = ConfigWatcher(options=LoadOptions(stores=[url], env_file=None))
    watcher.subscribe("monitoring.sample_rate", seen)
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        watcher.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def server(kind: str, workdir: Path) -> Iterator[str | None]:
    """Start etcd or redis-server on a free port; yield the store URL (None when not installed)."""
    port = free_port()
    if kind == "etcd":
        binary = shutil.which("etcd")
        peer = free_port()
        client, peer_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{peer}"
        args = [
            f"--name=b{port}",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=b{port}={peer_url}",
        ]
        url = f"etcd://127.0.0.1:{port}/bench"
    else:
        binary = shutil.which("redis-server")
        args = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        args += ["--dir", str(workdir)]
        url = f"redis://127.0.0.1:{port}/0/bench"
    if binary is None:
        yield None
        return
    with open(workdir / f"{kind}.log", "wb") as log:
        process = subprocess.Popen(
            [binary, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not start: see {workdir / f'{kind}.log'}")
            time.sleep(0.1)
        if kind == "etcd":
            _wait_etcd(url, deadline)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait_etcd(url: str, deadline: float) -> None:
    from sharedconfig.config.stores import StoreUnavailable, open_store, read_snapshot

    while True:
        try:
            asyncio.run(read_snapshot(open_store, _parsed(url)))
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _parsed(url: str) -> Any:
    from sharedconfig.config.stores import parse_store_url

    return parse_store_url(url)


class Subscriber:
    """A subscriber process and what it printed."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "subscribe", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=tempfile.gettempdir(),
        )
        self.ready = threading.Event()
        self.seen: dict[float, float] = {}
        self.arrived = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "ready":
                self.ready.set()
                continue
            rate, when = line.split()
            with self.arrived:
                self.seen[float(rate)] = float(when)
                self.arrived.notify_all()

    def wait_for(self, rate: float, deadline: float) -> float:
        with self.arrived:
            while rate not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise RuntimeError(f"a subscriber did not see sample_rate {rate}")
                self.arrived.wait(left)
            return self.seen[rate]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.reader.join(5)


def measure(url: str) -> list[float]:
    """Milliseconds from each save returning to each subscriber's callback."""
    from sharedconfig.config.stores import Entry, Snapshot, open_store

    store_url = _parsed(url)

    async def first_push() -> Snapshot:
        store = open_store(store_url)
        try:
            base = await store.read()
            text = DOCUMENT.format(rate=0.0)
            revision = await store.save({"base.yaml": text}, base)
            return Snapshot(revision, {"base.yaml": Entry(text, revision)})
        finally:
            await store.aclose()

    base = asyncio.run(first_push())
    subscribers = [Subscriber(url) for _ in range(SUBSCRIBERS)]
    latencies: list[float] = []
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        for sub in subscribers:
            if not sub.ready.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("a subscriber did not start")

        def arrived(rate: float, until: float) -> list[float]:
            return [sub.wait_for(rate, until) for sub in subscribers]

        async def pushes() -> None:
            nonlocal base
            store = open_store(store_url)
            try:
                for i in range(1, PUSHES + 1):
                    rate = round(i / 100, 2)
                    text = DOCUMENT.format(rate=rate)
                    revision = await store.save({"base.yaml": text}, base)
                    returned = time.monotonic()
                    base = Snapshot(revision, {"base.yaml": Entry(text, revision)})
                    until = returned + DELIVERY_TIMEOUT
                    arrivals = await asyncio.to_thread(arrived, rate, until)
                    latencies.extend((when - returned) * 1000 for when in arrivals)
            finally:
                await store.aclose()

        asyncio.run(pushes())
    finally:
        for sub in subscribers:
            sub.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    cases: list[Case] = []
    for kind in ("etcd", "redis"):
        with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp, server(kind, Path(tmp)) as url:
            if url is None:
                reason = f"{kind} is not installed (scripts/install-services installs it)"
                cases.append(skipped(f"{kind}_p50", "ms", reason))
                cases.append(skipped(f"{kind}_p99", "ms", reason, target=TARGET_P99_MS))
                continue
            latencies = measure(url)
            print(
                f"{kind}: {len(latencies)} deliveries, min {min(latencies):.2f} ms, "
                f"mean {statistics.fmean(latencies):.2f} ms, max {max(latencies):.2f} ms"
            )
            cases.append(case(f"{kind}_p50", "ms", percentile(latencies, 0.50)))
            cases.append(case(f"{kind}_p99", "ms", percentile(latencies, 0.99), target=TARGET_P99_MS))
    print_table(cases)
    print(f"wrote {write_results('reload_propagation', cases)}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "subscribe":
        subscribe(sys.argv[2])
    else:
        os.environ.pop("SHAREDCONFIG_PROFILE", None)
        main()
