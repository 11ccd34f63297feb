"""The seed's ConfigProvider for files: load, save, validate, and a polling watch.

Remote stores (etcd, Redis) and the debounced ``ConfigWatcher`` come later and plug in beside this one;
``watch`` here polls file modification times and keeps the last good config.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import yaml

from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.config.loader import LoadOptions, check_options
from sharedconfig.config.modules import ConfigModule
from sharedconfig.config.snapshot import Config
from sharedconfig.config.sources.files import expand, profile_overlay
from sharedconfig.config.validation import Validator
from sharedconfig.errors import ConfigError, ConfigValidationError

__all__ = ["FileConfigProvider"]


class FileConfigProvider:
    """Loads configuration from files (plus env, secrets and overrides) the same way every time."""

    def __init__(
        self,
        files: Iterable[str | os.PathLike[str]],
        *,
        options: LoadOptions | None = None,
        modules: Iterable[ConfigModule] | None = None,
        validators: Iterable[Validator] = (),
        hooks: ConfigHooks = NO_HOOKS,
        poll_interval: float = 2.0,
    ) -> None:
        base = options or LoadOptions()
        self.options = replace(base, files=tuple(os.fspath(f) for f in files))
        self._modules = tuple(modules) if modules is not None else None
        self._validators = tuple(validators)
        self._hooks = hooks
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._current: Config | None = None
        self._stamps: dict[str, float] = {}
        self._subscribers: list[Callable[[Config], None]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_error: Exception | None = None  # the last exception a subscriber raised in the watcher

    @property
    def current(self) -> Config | None:
        """The last good configuration, or None before the first successful load."""
        return self._current

    def load(self) -> Config:
        """Load and validate; raises ``ConfigValidationError`` with every issue when invalid."""
        outcome = check_options(
            self.options, modules=self._modules, validators=self._validators, hooks=self._hooks
        )
        if outcome.config is None:
            errors = outcome.report.errors
            raise ConfigValidationError(
                f"configuration has {len(errors)} error(s); first: {errors[0]}",
                issues=outcome.report.issues,
                location=errors[0].location,
                path=errors[0].path,
            )
        with self._lock:
            self._current = outcome.config
            self._stamps = self._mtimes()
        return outcome.config

    def validate(self, config: Config) -> None:
        """Validate ``config`` again as a whole; raises ``ConfigValidationError`` when it has errors."""
        opts = replace(
            self.options,
            files=(),
            env_file=None,
            secrets_dir=None,
            overrides=(),
            defaults=config.to_dict(redact=False),
            environ={},
        )
        outcome = check_options(opts, modules=self._modules, validators=self._validators)
        if not outcome.report.ok:
            raise ConfigValidationError("configuration is not valid", issues=outcome.report.issues)

    def save(self, config: Config, destination: str | os.PathLike[str]) -> None:
        """Write the effective configuration as YAML (mode 0600: it holds the secret values)."""
        path = os.fspath(destination)
        text = yaml.safe_dump(config.to_dict(redact=False), sort_keys=False, allow_unicode=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}", code="CONFIG_023", cause=exc) from None

    def watch(self, callback: Callable[[Config], None]) -> Callable[[], None]:
        """Call ``callback`` with each new valid config after a file changes; returns an unsubscribe.

        An invalid change is reported through the hooks and the last good config stays in force.
        """
        with self._lock:
            self._subscribers.append(callback)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="sharedconfig-watch", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                thread = self._thread if not self._subscribers else None
                if thread is not None:
                    self._thread = None
                    self._stop.set()
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)

        return unsubscribe

    def poll(self) -> Config | None:
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
        started = time.perf_counter()
        outcome = check_options(
            self.options, modules=self._modules, validators=self._validators, hooks=self._hooks
        )
        new = outcome.config
        if old is not None:
            self._hooks.on_reload(old, new, outcome.report, time.perf_counter() - started)
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

    def _mtimes(self) -> dict[str, float]:
        names = expand(self.options.files)
        if self.options.profile:
            names += [profile_overlay(n, self.options.profile) for n in names]
        stamps: dict[str, float] = {}
        for name in names:
            try:
                stamps[name] = os.stat(name).st_mtime_ns / 1e9
            except OSError:
                stamps[name] = -1.0
        return stamps

    def _run(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception as exc:  # the watcher must outlive a subscriber's failure; keep the last one
                self.last_error = exc
