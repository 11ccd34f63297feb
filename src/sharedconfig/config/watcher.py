"""``ConfigWatcher``: live, debounced hot reload of a configuration, keeping the last known good snapshot.

Files are watched through their directories (watchfiles) and compared by content hash; shared stores
(``WatchedSource``) say themselves when they change. It runs on a ``Scheduler`` (the Monitoring's runtime).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import glob as globlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Protocol, Unpack

from typing_extensions import TypeVar

from sharedconfig import tracecontext
from sharedconfig.clock import SYSTEM_CLOCK, Clock, to_thread, wait
from sharedconfig.config.hooks import NO_HOOKS
from sharedconfig.config.loader import (
    DEFAULT_ENV_FILE,
    LoadOptions,
    Outcome,
    check,
    default_sources,
    file_paths,
    resolve_options,
    store_source,
)
from sharedconfig.config.root import RootSettings
from sharedconfig.config.snapshot import Config
from sharedconfig.config.sources import DotenvSource, SecretsSource, Source, WatchedSource
from sharedconfig.config.sources.files import FileSource, ProfileSource, expand, profile_overlay
from sharedconfig.interfaces import Logger
from sharedconfig.redaction import mask_userinfo
from sharedconfig.runtime import Runtime, Scheduler

__all__ = [
    "ConfigWatcher",
    "Diff",
    "Notifier",
    "Subscriber",
    "concerns",
    "polling_notifier",
    "watchfiles_notifier",
]

S = TypeVar("S", bound=RootSettings, default=Any)

Diff = list[tuple[str, Any, Any]]
"""``Config.diff``: (dotted path, old value, new value), both redacted, in path order."""

Subscriber = Callable[[Config[S], Config[S], Diff], None]
"""``fn(old, new, diff)``: called after a swap with the part of ``old.diff(new)`` it subscribed to."""

_LONGEST_DEBOUNCE: Final = 5
"""A burst of notices that never goes quiet (a log file written beside the configuration) is looked at
after this many ``debounce`` periods anyway, so a change in a busy directory is not put off forever."""

_RESTART: Final = 1.0
"""Seconds of the clock before a watch task that failed (a directory vanished, a store source raised)
starts again."""

_READY_LIMIT: Final = 5.0
"""Real seconds ``start`` waits for the file watch of its own runtime to be in place."""

_TEARDOWN: Final = 2.0
"""Real seconds a stopping run waits for its tasks (the file watch ends within watchfiles' 50 ms step)."""

_HALTED: Final = 24 * 3600.0
"""What the job returns once halted: it is cancelled right after (stop) or restarted by its runtime."""

_log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Where file-change notices come from: the paths that changed in ``directories``, batch by batch.

    Iterates until ``stop`` is set (then it must end promptly). The default is ``watchfiles_notifier()``;
    tests pass one they feed by hand, so that no unit test depends on inotify's timing.
    """

    def __call__(self, directories: Sequence[str], stop: asyncio.Event) -> AsyncIterator[Collection[str]]:
        """Yield each batch of changed paths (any entry of a watched directory) until ``stop`` is set."""
        ...


def watchfiles_notifier() -> Notifier:
    """Notices from ``watchfiles.awatch``: the operating system's (inotify, FSEvents, ReadDirectoryChangesW).

    Each directory is watched without its sub-directories; ``awatch`` runs on the watcher's loop, its
    blocking part in a worker thread that looks at ``stop`` every 50 ms.
    """

    async def notices(directories: Sequence[str], stop: asyncio.Event) -> AsyncIterator[Collection[str]]:
        from watchfiles import awatch  # imported when a watch starts: loading config needs none of it

        chatty = logging.getLogger("watchfiles.main")  # "N changes detected" at INFO for every batch: in a
        if chatty.level == logging.NOTSET:  # directory that also holds the log file, each line is a change
            chatty.setLevel(logging.WARNING)

        async for changes in awatch(
            *directories,
            watch_filter=None,  # a Kubernetes swap is ..data and ..2026_* entries: every entry counts
            stop_event=stop,
            step=50,  # ms of quiet that end a batch, and how often the watch thread looks at ``stop``
            recursive=False,
        ):
            yield {path for _, path in changes}

    return notices


def polling_notifier(interval: float, clock: Clock = SYSTEM_CLOCK) -> Notifier:
    """A notice every ``interval`` seconds of ``clock``, whatever happened: the content hashes decide.

    For file systems whose changes send no notices to this process (NFS, some container volume mounts).
    """

    async def notices(directories: Sequence[str], stop: asyncio.Event) -> AsyncIterator[Collection[str]]:
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while True:
                await wait(clock, (stopped,), interval)
                if stop.is_set():
                    return
                yield directories
        finally:
            stopped.cancel()

    return notices


def concerns(path: str, key: str | None) -> bool:
    """True when a change at ``path`` is at or under ``key`` (or replaces a parent of it); None: all."""
    if key is None:
        return True
    return path == key or path.startswith(f"{key}.") or key.startswith(f"{path}.")


@dataclass(eq=False)
class _Subscription(Generic[S]):
    key: str | None
    fn: Subscriber[S]


@dataclass(eq=False)
class _Run:
    """One run of the watch job on a loop: what its tasks share."""

    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    files: bool = False  # a file notice is waiting for its debounce
    stores: bool = False  # a store said it changed (no debounce: it sends whole revisions)
    last_notice: float = 0.0
    first_notice: float = 0.0  # of the burst waiting for its debounce
    stopping: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    store_tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Targets:
    """What the file side watches: the files (patterns and overlays), the .env file, the secrets dirs."""

    patterns: tuple[str, ...]
    profile: str | None
    dotenv: tuple[str, ...]
    secrets: tuple[str, ...]

    def files(self) -> list[str]:
        names = expand(self.patterns)
        if self.profile:
            names += [profile_overlay(name, self.profile) for name in names]
        return [*names, *self.dotenv]

    def directories(self) -> list[str]:
        """The directories to watch, each existing (a missing one is watched through its nearest parent)."""
        wanted: list[str] = []
        for pattern in self.patterns:
            wanted.append(_fixed_part(os.path.dirname(os.path.abspath(pattern))))
        for name in self.dotenv:
            wanted.append(os.path.dirname(os.path.abspath(name)))
        wanted.extend(os.path.abspath(d) for d in self.secrets)
        for name in self.files():  # a link to another directory: its target changes there
            if os.path.islink(name):
                wanted.append(os.path.dirname(os.path.realpath(name)))
        found: list[str] = []
        for directory in wanted:
            existing = _existing(directory)
            if not any(existing == d or existing.startswith(d + os.sep) for d in found):
                found = [d for d in found if not d.startswith(existing + os.sep)]
                found.append(existing)
        return found

    def fingerprint(self) -> tuple[tuple[str, str | None], ...]:
        """The content hash of every file read (None: missing or unreadable), the secrets' included."""
        entries = [(name, _digest(name)) for name in self.files()]
        for directory in self.secrets:
            try:
                names = sorted(e.name for e in os.scandir(directory) if not e.name.startswith("."))
            except OSError:
                entries.append((directory, None))
                continue
            entries.extend((os.path.join(directory, n), _digest(os.path.join(directory, n))) for n in names)
        return tuple(entries)


def _fixed_part(directory: str) -> str:
    """The longest leading part of ``directory`` without glob characters (``conf/*/x`` -> ``conf``)."""
    parts = directory.split(os.sep)
    for i, part in enumerate(parts):
        if globlib.has_magic(part):
            return os.sep.join(parts[:i]) or os.sep
    return directory


def _existing(directory: str) -> str:
    while not os.path.isdir(directory):
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return directory


def _digest(name: str) -> str | None:
    try:
        with open(name, "rb") as fh:  # follows links: a Kubernetes swap changes what the link resolves to
            return hashlib.blake2b(fh.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def _targets(files: tuple[str, ...], options: LoadOptions) -> tuple[_Targets, list[WatchedSource]]:
    """The files and stores a load with ``options`` reads (its ``sources``, or the standard ones)."""
    given = options.get("sources")
    sources: Sequence[Source] = (
        [store_source(s) for s in given] if given is not None else default_sources(files, **options)
    )
    patterns: list[str] = []
    profile: str | None = None
    dotenv: list[str] = []
    secrets: list[str] = []
    stores: list[WatchedSource] = []
    for source in sources:
        if isinstance(source, FileSource | ProfileSource):
            patterns.extend(source.files)
            if isinstance(source, ProfileSource):
                profile = source.profile or profile
        elif isinstance(source, DotenvSource):
            dotenv.append(os.fspath(source.path))
        elif isinstance(source, SecretsSource) and source.directory:
            secrets.append(source.directory)
        elif isinstance(source, WatchedSource):
            stores.append(source)
    # every load reads these for ${VAR} interpolation, whatever its sources
    env_file = options.get("env_file", DEFAULT_ENV_FILE)
    if env_file:
        dotenv.append(os.fspath(env_file))
    if options.get("secrets_dir"):
        secrets.append(os.fspath(options["secrets_dir"] or ""))
    unique = dict.fromkeys
    return _Targets(tuple(unique(patterns)), profile, tuple(unique(dotenv)), tuple(unique(secrets))), stores


class ConfigWatcher(Generic[S]):
    """Keeps a configuration live: reloads on change, swaps a valid one in, keeps the last good otherwise.

    Construct it like ``FileConfigProvider`` (files, ``settings=``, ``options=`` and/or ``LoadOptions``
    keywords; the environment's profile and secrets directory are fixed here), with the snapshot in force
    as ``current=`` (else ``start()`` loads one). While started:

    - every directory holding a file source (profile overlays and glob matches included), the .env file
      and the secrets directory is watched (``notifier``: watchfiles by default, or a look every
      ``poll_interval`` seconds of ``clock`` where the file system sends no notices); after ``debounce``
      seconds of ``clock`` without a notice, the files' contents are hashed, and only a change of hash
      reloads. Directories, not files: Kubernetes swaps a mounted ConfigMap by renaming its ``..data``
      link, which a watch on the file itself sees only once;
    - each ``WatchedSource`` among the load's sources (etcd, Redis) runs its ``changes(clock)``: a change
      reloads at once, ``lost``/``restored`` go to ``hooks.on_source`` (the snapshot stays in force);
    - a reload loads every source with the same options and validates it fully, inside the
      ``config.reload`` span. Valid: the snapshot is swapped, ``hooks.on_reload(old, new, ...)``, then
      ``hooks.on_change`` and the subscribers when values changed. Invalid: ``hooks.on_reload(old, None,
      report, seconds)`` and the last known good snapshot stays ``current``;
    - reloads run one at a time in a worker thread (a notice during a reload brings one more after it).

    It runs as a job on ``scheduler`` (``Monitoring.runtime``), else on a runtime of its own. ``start()``
    (or the first ``subscribe``) starts it; ``stop()`` ends it within a bounded real time and leaves no
    thread behind; a watcher that ``subscribe`` started also stops when its last subscriber leaves.
    Subscribers that raise are logged (``logger``, else the ``sharedconfig.config.watcher`` stdlib
    logger), counted in ``subscriber_errors`` and handed to ``on_error``; the others still run.
    """

    def __init__(
        self,
        files: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] = (),
        *,
        settings: type[S] | None = None,
        options: LoadOptions | None = None,
        current: Config[S] | None = None,
        debounce: float = 0.2,
        poll_interval: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        notifier: Notifier | None = None,
        logger: Logger | None = None,
        on_error: Callable[[Exception], None] | None = None,
        **more: Unpack[LoadOptions],
    ) -> None:
        merged: LoadOptions = options.copy() if options else {}
        merged.update(more)
        self.files = file_paths(files)
        self.settings = settings
        """The root settings class every load is given (None: ``Config[Any]``)."""
        self._options = resolve_options(merged)
        # store URLs become sources once, so that every reload and the watch share the same ones
        if self._options.get("stores"):
            self._options["stores"] = tuple(store_source(s) for s in self._options.get("stores", ()))
        given = self._options.get("sources")
        if given is not None:
            self._options["sources"] = tuple(store_source(s) for s in given)
        self._hooks = self._options.get("hooks", NO_HOOKS)
        self._targets, self._stores = _targets(self.files, self._options)
        self.debounce = debounce
        """Seconds of ``clock`` the files must stay quiet after a notice before their hashes are compared."""
        self._clock = clock
        self._scheduler = scheduler
        if notifier is None and poll_interval is not None:
            notifier = polling_notifier(poll_interval, clock)
        self._notifier = notifier if notifier is not None else watchfiles_notifier()
        self._logger = logger
        self.on_error = on_error
        """Called with each exception a subscriber raised (Monitoring counts them); may be set later."""
        self.subscriber_errors = 0
        """How many times a subscriber raised."""
        self._current = current
        self._seen = self._targets.fingerprint() if current is not None else None
        self._reload_lock = threading.RLock()  # one reload at a time, from the loop or from reload()
        self._lock = threading.Lock()  # subscriptions
        self._lifecycle = threading.Lock()  # start and stop
        self._subscriptions: list[_Subscription[S]] = []
        self._cancel: Callable[[], None] | None = None
        self._own: Runtime | None = None
        self._auto = False
        self._flushing: list[Scheduler] = []
        self._run: _Run | None = None
        self._ready = threading.Event()
        self._watching: tuple[str, ...] = ()
        self._local = threading.local()

    # ------------------------------------------------------------------ state

    @property
    def options(self) -> LoadOptions:
        """The options every load uses (a copy), with the environment's defaults resolved."""
        return self._options.copy()

    @property
    def current(self) -> Config[S] | None:
        """The snapshot in force: the last good one (None before the first load)."""
        return self._current

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._cancel is not None

    @property
    def watching(self) -> tuple[str, ...]:
        """The directories whose notices are being received now (empty until the watch is in place)."""
        return self._watching

    @property
    def stores(self) -> tuple[str, ...]:
        """The names of the watched store sources (URLs without credentials)."""
        return tuple(source.name for source in self._stores)

    def directories(self) -> list[str]:
        """The directories the watch covers with the files as they are now."""
        return self._targets.directories()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ConfigWatcher(files={list(self.files)}, stores={list(self.stores)}, {state})"

    # ------------------------------------------------------------------ loading

    def load(self) -> Config[S]:
        """Load and validate now, making the result current; raises ``ConfigValidationError`` when invalid.

        Subscribers are not called: this is a first load (or a deliberate replacement), not a reload.
        """
        with self._reload_lock:
            seen = self._targets.fingerprint()
            config = self._check().config_or_raise()
            self._current, self._seen = config, seen
        return config

    def reload(self, *, force: bool = False) -> Config[S] | None:
        """Reload now in this thread when a watched file's content changed (always with ``force``).

        Returns the new snapshot, or None when nothing changed or the reload was rejected (the last good
        one stays). Hooks and subscribers are told as for a reload the watch started; waits for a reload
        in progress. Without a current snapshot yet, this is a first load that does not raise.
        """
        return self._reload(force=force, trigger="manual")

    def _check(self) -> Outcome[S]:
        if self.settings is None:
            return check(self.files, **self._options)
        return check(self.files, settings=self.settings, **self._options)

    def _reload(self, *, force: bool, trigger: str) -> Config[S] | None:
        with self._reload_lock:
            self._local.active = True
            try:
                return self._reload_locked(force, trigger)
            finally:
                self._local.active = False

    def _reload_locked(self, force: bool, trigger: str) -> Config[S] | None:
        seen = self._targets.fingerprint()
        old = self._current
        if not force and old is not None and seen == self._seen:
            return None  # a notice without a change of content (a touch, a rewrite of the same bytes)
        self._seen = seen
        with tracecontext.span("config.reload", trigger=trigger, files=len(self.files)):
            started = time.perf_counter()
            outcome = self._check()
            new = outcome.config
            if old is None:
                self._current = new
                return new
            self._hooks.on_reload(old, new, outcome.report, time.perf_counter() - started)
            if new is None:
                return None
            self._current = new
            diff = old.diff(new)
            if diff:
                self._hooks.on_change(old, new, [path for path, _, _ in diff])
        if diff:
            self._notify(old, new, diff)
        return new

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, key: str | None, fn: Subscriber[S]) -> Callable[[], None]:
        """Call ``fn(old, new, diff)`` after each swap that changed something at or under ``key``.

        ``key`` is a dotted path (``"monitoring.sample_rate"``, ``"orders"``), None for every change;
        ``diff`` holds only the changes that concern it. Starts the watcher if it is not running (which
        loads first when there is no snapshot yet). Returns an unsubscribe function (idempotent);
        subscribers are called one at a time, in the reload's thread, in subscription order.
        """
        entry = _Subscription(key, fn)
        with self._lock:
            self._subscriptions.append(entry)
        if not self.running:
            try:
                self.start()
            except BaseException:
                with self._lock:
                    self._subscriptions.remove(entry)
                raise
            self._auto = True

        def unsubscribe() -> None:
            with self._lock:
                if entry not in self._subscriptions:
                    return
                self._subscriptions.remove(entry)
                last = not self._subscriptions
            if last and self._auto:
                self.stop()

        return unsubscribe

    def _notify(self, old: Config[S], new: Config[S], diff: Diff) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for entry in subscriptions:
            mine = [change for change in diff if concerns(change[0], entry.key)]
            if not mine:
                continue
            try:
                entry.fn(old, new, mine)
            except Exception as exc:  # one broken subscriber must not starve the others
                self.subscriber_errors += 1
                self._warn(
                    "configuration subscriber failed",
                    key=entry.key or "*",
                    subscriber=getattr(entry.fn, "__qualname__", type(entry.fn).__name__),
                    error=f"{type(exc).__name__}: {mask_userinfo(str(exc))}",
                )
                if self.on_error is not None:
                    with contextlib.suppress(Exception):
                        self.on_error(exc)

    def _warn(self, message: str, /, **fields: object) -> None:
        if self._logger is not None:
            with contextlib.suppress(Exception):
                self._logger.warning(message, **fields)
            return
        _log.warning("%s (%s)", message, ", ".join(f"{k}={v}" for k, v in fields.items()))

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ConfigWatcher[S]:
        """Start watching (idempotent); loads first when there is no snapshot (raising when invalid).

        On a runtime of its own, returns once the file watch is in place (within 5 s); on a scheduler,
        the watch starts when the scheduler runs the job.
        """
        with self._lifecycle:
            if self._cancel is not None:
                return self
            if self._current is None:
                self.load()
            own: Runtime | None = None
            scheduler = self._scheduler
            if scheduler is None:
                scheduler = own = self._own = Runtime(
                    "sharedconfig-watch", self._job_failed, clock=self._clock
                )
            if not any(s is scheduler for s in self._flushing):
                scheduler.on_stop(self._flush, "config-watch")
                if own is None:
                    self._flushing.append(scheduler)
            self._ready.clear()
            self._auto = False
            self._cancel = scheduler.every("config-watch", _RESTART, self._job)
            if own is not None:
                own.start()
        if own is not None:
            self._ready.wait(_READY_LIMIT)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching within about ``timeout`` real seconds; the snapshot and subscribers stay.

        A reload in progress ends first. From inside a subscriber the stop completes just after it returns.
        """
        if getattr(self._local, "active", False):  # in a reload's thread, which the stop would wait for
            threading.Thread(target=self.stop, args=(timeout,), name="sharedconfig-watch-stop").start()
            return
        with self._lifecycle:
            cancel, self._cancel = self._cancel, None
            own, self._own = self._own, None
            run = self._run
            self._auto = False
        if cancel is None:
            return
        if own is not None:
            own.stop(timeout)  # its flush halts the run
            cancel()
            return
        if run is not None and not run.loop.is_closed():
            if _running_loop() is run.loop:  # a job on the same runtime: cannot wait here
                run.loop.create_task(self._halt(run))
            else:
                with contextlib.suppress(Exception):  # the loop stopped meanwhile: the run ended with it
                    asyncio.run_coroutine_threadsafe(self._halt(run), run.loop).result(timeout)
        cancel()

    def __enter__(self) -> ConfigWatcher[S]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _job_failed(self, name: str, error: BaseException) -> None:
        self._warn("configuration watch failed", job=name, error=type(error).__name__)

    async def _flush(self) -> None:
        """At the scheduler's stop: end this loop's run promptly (before its tasks are cancelled)."""
        run = self._run
        if run is not None and run.loop is asyncio.get_running_loop():
            await self._halt(run)

    async def _halt(self, run: _Run) -> None:
        run.stopping = True
        run.stop.set()
        run.wake.set()
        for task in run.store_tasks:
            task.cancel()
        pending = [task for task in run.tasks if not task.done()]
        if pending:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(pending, timeout=_TEARDOWN)

    async def _job(self) -> float:
        """The watch: file notices, store changes and the reloads, until halted or cancelled."""
        run = _Run(asyncio.get_running_loop())
        self._run = run
        run.tasks.append(asyncio.ensure_future(self._reloads(run)))
        run.tasks.append(asyncio.ensure_future(self._watch_files(run)))
        run.store_tasks.extend(asyncio.ensure_future(self._follow(run, s)) for s in self._stores)
        run.tasks.extend(run.store_tasks)
        try:
            await asyncio.wait(run.tasks)  # not gather: a cancelled job must not cancel the file watch
        finally:
            # the file watch and the reloader end by themselves once stopped (the watch thread looks at
            # ``stop`` every 50 ms; a reload in progress completes); the stores' iterators are cancelled
            await self._halt(run)
            for task in run.tasks:
                task.cancel()
            if self._run is run:
                self._run = None
                self._watching = ()
        return _HALTED

    async def _reloads(self, run: _Run) -> None:
        """One reload at a time: files after their debounce, stores at once; a notice during one adds one."""
        while True:
            await run.wake.wait()
            run.wake.clear()
            while run.files and not run.stores and not run.stopping:
                due = min(run.last_notice, run.first_notice + self.debounce * (_LONGEST_DEBOUNCE - 1))
                quiet = due + self.debounce - self._clock.now()
                if quiet <= 0:
                    break
                await _pause(self._clock, run, quiet)
            if run.stopping:
                return
            force, trigger = run.stores, "store" if run.stores else "files"
            run.files = run.stores = False
            run.wake.clear()
            try:
                await to_thread(functools.partial(self._reload, force=force, trigger=trigger))
            except Exception as exc:  # a bug in a source or a settings class: the watch goes on
                self._warn(
                    "configuration reload failed", error=f"{type(exc).__name__}: {mask_userinfo(str(exc))}"
                )

    async def _watch_files(self, run: _Run) -> None:
        """Notices from the directories; the set is looked at again after each batch (a glob's new dir)."""
        loop = asyncio.get_running_loop()
        while not run.stopping:
            directories = self._targets.directories()
            if not directories:
                self._ready.set()
                return
            try:
                # in place once the notifier's first step ran, i.e. just after this one
                loop.call_soon(self._in_place, run, tuple(directories))
                async for _batch in self._notifier(directories, run.stop):
                    run.last_notice = self._clock.now()
                    if not run.files:
                        run.first_notice = run.last_notice
                    run.files = True
                    run.wake.set()
                    if self._targets.directories() != directories:
                        break
            except Exception as exc:  # a watched directory vanished, say: watch again what is there
                self._warn("configuration file watch failed", error=f"{type(exc).__name__}: {exc}")
                self._watching = ()
                await _pause(self._clock, run, _RESTART)

    def _in_place(self, run: _Run, directories: tuple[str, ...]) -> None:
        if not run.stopping:
            self._watching = directories
        self._ready.set()

    async def _follow(self, run: _Run, source: WatchedSource) -> None:
        """A store's changes: ``changed`` reloads, ``lost``/``restored`` go to ``hooks.on_source``."""
        while not run.stopping:
            try:
                async for change in source.changes(self._clock):
                    if change.kind == "changed":
                        run.stores = True
                        run.wake.set()
                    else:
                        self._hooks.on_source(source.name, change.kind == "restored", change.message)
            except Exception as exc:  # changes() should not raise; if it does, follow it again
                self._warn("configuration store watch failed", source=source.name, error=type(exc).__name__)
            await _pause(self._clock, run, _RESTART)


async def _pause(clock: Clock, run: _Run, seconds: float) -> None:
    """Wait ``seconds`` of ``clock``, or less when the run stops meanwhile."""
    stopped = asyncio.ensure_future(run.stop.wait())
    try:
        await wait(clock, (stopped,), seconds)
    finally:
        stopped.cancel()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
