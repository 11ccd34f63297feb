"""The configuration system: sources -> layers with provenance -> modules -> validation -> snapshot.

Import from here or from the top-level package; submodules hold the parts.
"""

from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.config.issues import Issue, KeyPath, ValidationReport
from sharedconfig.config.loader import LoadOptions, Outcome, check, load
from sharedconfig.config.modules import ConfigModule, SettingsModule, discover, module_check
from sharedconfig.config.root import RootSettings
from sharedconfig.config.snapshot import Config, Sections
from sharedconfig.config.validation import (
    COMPLIANCE,
    PERFORMANCE,
    SCHEMA,
    SECURITY,
    ValidationContext,
    Validator,
    validator,
)
from sharedconfig.config.watcher import ConfigWatcher

__all__ = [
    "COMPLIANCE",
    "NO_HOOKS",
    "PERFORMANCE",
    "SCHEMA",
    "SECURITY",
    "Config",
    "ConfigHooks",
    "ConfigModule",
    "ConfigWatcher",
    "Issue",
    "KeyPath",
    "LoadOptions",
    "Outcome",
    "RootSettings",
    "Sections",
    "SettingsModule",
    "ValidationContext",
    "ValidationReport",
    "Validator",
    "check",
    "discover",
    "load",
    "module_check",
    "validator",
]
