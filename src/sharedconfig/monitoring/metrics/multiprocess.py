"""Several worker processes, one ``/metrics``: each process writes its registry to a file of its own in a
shared directory, and a scrape of any of them merges every process's file.

Recording stays in the in-process registry (the hot path does no I/O). A process writes its file
periodically, at stop, and when a peer serving a scrape asks it to (a datagram on Linux's abstract socket
namespace, answered on the monitoring runtime's loop), so a scrape shows every observation completed
before it started. The merge rules, the stale-directory rule and the fork rule are in ``ProcessGroup``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import marshal
import operator
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import psutil

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so no multiprocess mode (CONFIG_030 says so)
    fcntl = None  # type: ignore[assignment]

from sharedconfig.errors import ConfigError, Location
from sharedconfig.interfaces import Logger
from sharedconfig.monitoring.metrics.model import (
    GAUGE_MODES,
    GaugeMode,
    Labels,
    MetricFamily,
    MetricType,
    Sample,
)
from sharedconfig.monitoring.names import METRICS_MULTIPROCESS_SYNC_FAILURES

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.monitoring.metrics.push import Exporter
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry
    from sharedconfig.monitoring.settings import MetricsSettings

__all__ = [
    "ARCHIVE",
    "ENV_VAR",
    "FORMAT_VERSION",
    "SETTING",
    "SYNC_FAILURES",
    "LastFiles",
    "LeaderOnly",
    "ProcessGroup",
    "ProcessId",
    "Snapshot",
    "decode",
    "encode",
    "merge",
    "process_alive",
    "resolve_directory",
    "snapshot_of",
]

FORMAT_VERSION: Final = 1
"""The version written in every file; files of another version are left out of the merge (and logged)."""

ENV_VAR: Final = "SHAREDCONFIG_METRICS_MULTIPROCESS_DIR"
"""The environment variable naming the directory when ``monitoring.metrics.multiprocess_dir`` is unset."""

SETTING: Final = "monitoring.metrics.multiprocess_dir"
"""The setting's key path."""

ARCHIVE: Final = "previous"
"""Where a joining process moves the files of a dead run (replacing the older archive)."""

SYNC_FAILURES: Final = METRICS_MULTIPROCESS_SYNC_FAILURES
"""Peers that did not write their file for a scrape: ``reason`` is ``timeout`` or ``unreachable``."""

_SUFFIX: Final = ".metrics"
_RETIRED: Final = "retired-"
_LOCK: Final = ".lock"
_PUSH_LOCK: Final = ".push.lock"
_START_TOLERANCE: Final = 0.05  # seconds: two readings of one process's start time agree within this


@dataclass(frozen=True, slots=True, order=True)
class ProcessId:
    """A process as the OS knows it: its pid and its start time, so a reused pid is another process."""

    pid: int
    start: float

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        """The process ``pid`` now, or None when there is none (or it is a zombie: it has ended)."""
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                if process.status() == psutil.STATUS_ZOMBIE:
                    return None
                return cls(pid, process.create_time())
        except (psutil.Error, OSError):
            return None

    @property
    def file_name(self) -> str:
        """The name of its file: ``<pid>-<start in ms>.metrics``."""
        return f"{self.pid}-{round(self.start * 1000)}{_SUFFIX}"


def process_alive(process: ProcessId) -> bool:
    """True when ``process`` still runs: its pid exists with the same start time and is not a zombie."""
    now = ProcessId.of(process.pid)
    return now is not None and abs(now.start - process.start) < _START_TOLERANCE


# -- the file format ---------------------------------------------------------------------------------------

# one sample: (sample name, labels, value, stamp); stamp is the wall time of a "mostrecent" gauge's last
# change (0.0 for every other sample)
StoredSample = tuple[str, Labels, float, float]


@dataclass(frozen=True, slots=True)
class StoredFamily:
    """One family as a process wrote it: metadata, the gauge mode, and its samples."""

    name: str
    type: MetricType
    help: str
    unit: str
    mode: GaugeMode
    samples: tuple[StoredSample, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one process wrote: who it is, its parent (the supervisor), when, and its families.

    A retired snapshot (``retired-<supervisor>.metrics``) holds the counters and histograms of dead
    workers of one supervisor, which is its ``process``; ``absorbed`` names the files it took in, which
    no merge reads again even if a crash left them behind.
    """

    process: ProcessId
    parent: ProcessId | None
    written: float
    families: tuple[StoredFamily, ...]
    absorbed: tuple[str, ...] = ()


def snapshot_of(
    process: ProcessId,
    parent: ProcessId | None,
    written: float,
    families: Iterable[MetricFamily],
    modes: Mapping[str, GaugeMode],
    stamps: Mapping[tuple[str, Labels], float],
) -> Snapshot:
    """A snapshot of ``families`` (a registry's ``collect()``), with gauge modes and stamps attached."""
    stored = []
    for family in families:
        mode: GaugeMode = modes.get(family.name, "all") if family.type is MetricType.GAUGE else "all"
        samples = tuple(
            (
                s.name,
                s.labels,
                s.value,
                stamps.get((family.name, s.labels), 0.0) if mode == "mostrecent" else 0.0,
            )
            for s in family.samples
        )
        stored.append(StoredFamily(family.name, family.type, family.help, family.unit, mode, samples))
    return Snapshot(process, parent, written, tuple(stored))


_MAGIC: Final = b"sharedconfig-metrics\n"


def encode(snapshot: Snapshot) -> bytes:
    """The file's bytes: a magic line, then the snapshot as nested tuples in ``marshal`` format.

    marshal rather than JSON for bench/multiprocess_hot_path.py's merge cases: it reads back as the very
    tuples the merge keys on, 8x faster than JSON plus conversion. It executes nothing when read; the
    directory is the service's own (a file another process could write is as trusted as the code).
    """
    parent = snapshot.parent
    doc = (
        FORMAT_VERSION,
        (snapshot.process.pid, snapshot.process.start),
        None if parent is None else (parent.pid, parent.start),
        snapshot.written,
        tuple((f.name, f.type.value, f.help, f.unit, f.mode, f.samples) for f in snapshot.families),
        snapshot.absorbed,
    )
    return _MAGIC + marshal.dumps(doc)


def decode(data: bytes) -> Snapshot:
    """The snapshot in a file's bytes; ValueError when they are not one (another version, damage)."""
    if not data.startswith(_MAGIC):
        raise ValueError("not a metrics snapshot (no sharedconfig-metrics header)")
    try:
        version, (pid, start), parent, written, stored, absorbed = marshal.loads(data[len(_MAGIC) :])
        if version != FORMAT_VERSION:
            raise ValueError(f"format version {version!r}, not {FORMAT_VERSION}")
        families = []
        for name, kind, help_, unit, mode, samples in stored:
            if mode not in GAUGE_MODES or not isinstance(samples, tuple):
                raise ValueError(f"family {name!r}: unknown gauge mode {mode!r} or samples not a tuple")
            families.append(StoredFamily(str(name), MetricType(kind), str(help_), str(unit), mode, samples))
        return Snapshot(
            ProcessId(int(pid), float(start)),
            None if parent is None else ProcessId(int(parent[0]), float(parent[1])),
            float(written),
            tuple(families),
            tuple(str(name) for name in absorbed),
        )
    except ValueError:
        raise
    except Exception as exc:  # a damaged or foreign file: any shape error is "not a snapshot"
        raise ValueError(f"not a metrics snapshot: {type(exc).__name__}: {exc}") from None


# -- the merge ---------------------------------------------------------------------------------------------


def _with_pid(labels: Labels, pid: int) -> Labels:
    return tuple(sorted((*(pair for pair in labels if pair[0] != "pid"), ("pid", str(pid)))))


def merge(snapshots: Iterable[Snapshot], alive: Callable[[ProcessId], bool]) -> list[MetricFamily]:
    """One set of families from several processes' snapshots, sorted by name.

    Counters and histograms are summed over every snapshot, dead processes' included, so totals never go
    backwards when a worker dies. Gauges come from live processes only, merged by the mode their family
    was declared with (the first snapshot's, which is the merging process's own): ``all`` gives one series
    per process with a ``pid`` label, ``sum``/``max``/``min`` one series, ``mostrecent`` the value changed
    last. A family whose type differs between snapshots keeps the first type seen; the others' are left
    out.
    """
    heads: dict[str, StoredFamily] = {}
    sums: dict[str, dict[tuple[str, Labels], float]] = {}
    gauges: dict[str, list[tuple[ProcessId, StoredSample]]] = {}
    for snapshot in snapshots:
        live: bool | None = None
        for family in snapshot.families:
            head = heads.setdefault(family.name, family)
            if family.type is not head.type:
                continue
            if family.type is MetricType.GAUGE:
                if live is None:
                    live = alive(snapshot.process)
                if live:
                    members = gauges.setdefault(family.name, [])
                    members.extend((snapshot.process, sample) for sample in family.samples)
                continue
            totals = sums.setdefault(family.name, {})
            for name, labels, value, _ in family.samples:
                key = (name, labels)
                totals[key] = totals.get(key, 0.0) + value
    result: list[MetricFamily] = []
    for name, head in sorted(heads.items()):
        if head.type is MetricType.GAUGE:
            samples = _merge_gauge(head.mode, gauges.get(name, []))
        else:
            totals = sums.get(name, {})
            pairs = (
                totals.items()
                if head.type is MetricType.HISTOGRAM
                else sorted(totals.items(), key=_by_labels)
            )
            samples = [Sample(n, labels, value) for (n, labels), value in pairs]
        if samples:
            result.append(MetricFamily(head.name, head.type, head.help, tuple(samples), head.unit))
    return result


def _by_labels(item: tuple[tuple[str, Labels], float]) -> tuple[Labels, str]:
    (name, labels), _ = item
    return labels, name


def _merge_gauge(mode: GaugeMode, members: Sequence[tuple[ProcessId, StoredSample]]) -> list[Sample]:
    if mode == "all":
        rows = [Sample(s[0], _with_pid(s[1], process.pid), s[2]) for process, s in members]
        return sorted(rows, key=lambda s: (s.labels, s.name))
    if mode == "mostrecent":
        latest: dict[tuple[str, Labels], tuple[float, float]] = {}
        for _, (name, labels, value, stamp) in members:
            key = (name, labels)
            known = latest.get(key)
            if known is None or stamp > known[0]:
                latest[key] = (stamp, value)
        return [Sample(n, labels, v) for (n, labels), (_, v) in sorted(latest.items(), key=lambda i: i[0][1])]
    combine = _COMBINE[mode]
    merged: dict[tuple[str, Labels], float] = {}
    for _, (name, labels, value, _) in members:
        key = (name, labels)
        merged[key] = value if key not in merged else combine(merged[key], value)
    return [Sample(n, labels, v) for (n, labels), v in sorted(merged.items(), key=lambda i: i[0][1])]


_COMBINE: Final[Mapping[str, Callable[[float, float], float]]] = {
    "sum": operator.add,
    "max": max,
    "min": min,
}

# -- where the directory comes from ------------------------------------------------------------------------


def resolve_directory(
    settings: MetricsSettings, environ: Mapping[str, str], config: Config | None = None
) -> tuple[Path, Location] | None:
    """The directory multiprocess mode uses, and where it was named; None for one process.

    The setting wins; ``SHAREDCONFIG_METRICS_MULTIPROCESS_DIR`` applies when the setting is unset (an
    empty value counts as unset). Raises ``ConfigError`` (``CONFIG_030``) when the directory does not
    exist, is not a directory, or this process cannot write to it.
    """
    if settings.multiprocess_dir is not None:
        path, where = settings.multiprocess_dir, _setting_location(config)
    elif environ.get(ENV_VAR, "").strip():
        path, where = Path(environ[ENV_VAR].strip()), Location("env", ENV_VAR)
    else:
        return None
    problem = ""
    if fcntl is None:  # pragma: no cover - Windows
        problem = "cannot be used: multiprocess mode needs POSIX file locks (fcntl), absent here"
    elif not path.exists():
        problem = "does not exist"
    elif not path.is_dir():
        problem = "is not a directory"
    elif not os.access(path, os.W_OK | os.X_OK):
        problem = f"is not writable by this process (uid {os.getuid()})"
    if problem:
        raise ConfigError(
            f"the metrics multiprocess directory {str(path)!r} {problem}",
            code="CONFIG_030",
            location=where,
            path=SETTING,
        )
    return path.resolve(), where


def _setting_location(config: Config | None) -> Location:
    if config is not None:
        for key, _, location in config.explain():
            if key == SETTING and location is not None:
                return location
    return Location("default", SETTING)


# -- one process's membership ------------------------------------------------------------------------------

_GROUPS: weakref.WeakSet[ProcessGroup] = weakref.WeakSet()
"""Every group, so that a forked child can start afresh in each."""


def _before_fork() -> None:
    # no thread may hold these at the fork: in the child nobody would ever release them
    for group in list(_GROUPS):
        for lock in group._fork_locks:
            lock.acquire()


def _after_fork_in_parent() -> None:
    for group in list(_GROUPS):
        for lock in reversed(group._fork_locks):
            lock.release()


def _after_fork_in_child() -> None:
    for group in list(_GROUPS):
        for lock in reversed(group._fork_locks):
            lock.release()
        group._forked()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
    )


class ProcessGroup:
    """This process's membership of a multiprocess directory, and the merged view every scrape reads.

    - **Files.** The process writes its registry's ``collect()`` (with gauge modes and the stamps of
      ``mostrecent`` gauges) to ``<pid>-<start ms>.metrics``, atomically (a temporary file, then
      ``os.replace``), naming its parent (the supervisor: uvicorn's, gunicorn's arbiter) by pid and start
      time. ``write()`` runs from the monitoring part's job every ``multiprocess_interval``, at stop, and
      when a peer asks.
    - **Scrapes.** ``collect()`` asks every live peer to write (a datagram to its abstract socket,
      Linux only) and waits for their answers, ``sync_timeout`` seconds at most; a peer that does not
      answer is counted in ``metrics_multiprocess_sync_failures_total{reason}`` and its last file used.
      Then it merges its own live registry with every other file (``merge``).
    - **Stale runs.** A run lasts while any of its processes, or the parent one of them recorded, is
      alive. ``join()`` (at start, under ``flock`` on ``<dir>/.lock``) moves every file whose process
      and recorded parent are both gone to ``<dir>/previous/`` (replacing the older archive) and logs one
      warning; files of the live run (a dead worker's included) stay, so totals never go backwards.
    - **Fork.** In a child forked from a process in multiprocess mode the registry's values start at
      zero (the parent's file has them already) and the child joins as a process of its own.
    - **Pushes.** ``leads_pushes()`` is true in the one process holding ``flock`` on
      ``<dir>/.push.lock``: push exporters push the merged view from there only (``LeaderOnly``).
    """

    def __init__(
        self,
        directory: Path,
        registry: MetricsRegistry,
        *,
        logger: Logger | None = None,
        sync_timeout: float = 0.5,
        alive: Callable[[ProcessId], bool] = process_alive,
        wall: Callable[[], float] = time.time,
        process: ProcessId | None = None,
        parent: ProcessId | None = None,
        peers: bool = sys.platform == "linux",
    ) -> None:
        self.directory = directory
        self.registry = registry
        self.sync_timeout = sync_timeout
        self._logger = logger
        self._alive = alive
        self._wall = wall
        self._peers = peers
        self._write_lock = threading.Lock()
        # held across a fork: the writer's, and the registry's slow-path lock (reset_values takes it)
        registry_lock = getattr(registry, "_lock", None)
        self._fork_locks: tuple[Any, ...] = (
            self._write_lock,
            *(() if registry_lock is None else (registry_lock,)),
        )
        self._given = process is not None
        me = process if process is not None else ProcessId.of(os.getpid())
        self.process: ProcessId = me if me is not None else ProcessId(os.getpid(), wall())
        self.parent = parent if process is not None else ProcessId.of(os.getppid())
        self._joined = False
        self._listener: socket.socket | None = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        self._push_fd: int | None = None
        self._cache: dict[str, tuple[tuple[int, int, int], Snapshot]] = {}  # file name -> (stat key, read)
        self._reported: set[str] = set()  # unreadable files already logged
        self._key = hashlib.sha256(os.fsencode(str(directory))).hexdigest()[:16]
        _GROUPS.add(self)

    @property
    def path(self) -> Path:
        """This process's file."""
        return self.directory / self.process.file_name

    # -- writing -------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """This process's registry now, as it would be written."""
        registry = self.registry
        return snapshot_of(
            self.process,
            self.parent,
            self._wall(),
            registry.collect(),
            registry.gauge_modes,
            registry.gauge_stamps(),
        )

    def write(self) -> None:
        """Write this process's file atomically; one writer at a time, so a later write is never older."""
        with self._write_lock:
            self._write_file(self.process.file_name, encode(self.snapshot()))

    def _write_file(self, name: str, data: bytes) -> None:
        """Replace ``name`` in the directory with ``data`` atomically (a temporary file, then a rename)."""
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.process.pid}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def join(self) -> list[str]:
        """Join the directory: archive a dead run's files (see the class), then write this process's file.

        Returns the names of the files archived. Idempotent per process (a forked child joins again).
        """
        archived: list[str] = []
        with self._locked(_LOCK):
            stale = [name for name, snapshot in self._files() if self._stale(name, snapshot)]
            if stale:
                archive = self.directory / ARCHIVE
                shutil.rmtree(archive, ignore_errors=True)
                archive.mkdir()
                for name in stale:
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.directory / name, archive / name)
                        archived.append(name)
            self._retire()
            self._sweep_temporary()
            self.write()
            self._joined = True
        if archived and self._logger is not None:
            self._logger.warning(
                "metrics multiprocess directory held a dead run's files: archived, not counted",
                directory=str(self.directory),
                archived=len(archived),
                to=str(self.directory / ARCHIVE),
            )
        return archived

    def _retire(self) -> None:
        """Fold dead workers' files into one retired file per supervisor (lock held), so that worker churn
        (gunicorn's ``max_requests``) does not grow the directory and every scrape's work without bound.

        The retired file is written first, naming the files it absorbed, and only then are they deleted:
        a crash in between leaves files no merge counts twice (``merged`` skips absorbed names).
        """
        files = list(self._files())
        retired: dict[ProcessId, tuple[str, Snapshot]] = {}
        dead: dict[ProcessId, list[tuple[str, Snapshot]]] = {}
        for name, snapshot in files:
            if snapshot is None:
                continue
            if name.startswith(_RETIRED):
                retired[snapshot.process] = (name, snapshot)
            elif snapshot.parent is not None and not self._alive(snapshot.process):
                dead.setdefault(snapshot.parent, []).append((name, snapshot))
        for _, snapshot in retired.values():  # left behind by a crash: counted in the retired file already
            for leftover in snapshot.absorbed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / leftover)
        for supervisor, candidates in dead.items():
            name, before = f"{_RETIRED}{supervisor.file_name}", None
            if supervisor in retired:
                name, before = retired[supervisor]
            done = before.absorbed if before else ()
            members = [(n, s) for n, s in candidates if n not in done]
            if not members:
                continue
            sources = [s for _, s in members] + ([before] if before else [])
            families = merge(sources, alive=lambda process: False)  # counters and histograms only
            # an absorbed name is listed until its file is gone, so that no merge counts it twice
            taken = tuple(n for n in done if (self.directory / n).exists())
            absorbed = (*taken, *(n for n, _ in members))
            snapshot = snapshot_of(supervisor, None, self._wall(), families, {}, {})
            self._write_file(name, encode(dataclasses.replace(snapshot, absorbed=absorbed)))
            for member, _ in members:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / member)

    def _sweep_temporary(self) -> None:
        """Remove temporary files (``.<pid>.*.tmp``) of writers that died mid-write (lock held)."""
        for name in self._names(suffix=".tmp"):
            pid = name[1:].partition(".")[0]
            if name.startswith(".") and pid.isdigit() and ProcessId.of(int(pid)) is None:
                with contextlib.suppress(OSError):
                    os.unlink(self.directory / name)

    def _stale(self, name: str, snapshot: Snapshot | None) -> bool:
        if snapshot is None:  # unreadable: judged by the pid and start in its name
            process = _named(name)
            return process is None or not self._alive(process)
        if snapshot.process == self.process or self._alive(snapshot.process):
            return False
        return snapshot.parent is None or not self._alive(snapshot.parent)

    def _files(self) -> Iterator[tuple[str, Snapshot | None]]:
        """Every process file in the directory but this process's own, read (None when unreadable).

        A file unchanged since the last read (same inode, size and mtime: a dead worker's) is not read
        again; every write replaces the file, so a new write is a new inode.
        """
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return
        own = self.process.file_name
        cache, self._cache = self._cache, {}
        for name in names:
            if not name.endswith(_SUFFIX) or name.startswith(".") or name == own:
                continue
            path = self.directory / name
            try:
                with open(path, "rb") as file:
                    info = os.fstat(file.fileno())
                    key = (info.st_ino, info.st_size, info.st_mtime_ns)
                    known = cache.get(name)
                    fresh = known is None or known[0] != key
                    snapshot = decode(file.read()) if fresh else known[1]  # type: ignore[index]
                self._cache[name] = (key, snapshot)
                yield name, snapshot
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                if self._logger is not None and name not in self._reported:  # once per file, not per scrape
                    self._reported.add(name)
                    self._logger.warning("metrics multiprocess file left out", file=name, error=str(exc))
                yield name, None

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        fd = os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- reading -------------------------------------------------------------------------------------------

    def collect(self) -> list[MetricFamily]:
        """The merged view of every process (after asking live peers to write): what ``/metrics`` serves."""
        self.sync()
        return self.merged()

    def merged(self) -> list[MetricFamily]:
        """This process's live registry merged with every other process's last file (no sync)."""
        files = [(name, snapshot) for name, snapshot in self._files() if snapshot is not None]
        absorbed = {n for _, snapshot in files for n in snapshot.absorbed}
        others = [snapshot for name, snapshot in files if name not in absorbed]
        me = self.process
        return merge([self.snapshot(), *others], lambda p: p == me or self._alive(p))

    def live_peers(self) -> list[ProcessId]:
        """The other processes of the directory that are alive now, by their files."""
        me = self.process
        found = []
        for name in self._names():
            process = _named(name)
            if process is not None and process.pid != me.pid and self._alive(process):
                found.append(process)
        return found

    def _names(self, suffix: str = _SUFFIX) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        if suffix == _SUFFIX:
            return [n for n in names if n.endswith(suffix) and not n.startswith(".")]
        return [n for n in names if n.endswith(suffix)]

    # -- asking peers to write -----------------------------------------------------------------------------

    def address(self, pid: int) -> bytes:
        """The abstract socket address of the process ``pid`` in this directory."""
        return b"\0sharedconfig-metrics-" + self._key.encode() + b"-" + str(pid).encode()

    def sync(self) -> dict[int, str]:
        """Ask every live peer to write its file and wait for the answers (``sync_timeout`` at most).

        Returns the peers that did not answer, by pid, with the reason (``timeout`` or ``unreachable``),
        also counted in ``metrics_multiprocess_sync_failures_total``. Without peer sockets (not Linux)
        it does nothing: files are as fresh as the last periodic write.
        """
        if not self._peers:
            return {}
        peers = self.live_peers()
        if not peers:
            return {}
        nonce = os.urandom(8).hex().encode()
        failed: dict[int, str] = {}
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind("")  # Linux autobind: an abstract address of its own, where the answers come
            waiting: set[int] = set()
            for peer in peers:
                try:
                    sock.sendto(b"flush " + nonce, self.address(peer.pid))
                    waiting.add(peer.pid)
                except OSError:  # nobody listens: a process that has not started its monitoring
                    failed[peer.pid] = "unreachable"
            deadline = time.monotonic() + self.sync_timeout
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                try:
                    data = sock.recv(128)
                except (TimeoutError, OSError):
                    break
                word, _, rest = data.partition(b" ")
                answered, _, pid = rest.partition(b" ")
                if word == b"ok" and answered == nonce and pid.isdigit():
                    waiting.discard(int(pid))
            failed.update(dict.fromkeys(waiting, "timeout"))
        for reason in failed.values():
            self.registry.record_counter(SYNC_FAILURES, 1, {"reason": reason})
        return failed

    def listen(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Answer peers' requests on ``loop`` from now on (idempotent per loop); False without sockets."""
        if not self._peers:
            return False
        if self._listener is not None and self._listener_loop is loop:
            return True
        self._close_listener(remove=False)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(self.address(self.process.pid))
        except OSError as exc:
            sock.close()
            if self._logger is not None:
                self._logger.warning(
                    "metrics multiprocess: cannot listen for scrapes; peers use the periodic file",
                    error=str(exc),
                )
            return False
        loop.add_reader(sock.fileno(), self._answer, sock)
        self._listener, self._listener_loop = sock, loop
        return True

    def _answer(self, sock: socket.socket) -> None:
        """Write once for every request waiting, then answer each (on the runtime's loop)."""
        asked: list[tuple[bytes, Any]] = []
        while True:
            try:
                data, sender = sock.recvfrom(128)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if data.startswith(b"flush "):
                asked.append((data[6:], sender))
        if not asked:
            return
        try:
            self.write()
        except OSError as exc:
            if self._logger is not None:
                self._logger.warning("metrics multiprocess file not written", error=str(exc))
            return  # no answer: the asking scrape counts a timeout and uses the last file
        pid = str(self.process.pid).encode()
        for nonce, sender in asked:
            with contextlib.suppress(OSError):
                sock.sendto(b"ok " + nonce + b" " + pid, sender)

    def _close_listener(self, *, remove: bool = True) -> None:
        sock, loop = self._listener, self._listener_loop
        self._listener = self._listener_loop = None
        if sock is None:
            return
        if remove and loop is not None and not loop.is_closed():
            with contextlib.suppress(Exception):
                loop.remove_reader(sock.fileno())
        sock.close()

    # -- pushing -------------------------------------------------------------------------------------------

    def leads_pushes(self) -> bool:
        """True in the one process that pushes the merged view (it holds ``<dir>/.push.lock``)."""
        if self._push_fd is not None:
            return True
        try:
            fd = os.open(self.directory / _PUSH_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            return False
        self._push_fd = fd
        return True

    def _release_push(self) -> None:
        fd, self._push_fd = self._push_fd, None
        if fd is not None:
            os.close(fd)  # releases the lock: another process's next push takes over

    # -- life cycle ----------------------------------------------------------------------------------------

    async def tick(self) -> float | None:
        """The part's periodic job: join (first time, or in a forked child), listen, write."""
        if not self._given and self.process.pid != os.getpid():  # forked and the hook has not run yet
            self._forked()
        if not self._joined:
            self.join()
        else:
            self.write()
        self.listen(asyncio.get_running_loop())
        return None

    async def close(self) -> None:
        """At stop: stop answering, write the final file, let another process push."""
        self._close_listener()
        try:
            self.write()
        finally:
            self._release_push()

    def _forked(self) -> None:
        """In a forked child: values start at zero, a new identity, no listener, no push lock."""
        with self._write_lock:
            if not self._given:
                me = ProcessId.of(os.getpid())
                if me is None or me == self.process:
                    return
                self.process = me
                self.parent = ProcessId.of(os.getppid())
            sock, self._listener, self._listener_loop = self._listener, None, None
            if sock is not None:
                sock.close()  # the child's copy only: the parent keeps listening on its own
            fd, self._push_fd = self._push_fd, None
            if fd is not None:
                os.close(fd)  # the lock stays with the parent, which still holds its descriptor
            self._joined = False
        self.registry.reset_values()

    def __repr__(self) -> str:
        return f"ProcessGroup({str(self.directory)!r}, pid={self.process.pid})"


def _named(name: str) -> ProcessId | None:
    """The process a file name stands for (``<pid>-<start ms>.metrics``), or None."""
    stem = name.removesuffix(_SUFFIX)
    pid, _, start = stem.partition("-")
    if not (pid.isdigit() and start.isdigit()):
        return None
    return ProcessId(int(pid), int(start) / 1000)


@dataclass(frozen=True, slots=True)
class LastFiles:
    """The merged view without asking peers to write first (``ProcessGroup.merged``): what pushes read,
    from the runtime's loop, which a scrape's wait must not block."""

    group: ProcessGroup

    def collect(self) -> list[MetricFamily]:
        """This process's registry merged with every other process's last file."""
        return self.group.merged()


class LeaderOnly:
    """A push exporter in multiprocess mode: only the process that ``leads_pushes`` pushes, the merged
    view; the others' ticks do nothing, so a destination gets one copy, not one per worker.

    A process that takes the pushes over from another primes its exporter's encoder, when it has a
    ``prime`` (DataDog's counts are deltas): it sends what is added from then on, not the run's whole
    totals again. What was counted between the last leader's final push and the takeover is not sent.
    """

    def __init__(self, exporter: Exporter, group: ProcessGroup) -> None:
        self.exporter = exporter
        self.group = group
        self._waited = False  # another process led when this one asked

    @property
    def name(self) -> str:
        """The wrapped exporter's name."""
        return self.exporter.name

    @property
    def interval(self) -> float:
        """The wrapped exporter's interval."""
        return self.exporter.interval

    async def tick(self) -> float | None:
        """Push when this process leads; otherwise wait one interval (and try to lead then)."""
        if not self.group.leads_pushes():
            self._waited = True
            return None
        if self._waited:  # taking over from another process
            self._waited = False
            prime = getattr(getattr(self.exporter, "encoder", None), "prime", None)
            if callable(prime):
                prime(self.group.merged())
        return await self.exporter.tick()

    async def flush(self) -> None:
        """The last push, from the leader only."""
        if self.group.leads_pushes():
            await self.exporter.flush()
