"""sharedconfig: typed, layered, validated configuration and one set of monitoring hooks.

Importing the package is cheap: names are loaded from their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "load": "sharedconfig.config.loader",
    "check": "sharedconfig.config.loader",
    "Config": "sharedconfig.config.snapshot",
    "RootSettings": "sharedconfig.config.root",
    "ConfigModule": "sharedconfig.config.modules",
    "SettingsModule": "sharedconfig.config.modules",
    "ConfigHooks": "sharedconfig.config.hooks",
    "FileConfigProvider": "sharedconfig.config.provider",
    "ConfigWatcher": "sharedconfig.config.watcher",
    "Issue": "sharedconfig.config.issues",
    "ValidationContext": "sharedconfig.config.validation",
    "ValidationReport": "sharedconfig.config.issues",
    "Validator": "sharedconfig.config.validation",
    "validator": "sharedconfig.config.validation",
    "SharedConfigError": "sharedconfig.errors",
    "ConfigError": "sharedconfig.errors",
    "ConfigValidationError": "sharedconfig.errors",
    "ErrorHandler": "sharedconfig.delivery",
    "parse_duration": "sharedconfig.durations",
    "format_duration": "sharedconfig.durations",
    "Logger": "sharedconfig.interfaces",
    "MetricsRecorder": "sharedconfig.interfaces",
    "HealthChecker": "sharedconfig.interfaces",
    "ConfigProvider": "sharedconfig.interfaces",
}

__all__ = [
    "Config",
    "ConfigError",
    "ConfigHooks",
    "ConfigModule",
    "ConfigProvider",
    "ConfigValidationError",
    "ConfigWatcher",
    "ErrorHandler",
    "FileConfigProvider",
    "HealthChecker",
    "Issue",
    "Logger",
    "MetricsRecorder",
    "RootSettings",
    "SettingsModule",
    "SharedConfigError",
    "ValidationContext",
    "ValidationReport",
    "Validator",
    "__version__",
    "check",
    "format_duration",
    "load",
    "parse_duration",
    "validator",
]

if TYPE_CHECKING:
    from sharedconfig.config.hooks import ConfigHooks
    from sharedconfig.config.issues import Issue, ValidationReport
    from sharedconfig.config.loader import check, load
    from sharedconfig.config.modules import ConfigModule, SettingsModule
    from sharedconfig.config.provider import FileConfigProvider
    from sharedconfig.config.root import RootSettings
    from sharedconfig.config.snapshot import Config
    from sharedconfig.config.validation import ValidationContext, Validator, validator
    from sharedconfig.config.watcher import ConfigWatcher
    from sharedconfig.delivery import ErrorHandler
    from sharedconfig.durations import format_duration, parse_duration
    from sharedconfig.errors import ConfigError, ConfigValidationError, SharedConfigError
    from sharedconfig.interfaces import ConfigProvider, HealthChecker, Logger, MetricsRecorder


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
