"""The seed's ConfigProvider for files: load, save, validate, and a live watch (a ``ConfigWatcher``).

``watch`` subscribes to the provider's ``ConfigWatcher``, which watches the files' directories (content
hashes, debounced on the provider's clock) on a scheduler (the Monitoring's runtime) or a runtime of its
own, and keeps the last good config.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Generic, Unpack

import yaml
from typing_extensions import TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.config.hooks import NO_HOOKS
from sharedconfig.config.loader import LoadOptions, check
from sharedconfig.config.root import RootSettings
from sharedconfig.config.snapshot import Config
from sharedconfig.config.watcher import ConfigWatcher, Diff, Notifier
from sharedconfig.errors import ConfigError
from sharedconfig.runtime import Scheduler

__all__ = ["FileConfigProvider"]

S = TypeVar("S", bound=RootSettings, default=Any)


class FileConfigProvider(Generic[S]):
    """Loads configuration from files (plus env, secrets and overrides) the same way every time.

    The options are those of ``load`` (:class:`LoadOptions`), given as ``options=`` and/or as keywords
    (keywords win); the profile and secrets directory are taken from the environment once, here.
    ``settings`` is the root settings class as for ``load``: ``FileConfigProvider(files,
    settings=AppSettings)`` is a ``FileConfigProvider[AppSettings]``, whose loads, reloads and watchers
    all get ``Config[AppSettings]``.
    ``watcher`` is the provider's :class:`ConfigWatcher` (same files, options, ``clock``, ``scheduler``
    and ``debounce``): ``watch`` subscribes to it, starting it with the first subscriber and stopping it
    when the last one leaves. ``poll_interval`` (seconds of ``clock``) makes it look at the files' hashes
    that often instead of waiting for the operating system's notices, for file systems that send none
    (NFS, some volume mounts).
    """

    def __init__(
        self,
        files: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        settings: type[S] | None = None,
        options: LoadOptions | None = None,
        poll_interval: float | None = None,
        debounce: float = 0.2,
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
        notifier: Notifier | None = None,
        **more: Unpack[LoadOptions],
    ) -> None:
        merged: LoadOptions = options.copy() if options else {}
        merged.update(more)
        self.watcher: ConfigWatcher[S] = ConfigWatcher(
            files,
            settings=settings,
            options=merged,
            debounce=debounce,
            clock=clock,
            scheduler=scheduler,
            poll_interval=poll_interval,
            notifier=notifier,
        )
        """The live watch behind ``watch`` and ``poll``; ``watcher.subscribe(key, fn)`` for key paths."""
        self.files = self.watcher.files
        self.settings = settings
        """The root settings class every load is given (None: ``Config[Any]``)."""
        self._options = self.watcher.options

    @property
    def options(self) -> LoadOptions:
        """The options every load uses (a copy), with the environment's defaults resolved."""
        return self._options.copy()

    @property
    def current(self) -> Config[S] | None:
        """The last good configuration, or None before the first successful load."""
        return self.watcher.current

    def load(self) -> Config[S]:
        """Load and validate; raises ``ConfigValidationError`` with every issue when invalid."""
        return self.watcher.load()

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
        """Call ``callback`` with each new valid config that differs from the last; returns an unsubscribe.

        The first subscriber starts the watcher (loading first when nothing was loaded yet: an invalid
        configuration raises ``ConfigValidationError`` here) and the last one to leave stops it. An
        invalid change is reported through the hooks and the last good config stays in force; a callback
        that raises is logged and counted (``watcher.subscriber_errors``), the others still run.
        """

        def deliver(old: Config[S], new: Config[S], diff: Diff) -> None:
            callback(new)

        deliver.__qualname__ = getattr(callback, "__qualname__", type(callback).__name__)
        return self.watcher.subscribe(None, deliver)

    def poll(self) -> Config[S] | None:
        """Reload now, in this thread, if a watched file's content changed; the new config, or None.

        None when the contents are unchanged or the reload was rejected (the last good config stays).
        Hooks hear ``on_validation``/``on_load`` as for any load, then ``on_reload`` (with the time it
        took) and, when values changed, ``on_change``; subscribers are called as for the watch's reloads.
        """
        return self.watcher.reload()
