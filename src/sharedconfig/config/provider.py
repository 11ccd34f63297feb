"""The seed's ConfigProvider for files: load, save, validate, and a polling watch.

Remote stores (etcd, Redis) and the debounced ``ConfigWatcher`` come later and plug in beside this one;
``watch`` here polls file modification times on a scheduler (the Monitoring's runtime, or its own) and
keeps the last good config; every wait is on the provider's clock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Unpack

import yaml
from typing_extensions import TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock, to_thread
from sharedconfig.config.hooks import NO_HOOKS
from sharedconfig.config.loader import LoadOptions, Outcome, check, file_paths, resolve_options
from sharedconfig.config.root import RootSettings
from sharedconfig.config.snapshot import Config
from sharedconfig.config.sources.files import expand, profile_overlay
from sharedconfig.errors import ConfigError
from sharedconfig.runtime import Runtime, Scheduler

__all__ = ["FileConfigProvider"]

S = TypeVar("S", bound=RootSettings, default=Any)


class FileConfigProvider(Generic[S]):
    """Loads configuration from files (plus env, secrets and overrides) the same way every time.

    The options are those of ``load`` (:class:`LoadOptions`), given as ``options=`` and/or as keywords
    (keywords win); the profile and secrets directory are taken from the environment once, here.
    ``settings`` is the root settings class as for ``load``: ``FileConfigProvider(files,
    settings=AppSettings)`` is a ``FileConfigProvider[AppSettings]``, whose loads, reloads and watchers
    all get ``Config[AppSettings]``.
    ``watch`` polls every ``poll_interval`` seconds of ``clock`` as a job on ``scheduler`` (for example
    ``Monitoring.runtime``), or on a runtime of its own, started by the first subscriber and stopped
    when the last one leaves.
    """

    def __init__(
        self,
        files: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        settings: type[S] | None = None,
        options: LoadOptions | None = None,
        poll_interval: float = 2.0,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        **more: Unpack[LoadOptions],
    ) -> None:
        merged: LoadOptions = options.copy() if options else {}
        merged.update(more)
        self.files = file_paths(files)
        self.settings = settings
        """The root settings class every load is given (None: ``Config[Any]``)."""
        self._options = resolve_options(merged)
        self._hooks = self._options.get("hooks", NO_HOOKS)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._current: Config[S] | None = None
        self._stamps: dict[str, float] = {}
        self._subscribers: list[Callable[[Config[S]], None]] = []
        self._clock = clock
        self._scheduler = scheduler
        self._own: Runtime | None = None
        self._cancel: Callable[[], None] | None = None
        self._in_poll = threading.local()
        self.last_error: Exception | None = None  # the last exception a subscriber raised in the watcher

    @property
    def options(self) -> LoadOptions:
        """The options every load uses (a copy), with the environment's defaults resolved."""
        return self._options.copy()

    @property
    def current(self) -> Config[S] | None:
        """The last good configuration, or None before the first successful load."""
        return self._current

    def load(self) -> Config[S]:
        """Load and validate; raises ``ConfigValidationError`` with every issue when invalid."""
        config = self._check().config_or_raise()
        with self._lock:
            self._current = config
            self._stamps = self._mtimes()
        return config

    def validate(self, config: Config[Any]) -> None:
        """Validate ``config`` again as a whole; raises ``ConfigValidationError`` when it has errors."""
        again = self._options.copy()
        again.update(
            LoadOptions(
                env_file=None,
                secrets_dir=None,
                overrides=(),
                defaults=config.to_dict(redact=False),
                sources=None,
                environ={},
                hooks=NO_HOOKS,
            )
        )
        check((), settings=self.settings, **again).config_or_raise()

    def save(self, config: Config[Any], destination: str | os.PathLike[str]) -> None:
        """Write the effective configuration as YAML (mode 0600: it holds the secret values)."""
        path = os.fspath(destination)
        text = yaml.safe_dump(config.to_dict(redact=False), sort_keys=False, allow_unicode=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}", code="CONFIG_023", cause=exc) from None

    def watch(self, callback: Callable[[Config[S]], None]) -> Callable[[], None]:
        """Call ``callback`` with each new valid config after a file changes; returns an unsubscribe.

        An invalid change is reported through the hooks and the last good config stays in force.
        """
        with self._lock:
            self._subscribers.append(callback)
            first = self._cancel is None
            if first:
                scheduler = self._scheduler
                if scheduler is None:
                    scheduler = self._own = Runtime("sharedconfig-watch", clock=self._clock)
                self._cancel = scheduler.every("config-poll", self.poll_interval, self._poll_job())
        if first and self._own is not None:
            self._own.start()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                if self._subscribers or self._cancel is None:
                    return
                cancel, self._cancel = self._cancel, None
                own, self._own = self._own, None
            cancel()
            if own is None:
                return
            if getattr(self._in_poll, "active", False):  # a subscriber leaving from inside the poll
                threading.Thread(target=own.stop, name="sharedconfig-watch-stop").start()
            else:
                own.stop()

        return unsubscribe

    def poll(self) -> Config[S] | None:
        """Reload when a watched file changed; returns the new config, or None (unchanged or invalid).

        Hooks hear ``on_validation``/``on_load`` as for any load, then ``on_reload`` (with the time it
        took) and, when values changed, ``on_change``. Every subscriber is called even if one raises;
        the first exception is raised again afterwards.
        """
        stamps = self._mtimes()
        with self._lock:
            old = self._current
            if stamps == self._stamps and old is not None:
                return None
            self._stamps = stamps
        started = self._clock.now()
        outcome = self._check()
        new = outcome.config
        if old is not None:
            self._hooks.on_reload(old, new, outcome.report, self._clock.now() - started)
        if new is None:
            return None
        with self._lock:
            self._current = new
            subscribers = list(self._subscribers)
        if old is not None:
            changed = [path for path, _, _ in old.diff(new)]
            if changed:
                self._hooks.on_change(old, new, changed)
        failures: list[Exception] = []
        for subscriber in subscribers:
            try:
                subscriber(new)
            except Exception as exc:  # one broken subscriber must not starve the others
                failures.append(exc)
        if failures:
            raise failures[0]
        return new

    def _check(self) -> Outcome[S]:
        if self.settings is None:
            return check(self.files, **self._options)
        return check(self.files, settings=self.settings, **self._options)

    def _mtimes(self) -> dict[str, float]:
        names = expand(self.files)
        profile = self._options.get("profile")
        if profile:
            names += [profile_overlay(n, profile) for n in names]
        stamps: dict[str, float] = {}
        for name in names:
            try:
                stamps[name] = os.stat(name).st_mtime_ns / 1e9
            except OSError:
                stamps[name] = -1.0
        return stamps

    def _poll_in_thread(self) -> None:
        self._in_poll.active = True
        try:
            self.poll()
        finally:
            self._in_poll.active = False

    def _poll_job(self) -> Callable[[], Awaitable[None]]:
        """The watch job: its first run (at once) only starts the schedule; later runs poll in a thread."""
        first = True

        async def job() -> None:
            nonlocal first
            if first:
                first = False
                return
            try:
                await to_thread(self._poll_in_thread)
            except Exception as exc:  # the watcher must outlive a subscriber's failure; keep the last one
                self.last_error = exc

        return job
