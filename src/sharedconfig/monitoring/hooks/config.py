"""``ConfigHooks`` implemented with the seed's config metrics (seed 3.1), logs and events.

``MonitoringConfigHooks`` records the ``config_*`` metrics (names in ``monitoring.names``) and logs;
``ConfigInfo`` is the collector behind ``config_info{hash,source}``; ``ConfigEvents`` publishes loads,
validations, reloads and changes as events. Nothing here shows a configuration value except the redacted
per-key diff of ``config_changed``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from sharedconfig.config.issues import Issue, key_path
from sharedconfig.config.snapshot import MISSING, leaves
from sharedconfig.errors import REGISTRY
from sharedconfig.interfaces import Logger, MetricKind, MetricsRecorder
from sharedconfig.monitoring.metrics.model import MetricFamily, Sample
from sharedconfig.monitoring.names import (
    CONFIG_INFO,
    CONFIG_LOAD_DURATION,
    CONFIG_LOAD_ERRORS,
    CONFIG_RELOADS,
    CONFIG_VALIDATION_DURATION,
    CONFIG_VALIDATION_ERRORS,
    CONFIG_VALIDATION_WARNINGS,
    CONFIG_VALIDATIONS,
    HELP,
)
from sharedconfig.redaction import REDACTED, hide, looks_secret, mask_userinfo

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.config.validation import ValidationReport
    from sharedconfig.monitoring.part import EventSink

__all__ = [
    "MAX_CHANGES",
    "MAX_ISSUES",
    "ConfigEvents",
    "ConfigInfo",
    "MonitoringConfigHooks",
    "change_data",
    "config_hash",
    "config_source",
    "error_type",
]

SUCCESS: Final = "success"
FAILURE: Final = "failure"
OTHER: Final = "other"
MAX_PATHS: Final = 20
MAX_ISSUES: Final = 20
"""Issues listed in a ``config_load_failed`` or ``config_reload_rejected`` event (``errors`` counts all)."""
MAX_CHANGES: Final = 50
"""Changed keys listed in a ``config_changed`` event (``count`` says how many changed)."""
_MAX_VALUE: Final = 200  # characters of a string value shown in a diff entry
_MAX_SOURCE: Final = 200  # characters of the config_info source label


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _where(report: ValidationReport) -> dict[str, int | list[str]]:
    """The codes and key paths of the report's errors, for a log record (never the values)."""
    errors = report.errors
    return {
        "errors": len(errors),
        "codes": sorted({i.code for i in errors}),
        "paths": sorted({i.path for i in errors if i.path})[:MAX_PATHS],
    }


def error_type(report: ValidationReport) -> str:
    """The ``error_type`` of a failed load: the issue code of its first error (the report's order: file,
    line, column, key path), or ``other`` for a code outside ``sharedconfig.errors.REGISTRY`` (a plugin's
    validator may invent one), so the label stays bounded by the registry."""
    errors = report.errors
    if not errors or errors[0].code not in REGISTRY:
        return OTHER
    return errors[0].code


# -- config_info -------------------------------------------------------------------------------------------


def config_hash(config: Config) -> str:
    """A short, stable hash (12 hex digits of SHA-256) of the effective configuration, secrets redacted.

    Computed from ``config.to_dict()`` (schema defaults included, every secret ``**********``), so two
    services on the same configuration show the same hash and the label can never help guess a secret;
    a change of a secret's value alone does not change it.
    """
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _without_credentials(name: str) -> str:
    """A store URL without its user, password or query (``etcd://h:2379/app``); other names unchanged."""
    if "://" not in name:
        return name
    try:
        parts = urlsplit(name)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, host + port, parts.path, "", ""))
    except ValueError:  # not a URL after all: the usual masking
        return mask_userinfo(name)


def config_source(config: Config) -> str:
    """Where the configuration came from, for the ``source`` label: each source that set a value, low to
    high, joined by ``,``: a file's path, a store's URL without credentials, ``env``, ``secrets``,
    ``--set``; ``defaults`` when nothing was set by a source. At most 200 characters."""
    names: list[str] = []
    for layer in config.provenance.layers:
        if not layer.data or layer.source == "default":
            continue
        if layer.source == "env":
            name = "env"
        elif layer.source == "secret":
            name = "secrets"
        elif layer.source == "override":
            name = "--set"
        else:
            name = _without_credentials(layer.name) or layer.source
        if name not in names:
            names.append(name)
    text = ",".join(names) or "defaults"
    return text if len(text) <= _MAX_SOURCE else text[: _MAX_SOURCE - 3] + "..."


class ConfigInfo:
    """The collector of ``config_info{hash,source}``: one series, value 1, for the snapshot in force.

    ``set(config)`` replaces the series (the previous hash and source go away); until the first
    ``set`` it shows nothing. The family carries the registry's namespace, as recorded metrics do.
    """

    def __init__(self, namespace: str = "") -> None:
        self.name = f"{namespace}_{CONFIG_INFO}" if namespace else CONFIG_INFO
        self._lock = threading.Lock()
        self._labels: tuple[tuple[str, str], ...] | None = None

    def set(self, config: Config) -> None:
        """Show ``config`` as the configuration in force."""
        labels = (("hash", config_hash(config)), ("source", config_source(config)))
        with self._lock:
            self._labels = labels

    @property
    def labels(self) -> Mapping[str, str]:
        """The labels of the series shown now (empty before the first ``set``)."""
        with self._lock:
            return dict(self._labels or ())

    def collect(self) -> Sequence[MetricFamily]:
        """The one series, or nothing before a configuration is known."""
        with self._lock:
            labels = self._labels
        if labels is None:
            return ()
        sample = Sample(self.name, labels, 1.0)
        return (MetricFamily(self.name, MetricKind.GAUGE, HELP[CONFIG_INFO], (sample,)),)

    def __repr__(self) -> str:
        return f"ConfigInfo({dict(self._labels or ())})"


# -- metrics and logs --------------------------------------------------------------------------------------


class MonitoringConfigHooks:
    """Observes the config loader and watcher with metrics and logs.

    Per load: ``config_load_duration_seconds{success}`` and, when it failed,
    ``config_load_errors_total{error_type}`` (see ``error_type``). Per validation:
    ``config_validation_total{valid}``, ``config_validation_duration_seconds`` and the
    ``config_validation_errors`` / ``config_validation_warnings`` gauges (the last validation's counts).
    Per reload: ``config_reloads_total{result}``, ``success`` or ``failure`` (rejected: the last good
    configuration stays in force). A load or reload that produced a snapshot moves ``config_info``.
    Logs name issue codes and key paths, never values. ``Monitoring`` fans its calls out to this, to
    the ``config_loader`` check's ``ConfigHealth`` and to ``ConfigEvents``.
    """

    def __init__(self, metrics: MetricsRecorder, logger: Logger, info: ConfigInfo | None = None) -> None:
        self._metrics = metrics
        self._logger = logger
        self.info = info

    def _in_force(self, config: Config) -> None:
        if self.info is not None:
            self.info.set(config)

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """Time the load, count a failure by its error type, move ``config_info``; log the outcome."""
        self._metrics.record_duration(CONFIG_LOAD_DURATION, seconds, {"success": _flag(config is not None)})
        if config is not None:
            self._in_force(config)
            self._logger.info(
                "configuration loaded",
                modules=list(config.modules),
                warnings=len(report.warnings),
                seconds=seconds,
            )
        else:
            kind = error_type(report)
            self._metrics.record_counter(CONFIG_LOAD_ERRORS, 1.0, {"error_type": kind})
            self._logger.error(
                "configuration failed to load", seconds=seconds, error_type=kind, **_where(report)
            )

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """Count and time the validation; set the error and warning gauges; log it (debug)."""
        valid = report.ok
        self._metrics.record_counter(CONFIG_VALIDATIONS, 1.0, {"valid": _flag(valid)})
        self._metrics.record_duration(CONFIG_VALIDATION_DURATION, seconds)
        self._metrics.record_gauge(CONFIG_VALIDATION_ERRORS, float(len(report.errors)))
        self._metrics.record_gauge(CONFIG_VALIDATION_WARNINGS, float(len(report.warnings)))
        self._logger.debug(
            "configuration validated",
            valid=valid,
            warnings=len(report.warnings),
            seconds=seconds,
            **_where(report),
        )

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """Count the reload; move ``config_info`` when accepted; log it (a warning when rejected)."""
        self._metrics.record_counter(CONFIG_RELOADS, 1.0, {"result": SUCCESS if new is not None else FAILURE})
        if new is not None:
            self._in_force(new)
            self._logger.info("configuration reloaded", seconds=seconds)
        else:
            self._logger.warning(
                "configuration reload rejected; the last good configuration stays in force",
                seconds=seconds,
                **_where(report),
            )

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """Log which key paths changed (not their values)."""
        self._logger.info("configuration changed", paths=list(changed)[:MAX_CHANGES], count=len(changed))

    def on_source(self, source: str, available: bool, message: str) -> None:
        """Log a watched source lost (a warning: the last snapshot stays in force) or back."""
        if available:
            self._logger.info("configuration source is back", source=source, message=message)
        else:
            self._logger.warning(
                "configuration source lost; the current configuration stays in force",
                source=source,
                message=message,
            )


# -- event data --------------------------------------------------------------------------------------------


def _secret_values(config: Config | None) -> list[str]:
    """The string values of ``config`` that its redaction hides (to hide them in messages too)."""
    if config is None:
        return []
    shown = dict(leaves(config.to_dict()))
    return [
        value
        for path, value in leaves(config.to_dict(redact=False))
        if isinstance(value, str) and value and shown.get(path) == REDACTED
    ]


def _origin_text(config: Config | None, path: str, issue: Issue | None = None) -> str | None:
    """Where a value came from, as a person finds it (``app.yaml:3:7``, ``$VAR``, ``--set key``), without
    an override's value (the diff says the value, redacted) and without a URL's password."""
    location = issue.location if issue is not None else None
    if location is None and config is not None:
        location = config.provenance.origin(key_path(path.split("."))) if path else None
    if location is None:
        return None if issue is not None else "default"
    return mask_userinfo(str(replace(location, value=None)))


def _issue_data(issues: Sequence[Issue], secrets: Sequence[str]) -> list[dict[str, Any]]:
    """The first ``MAX_ISSUES`` issues as event data: code, key path, message and origin.

    A message may quote the input: it is shown with URL passwords masked and the in-force configuration's
    secret values hidden, and replaced by its code's title when the issue's key looks secret.
    """
    out: list[dict[str, Any]] = []
    for issue in issues[:MAX_ISSUES]:
        key = issue.path.rsplit(".", 1)[-1] if issue.path else ""
        if key and looks_secret(key):
            entry = REGISTRY.get(issue.code)
            message = entry.title if entry is not None else REDACTED
        else:
            message = hide(mask_userinfo(issue.message), secrets)
        out.append(
            {
                "code": issue.code,
                "path": issue.path,
                "message": message,
                "source": _origin_text(None, issue.path, issue),
            }
        )
    return out


def _shown(value: Any) -> Any:
    """A diff value as event data: long strings cut to 200 characters."""
    if isinstance(value, str) and len(value) > _MAX_VALUE:
        return value[: _MAX_VALUE - 3] + "..."
    return value


def change_data(
    old: Config,
    new: Config,
    diff: Sequence[tuple[str, Any, Any]] | None = None,
    restart: Sequence[str] = (),
) -> dict[str, Any]:
    """The data of a ``config_changed`` event: the redacted per-key diff with the origin of each new value.

    ``diff`` is ``old.diff(new)`` (computed when not given): ``(path, old, new)`` rows, secrets already
    ``**********``. Each of the first ``MAX_CHANGES`` becomes ``{"path", "old", "new", "source"}``; a key
    added has no ``old``, one removed no ``new``; ``source`` is where the new value came from
    (``app.yaml:3:7``, ``$VAR``, ``--set key``, a store; ``default`` for a schema default; None when
    removed). ``count`` is the number of keys changed, ``truncated`` whether some were left out, and
    ``restart`` the changed monitoring settings that need a restart (``Monitoring.follow``).
    """
    rows = old.diff(new) if diff is None else list(diff)
    changes: list[dict[str, Any]] = []
    for path, before, after in rows[:MAX_CHANGES]:
        entry: dict[str, Any] = {"path": path}
        if before is not MISSING:
            entry["old"] = _shown(before)
        if after is not MISSING:
            entry["new"] = _shown(after)
        entry["source"] = _origin_text(new, path) if after is not MISSING else None
        changes.append(entry)
    return {
        "changes": changes,
        "count": len(rows),
        "truncated": len(rows) > MAX_CHANGES,
        "restart": sorted(restart),
    }


class ConfigEvents:
    """Publishes the config loader's and watcher's results as events (``Monitoring.events``).

    Types: ``config_loaded`` (with ``hash`` and ``source``, as ``config_info``), ``config_load_failed``
    and ``config_reload_rejected`` (the errors: code, key path, message and origin, see
    ``_issue_data``), ``config_validated``, ``config_reloaded`` and ``config_changed`` (``change_data``:
    the redacted per-key diff with provenance; category ``audit``, so sampling never leaves it out).
    While a ``Monitoring`` follows a watcher (``Monitoring.follow``), ``deferred`` is set and the
    follower publishes ``config_changed`` itself, with the settings that need a restart: one event per
    change either way. A disabled publisher makes each call a no-op.
    """

    def __init__(self, publisher: EventSink) -> None:
        self._events = publisher
        self.deferred = 0
        """How many followers publish ``config_changed`` instead of ``on_change`` (``Monitoring.follow``)."""

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """``config_loaded`` (info) or ``config_load_failed`` (high, category error)."""
        if not self._events.enabled:
            return
        if config is not None:
            modules: list[str] = sorted(config.modules)
            self._events.emit(
                "config_loaded",
                "config",
                {
                    "modules": modules,
                    "warnings": len(report.warnings),
                    "seconds": seconds,
                    "hash": config_hash(config),
                    "source": config_source(config),
                },
            )
        else:
            self._events.emit(
                "config_load_failed",
                "config",
                {
                    "seconds": seconds,
                    "error_type": error_type(report),
                    **_where(report),
                    "issues": _issue_data(report.errors, ()),
                },
                severity="high",
                category="error",
            )

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """``config_validated``: valid or not, with the counts (medium when invalid)."""
        valid = report.ok
        self._events.emit(
            "config_validated",
            "config",
            {"valid": valid, "warnings": len(report.warnings), "seconds": seconds, **_where(report)},
            severity="info" if valid else "medium",
        )

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """``config_reloaded`` or ``config_reload_rejected`` (high: the last good configuration stays)."""
        if not self._events.enabled:
            return
        if new is not None:
            self._events.emit("config_reloaded", "config", {"seconds": seconds, "hash": config_hash(new)})
        else:
            self._events.emit(
                "config_reload_rejected",
                "config",
                {
                    "seconds": seconds,
                    **_where(report),
                    "issues": _issue_data(report.errors, _secret_values(old)),
                    "hash": config_hash(old),
                },
                severity="high",
                category="error",
            )

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """``config_changed`` with the redacted diff, unless a follower publishes it (``deferred``)."""
        if self.deferred or not self._events.enabled:
            return
        self._events.emit("config_changed", "config", change_data(old, new), category="audit")

    def on_source(self, source: str, available: bool, message: str) -> None:
        """``config_source_lost`` (high) or ``config_source_restored``."""
        if available:
            self._events.emit("config_source_restored", source, {"source": source, "message": message})
        else:
            self._events.emit(
                "config_source_lost",
                source,
                {"source": source, "message": message},
                severity="high",
                category="error",
            )
