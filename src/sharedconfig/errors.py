"""One exception tree for every failure a user can cause, and the registry of stable error codes.

The tree::

    SharedConfigError                 code, category, message, location, hint, details, ...
    ├── ConfigError                   CONFIG_*: reading, parsing, merging configuration
    │   ├── ConfigFileError           a file that cannot be read or parsed (file:line:column)
    │   ├── InterpolationError        ${VAR} that cannot be resolved
    │   ├── ConfigValidationError     CONFIG_002: the validation report has errors (``.issues``)
    │   ├── (events) EventStoreError  CONFIG_031: the sqlite event store's file cannot be used
    │   └── (events) UnknownChannel   CONFIG_032: no installed package provides an event channel's type
    ├── ValidationError               VALIDATION_*: one value is wrong (durations, byte sizes, ...)
    │   └── (events) InvalidEvent, SchemaViolation, UndecodableEvent, InvalidEventSchema: VALIDATION_05x
    ├── SecurityError                 SECURITY_*
    │   └── (events) InvalidSignature SECURITY_003: a webhook request's signature does not hold
    ├── HTTPError                     HTTP_*
    ├── TriggerError                  TRIGGER_*
    └── DeliveryError                 DELIVERY_001: a payload did not reach its destination (``.status``)
        ├── CallNotPermitted          DELIVERY_002: a circuit breaker refused the call
        ├── BulkheadFull              DELIVERY_003: too many deliveries in flight
        └── (events) DeadLetterError  DELIVERY_004: a dead-letter file cannot be written or read

Every code lives in ``REGISTRY`` with a title, a default hint, whether it is retryable and whether it
should page someone; ``docs/errors.md`` lists them all and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sharedconfig import tracecontext

__all__ = [
    "REGISTRY",
    "RETRYABLE_STATUSES",
    "BulkheadFull",
    "CallNotPermitted",
    "Category",
    "ConfigError",
    "ConfigFileError",
    "ConfigValidationError",
    "DeliveryError",
    "ErrorCode",
    "HTTPError",
    "InterpolationError",
    "Location",
    "SecurityError",
    "Severity",
    "SharedConfigError",
    "TriggerError",
    "ValidationError",
    "current_trace",
    "describe",
]

T = TypeVar("T")


class Category(StrEnum):
    """The seed's error categories; the prefix of every code."""

    CONFIG = "CONFIG"
    SECURITY = "SECURITY"
    HTTP = "HTTP"
    TRIGGER = "TRIGGER"
    VALIDATION = "VALIDATION"
    DELIVERY = "DELIVERY"


class Severity(StrEnum):
    """How bad an error is; ``critical`` and ``error`` may alert, the others never do."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """A registered, stable error code with what a person needs to act on it."""

    code: str
    title: str
    hint: str
    retryable: bool = False
    alert: bool = False
    ignorable: bool = False
    """Whether ``validation.ignore`` / ``--ignore`` / ``validation.severity`` may drop or re-grade it.

    Only findings after which the configuration still is what the files say (unknown keys, risks, checks
    across keys) are; reading problems and schema errors are not, as their part would load missing or as
    its defaults. False by default, so a new code is never ignorable by accident."""

    @property
    def category(self) -> Category:
        """The category is the code's prefix (``CONFIG_001`` -> ``CONFIG``)."""
        return Category(self.code.rsplit("_", 1)[0])

    @property
    def not_ignorable_because(self) -> str:
        """Why ignoring (or re-grading) the code has no effect; empty when it is ignorable."""
        if self.ignorable:
            return ""
        if self.category is Category.CONFIG:
            return (
                f"{self.code} is a reading problem, and the configuration would load without the part "
                "that could not be read instead of as the files say"
            )
        if self.category is Category.VALIDATION:
            return (
                f"{self.code} means the schema rejects the value, and the section would load with its "
                "defaults instead of as the files say"
            )
        return f"configuration validation never reports {self.code}"


def _codes(*codes: ErrorCode) -> dict[str, ErrorCode]:
    return {c.code: c for c in codes}


REGISTRY: Mapping[str, ErrorCode] = _codes(
    # -- configuration: reading and merging ------------------------------------------------------------
    ErrorCode(
        "CONFIG_001",
        "Configuration could not be loaded",
        "Check that every source named on the command line or in load() exists and is readable.",
        retryable=True,
        alert=True,
    ),
    ErrorCode(
        "CONFIG_002",
        "Configuration is not valid",
        "Fix each issue listed; `sharedconfig validate` prints them with file, line and hint.",
    ),
    ErrorCode(
        "CONFIG_003",
        "Configuration file not found",
        "Check the path (relative paths are taken from the working directory) or drop the argument.",
    ),
    ErrorCode(
        "CONFIG_004",
        "Configuration file cannot be read",
        "Check the file's permissions: the service's user needs read access.",
        retryable=True,
    ),
    ErrorCode(
        "CONFIG_005",
        "Configuration file is too large",
        "Split the file, or raise the limit with load(..., max_file_size=...).",
    ),
    ErrorCode(
        "CONFIG_006",
        "Configuration file is not UTF-8",
        "Save the file as UTF-8; the byte offset shows where the bad bytes start.",
    ),
    ErrorCode(
        "CONFIG_007",
        "Syntax error",
        "Fix the syntax at the position shown; for YAML check indentation and quoting.",
    ),
    ErrorCode(
        "CONFIG_008",
        "Tab character in YAML indentation",
        "YAML indentation must use spaces: replace the tab with spaces.",
    ),
    ErrorCode(
        "CONFIG_009", "Duplicate key", "Remove one of the two entries; only one value per key is allowed."
    ),
    ErrorCode(
        "CONFIG_010",
        "Unsafe YAML tag",
        "Remove the tag: only plain YAML (mappings, lists, strings, numbers, booleans, null) is read.",
    ),
    ErrorCode(
        "CONFIG_011",
        "Too many YAML alias expansions",
        "The file expands aliases (*name) into more values than a configuration needs: remove the "
        "nested aliases.",
    ),
    ErrorCode(
        "CONFIG_012",
        "Configuration file is empty",
        "Add the configuration, or remove the file from the list of sources.",
    ),
    ErrorCode(
        "CONFIG_013",
        "Configuration root is not a mapping",
        "The top level of a configuration file must be a mapping of module names, e.g. `monitoring:`.",
    ),
    ErrorCode("CONFIG_014", "Unsupported configuration file type", "Use a .yaml, .yml, .json or .toml file."),
    ErrorCode(
        "CONFIG_015",
        "Interpolation variable is not set",
        "Set the environment variable, give a default with ${VAR:-default}, or escape a literal "
        "dollar as $${.",
    ),
    ErrorCode(
        "CONFIG_016",
        "Malformed interpolation",
        "Write ${NAME}, ${NAME:-default} or ${NAME:?message}; names are letters, digits and _.",
    ),
    ErrorCode(
        "CONFIG_017",
        "Malformed override",
        "Write overrides as dotted.key.path=value, e.g. --set monitoring.sample_rate=0.5.",
    ),
    ErrorCode(
        "CONFIG_018",
        "Unknown configuration module",
        "Check the module name; `sharedconfig schema` lists the installed modules.",
    ),
    ErrorCode(
        "CONFIG_019",
        "Configuration module could not be loaded",
        "Reinstall the package that provides the module, or uninstall it.",
    ),
    ErrorCode(
        "CONFIG_020",
        "Environment value cannot be parsed",
        'Lists and mappings in environment variables are written as JSON, e.g. \'["a", "b"]\'.',
    ),
    ErrorCode(
        "CONFIG_021",
        "Secrets directory cannot be read",
        "Check the secrets directory path and its permissions.",
    ),
    ErrorCode(
        "CONFIG_022",
        "Configuration module section is absent",
        "Add the section to a configuration file, or require it with load(..., require=[...]).",
    ),
    ErrorCode(
        "CONFIG_023",
        "Configuration could not be saved",
        "Check that the destination directory exists and is writable.",
        retryable=True,
    ),
    ErrorCode(
        "CONFIG_024",
        "Path conflicts with a value of another kind",
        "A higher-precedence source sets a key below a value that is not a mapping or list; "
        "check the key path.",
    ),
    ErrorCode(
        "CONFIG_025",
        "Environment variable name has an empty key part",
        "Separate key parts with exactly two underscores, e.g. SHAREDCONFIG_MONITORING__SAMPLE_RATE; "
        "rename or unset the variable.",
    ),
    ErrorCode(
        "CONFIG_026",
        "Document is recursive or nested too deeply",
        "Configuration is a tree of a few levels: remove the recursive alias, or flatten the nesting.",
    ),
    ErrorCode(
        "CONFIG_027",
        "Profile has no overlay file",
        "Check the profile name (profile=, --profile or $SHAREDCONFIG_PROFILE): an overlay is named "
        "<stem>.<profile>.<ext> beside a file, e.g. app.production.yaml beside app.yaml.",
    ),
    ErrorCode(
        "CONFIG_028",
        "Root settings field does not match a module",
        "Name each field of the RootSettings class after a module and type it as that module's schema: "
        "`orders: OrdersSettings`, or `orders: OrdersSettings | None = None` for an optional section.",
    ),
    ErrorCode(
        "CONFIG_030",
        "Metrics multiprocess directory cannot be used",
        "Create the directory before the workers start, writable by the service's user, one per service "
        "(e.g. mkdir -p /run/myservice/metrics), or unset monitoring.metrics.multiprocess_dir and "
        "SHAREDCONFIG_METRICS_MULTIPROCESS_DIR for one process.",
    ),
    ErrorCode(
        "CONFIG_031",
        "Event store cannot be used",
        "Move the file away (a new store is created) or point the sqlite channel at another path; "
        "a store written by a newer sharedconfig needs that version.",
    ),
    ErrorCode(
        "CONFIG_032",
        "Unknown event channel",
        "Check the channel's type, or install the package (or extra) that provides it.",
    ),
    # -- configuration: shared stores (etcd, Redis) ------------------------------------------------------
    ErrorCode(
        "CONFIG_040",
        "Configuration store unreachable",
        "Check that the store runs and that the URL's host and port reach it; add ?cache=PATH to the URL "
        "so that a service starts from the last good snapshot while the store is down.",
        retryable=True,
        alert=True,
    ),
    ErrorCode(
        "CONFIG_041",
        "Invalid configuration store URL",
        "Write etcd://HOST[:PORT]/PREFIX or redis://[USER:PASSWORD@]HOST[:PORT][/DB]/PREFIX, optionally "
        "followed by ?cache=PATH and &timeout=SECONDS.",
    ),
    ErrorCode(
        "CONFIG_042",
        "Configuration store changed since it was read",
        "Someone else wrote to the store after you read it: pull, review the difference and push again.",
    ),
    ErrorCode(
        "CONFIG_043",
        "Configuration store unreachable: loaded from the local cache",
        "The store is down or unreachable; the configuration is its last good snapshot, saved locally. "
        "It reloads from the store once the store is back.",
    ),
    ErrorCode(
        "CONFIG_044",
        "Configuration store cache cannot be used",
        "Check the cache file's directory and permissions (it is written with mode 0600); delete a corrupt "
        "cache file, it is written again after the next good read.",
    ),
    ErrorCode(
        "CONFIG_045",
        "Configuration store client not installed",
        "Install the extra named in the message: pip install 'sharedconfig[etcd]' or 'sharedconfig[redis]'.",
    ),
    # -- alert rule unit-test files (promtool's format) ----------------------------------------------------
    ErrorCode(
        "CONFIG_050",
        "Invalid rule unit-test file",
        "Write the file in promtool's unit-test format: rule_files, evaluation_interval, tests with "
        "input_series (values like 1+2x3 _ stale), alert_rule_test and promql_expr_test.",
    ),
    # -- validation ------------------------------------------------------------------------------------
    ErrorCode(
        "VALIDATION_001",
        "Unknown key",
        "Remove the key or fix its spelling; `sharedconfig schema` lists the valid keys.",
        ignorable=True,
    ),
    ErrorCode("VALIDATION_002", "Wrong type", "Give a value of the type shown."),
    ErrorCode("VALIDATION_003", "Value out of range", "Give a value within the range shown."),
    ErrorCode(
        "VALIDATION_004",
        "Invalid duration",
        "Write durations as a number and a unit: 250ms, 30s, 2m, 1h30m, 7d.",
    ),
    ErrorCode("VALIDATION_005", "Required value missing", "Add the key."),
    ErrorCode("VALIDATION_006", "Value not allowed", "Use one of the values listed."),
    ErrorCode(
        "VALIDATION_007",
        "Invalid byte size",
        "Write sizes as a whole number of bytes or with a unit: 512MB, 2GiB.",
    ),
    ErrorCode("VALIDATION_008", "Invalid value", "Give a value of the form shown."),
    ErrorCode(
        "VALIDATION_010",
        "Secret written in plain text",
        "Move the secret out of the file: use ${ENV_VAR}, the secrets directory or an env var.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_011",
        "Insecure transport in production",
        "Use TLS (use_ssl: true, https:// endpoints) when credentials are sent in production.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_020",
        "Batch size larger than buffer size",
        "Make batch_size at most buffer_size, or a batch can never fill.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_021",
        "Intervals or sample rates that cannot work together",
        "Adjust the values as the message says.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_030",
        "Deprecated protocol endpoint",
        "Move to the endpoint suggested in the message.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_040",
        "Unknown issue code in the rule configuration",
        "Check the spelling; docs/errors.md lists every code.",
    ),
    ErrorCode(
        "VALIDATION_041",
        "Issue code cannot be ignored",
        "Fix the problem instead: the rule has no effect on this code, so remove it.",
        ignorable=True,
    ),
    ErrorCode(
        "VALIDATION_050",
        "Invalid event",
        "Fix the attribute named in the message; docs/events.md lists what each attribute takes.",
    ),
    ErrorCode(
        "VALIDATION_051",
        "Event does not match its schema",
        "Send data that matches the JSON Schema registered for the event's type, or change the schema.",
    ),
    ErrorCode(
        "VALIDATION_052",
        "Not a CloudEvents event",
        "Check the sender and the content mode: the body or headers are not a CloudEvents 1.0 event.",
    ),
    ErrorCode(
        "VALIDATION_053",
        "Invalid event schema",
        "Fix the schema: it must be a valid JSON Schema of the draft it names ($schema; 2020-12 by default).",
    ),
    ErrorCode(
        "VALIDATION_054",
        "Duplicate event channel name",
        "Give each channel of monitoring.events.exporters its own name; a name defaults to the type.",
    ),
    ErrorCode(
        "VALIDATION_065",
        "Alert template cannot be parsed",
        "Fix the template at the line and column shown: Go's text/template syntax, the functions "
        "Prometheus offers (humanize, printf, ...) and the variables $labels, $value, $externalLabels, "
        "$externalURL.",
    ),
    ErrorCode(
        "VALIDATION_099",
        "Validator failed",
        "A validator raised an exception; the message names it. Report it to its author.",
        ignorable=True,
    ),
    # -- other components ------------------------------------------------------------------------------
    ErrorCode("SECURITY_001", "Authentication failed", "Check the credentials or token.", alert=True),
    ErrorCode(
        "SECURITY_002",
        "Unsafe listen address",
        "Set an API token (SHAREDCONFIG_API_TOKEN or monitoring.server.api_token) or bind to 127.0.0.1.",
    ),
    ErrorCode(
        "SECURITY_003",
        "Webhook signature rejected",
        "Check that both ends share the secret, the raw body is verified and both clocks are right.",
    ),
    ErrorCode(
        "HTTP_001",
        "HTTP connection failed",
        "Check that the service is reachable; the request is retried with backoff.",
        retryable=True,
        alert=True,
    ),
    ErrorCode(
        "HTTP_002",
        "Server refused the request",
        "The message gives the server's answer and the hint its fix (for the events API without a store: "
        "add a `type: sqlite` channel to monitoring.events.exporters).",
    ),
    ErrorCode(
        "TRIGGER_001",
        "Trigger execution failed",
        "See the cause for what the trigger's action raised.",
        retryable=True,
        alert=True,
    ),
    # -- delivery (sharedconfig.delivery: exporters now, event channels and notifiers next) --------------
    ErrorCode(
        "DELIVERY_001",
        "Delivery failed",
        "The destination could not be reached or refused the payload; the message says which. "
        "Retryable failures are retried with backoff.",
        retryable=True,
    ),
    ErrorCode(
        "DELIVERY_002",
        "Circuit breaker open",
        "The destination failed repeatedly, so calls are refused for a while; look at the earlier "
        "failures and at circuit_breaker_state.",
    ),
    ErrorCode(
        "DELIVERY_003",
        "Too many deliveries in flight",
        "The destination is slower than the work sent to it: raise max_in_flight or the wait, or send less.",
    ),
    ErrorCode(
        "DELIVERY_004",
        "Dead-letter file cannot be used",
        "Check the dead-letter file's path, permissions and free space; the message says what failed.",
    ),
)


def describe(code: str) -> ErrorCode:
    """Return the registered code, or raise ``KeyError`` naming the code."""
    return REGISTRY[code]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value came from, written the way a person finds it again (``str()``):

    ============  ============================================  =========================================
    source        fields                                        text
    ============  ============================================  =========================================
    ``file``      name (path), line, column                     ``app.yaml:3:7`` (``app.json`` no line)
    ``secret``    name (the secret file's path)                 ``secrets/storage__secret_key``
    ``dotenv``    name (the .env path), line, variable          ``.env:2 SHAREDCONFIG_MONITORING__X``
    ``env``       name (the variable)                           ``$SHAREDCONFIG_MONITORING__SAMPLE_RATE``
    ``override``  name (the key as written), value (as shown)   ``--set monitoring.sample_rate=2``
    ``store``     name (entry URL), line, column, revision      ``etcd://h/app/a.yaml:3:5 @ revision 42``
    others        name                                          ``default defaults``, ``option ignore``
    ============  ============================================  =========================================

    An override's ``value`` is the text shown after ``=``: never a secret (``**********`` then), ``[...]``
    or ``{...}`` for a collection, None when the override could not be read.
    """

    source: str  # "file", "env", "dotenv", "secret", "override", "default", "option", "store"
    name: str = ""  # file path, variable name, override key or module name
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    interpolated: bool = False
    variable: str = ""  # the variable of a .env file that set the value
    value: str | None = None  # an override's value as it may be shown
    revision: int | None = None  # a store's revision of the entry that set the value

    @property
    def in_file(self) -> bool:
        """True when the origin is a file a person can open (YAML/JSON/TOML, a .env, a secret file)."""
        return self.source in ("file", "secret", "dotenv") and bool(self.name)

    def __str__(self) -> str:
        return printable(self._text())

    def _text(self) -> str:
        if self.source in ("file", "secret", "dotenv"):
            where = self.name
            if self.line is not None:
                column = self.column or (None if self.source == "dotenv" else 1)
                where = f"{self.name}:{self.line}" + (f":{column}" if column else "")
            return f"{where} {self.variable}" if self.variable else where
        if self.source == "store":
            where = self.name
            if self.line is not None:
                where += f":{self.line}" + (f":{self.column}" if self.column else "")
            return where if self.revision is None else f"{where} @ revision {self.revision}"
        if self.source == "env":
            return f"${self.name}" if self.name else "environment"
        if self.source == "override":
            if not self.name:
                return "--set"
            return f"--set {self.name}" + (f"={self.value}" if self.value is not None else "")
        if self.name:
            return f"{self.source} {self.name}"
        return self.source


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on or cannot print (escape sequences, line
    breaks, lone surrogates from undecodable bytes) written as its Python escape: ``x\\x1b[31m``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# the trace context's documented name from before sharedconfig.tracecontext: the same variable
current_trace = tracecontext.current_trace


class SharedConfigError(Exception):
    """Base of every error sharedconfig raises on purpose (the seed's StandardError)."""

    default_code = "CONFIG_001"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        location: Location | None = None,
        path: str = "",
        hint: str | None = None,
        details: Mapping[str, Any] | None = None,
        cause: BaseException | None = None,
        module: str = "",
        component: str = "",
        operation: str = "",
        recoverable: bool | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.code = code or self.default_code
        registered = REGISTRY.get(self.code)
        self.message = message
        self.location = location
        self.path = path
        self.hint = hint if hint is not None else (registered.hint if registered else "")
        self.details: dict[str, Any] = dict(details or {})
        self.cause = cause
        self.module = module
        self.component = component
        self.operation = operation
        self.recoverable = (
            recoverable if recoverable is not None else bool(registered and registered.retryable)
        )
        self.severity = severity
        self.timestamp = datetime.now(UTC)
        trace = tracecontext.current()
        self.trace_id, self.span_id = (trace.trace_id, trace.span_id) if trace else ("", "")
        if cause is not None:
            self.__cause__ = cause
        super().__init__(self.format())

    @property
    def category(self) -> Category:
        """The category named by the code's prefix."""
        return Category(self.code.rsplit("_", 1)[0])

    @property
    def file(self) -> str | None:
        """The file the error points at, when it came from one."""
        return self.location.name if self.location and self.location.in_file else None

    @property
    def line(self) -> int | None:
        """1-based line of the error in its file, when known."""
        return self.location.line if self.location else None

    @property
    def column(self) -> int | None:
        """1-based column of the error in its file, when known."""
        return self.location.column if self.location else None

    def format(self) -> str:
        """One line in a compiler's shape: ``where: error CODE path: message``."""
        where = f"{self.location}: " if self.location else ""
        path = f" {self.path}" if self.path else ""
        return f"{where}{self.severity.value} {self.code}{path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the seed's StandardError fields), with no secret values in it."""
        return {
            "code": self.code,
            "category": self.category.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "source": str(self.location) if self.location else None,
            "path": self.path,
            "hint": self.hint,
            "details": self.details,
            "cause": f"{type(self.cause).__name__}: {self.cause}" if self.cause else None,
            "module": self.module,
            "component": self.component,
            "operation": self.operation,
            "recoverable": self.recoverable,
            "severity": self.severity.value,
            "timestamp": self.timestamp.isoformat(),
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's default pickling re-calls __init__ with the formatted text as the message, which
        # formats it twice ("error X: error X: ..."); restore the state as it is instead.
        return (_restore_error, (type(self), self.args, self.__dict__.copy()))


def _restore_error(cls: type[SharedConfigError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigError(SharedConfigError):
    """Reading, parsing or merging configuration failed."""

    default_code = "CONFIG_001"


class ConfigFileError(ConfigError):
    """A configuration file cannot be read or parsed; ``location`` points into it."""

    default_code = "CONFIG_007"


class InterpolationError(ConfigError):
    """A ``${VAR}`` reference cannot be resolved."""

    default_code = "CONFIG_015"


class ConfigValidationError(ConfigError):
    """The configuration has errors; ``issues`` holds every one of them (and the warnings).

    ``location`` and ``path`` are those of the first error; ``str()`` (what a crashing service prints) is
    the summary line, then every issue with its location and, indented below it, its hint.
    """

    default_code = "CONFIG_002"

    def __init__(self, message: str, *, issues: tuple[Any, ...] = (), **kwargs: Any) -> None:
        self.issues = issues
        super().__init__(message, **kwargs)

    def format(self) -> str:
        """``error CONFIG_002: message``, then one line per issue and one per issue's hint."""
        lines = [f"{self.severity.value} {self.code}: {self.message}"]
        for issue in self.issues:
            lines.append(f"  {issue}")
            hint = getattr(issue, "hint", "")
            if hint:
                lines.append(f"      hint: {hint}")
        return "\n".join(lines)


class ValidationError(SharedConfigError):
    """One value is not valid (a duration, a byte size, ...)."""

    default_code = "VALIDATION_008"


class SecurityError(SharedConfigError):
    """Authentication, authorisation or secret handling failed."""

    default_code = "SECURITY_001"


class HTTPError(SharedConfigError):
    """An HTTP call failed."""

    default_code = "HTTP_001"


class TriggerError(SharedConfigError):
    """A trigger's action failed."""

    default_code = "TRIGGER_001"


RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""Protocol statuses worth another attempt: request timeout, throttling and the passing server failures.

500 is included (behind a load balancer it is mostly an overloaded or restarting backend, and Prometheus'
remote-write client retries every 5xx); 501 and 505 never get better and are left out. The default of
``sharedconfig.delivery.RetryPolicy.retryable_statuses``.
"""


class DeliveryError(SharedConfigError):
    """A payload did not reach its destination: the answer of a protocol (``status``) or a failure to send.

    ``retryable`` says whether trying again may help (None: decided by ``status`` against the retry
    policy's statuses); ``retry_after`` is the wait the server asked for, in seconds. Messages never
    contain credentials.
    """

    default_code = "DELIVERY_001"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        if "recoverable" not in kwargs and (retryable is not None or status is not None):
            kwargs["recoverable"] = retryable if retryable is not None else status in RETRYABLE_STATUSES
        super().__init__(message, **kwargs)


class CallNotPermitted(DeliveryError):
    """A circuit breaker refused the call: it failed at once, nothing was sent or measured."""

    default_code = "DELIVERY_002"

    def __init__(self, message: str, *, breaker: str, state: str, retry_in: float = 0.0) -> None:
        super().__init__(
            message,
            retryable=False,
            component="delivery",
            details={"breaker": breaker, "state": state, "retry_in": retry_in},
        )


class BulkheadFull(DeliveryError):
    """A delivery was refused because its destination already had as many in flight as allowed."""

    default_code = "DELIVERY_003"

    def __init__(self, message: str, *, delivery: str) -> None:
        super().__init__(message, retryable=False, component="delivery", details={"delivery": delivery})
