"""The ``monitoring`` section: metrics, events, health, tracing, alerts and resources, typed to the last key.

The seed's production YAML (deploy/config/monitoring-production.yaml) validates as written; the module's
checks catch the combinations a schema cannot (batches larger than buffers, stale alert data, Jaeger Thrift).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, SecretStr, Tag

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.policies import (
    CircuitBreakerSettings,
    RetrySettings,
    circuit_breaker_field,
    policy_check,
    retry_field,
)
from sharedconfig.config.types import (
    ByteSize,
    Duration,
    HttpEndpoint,
    NonEmptyStr,
    NonNegativeInt,
    Port,
    PositiveDuration,
    PositiveInt,
    Ratio,
    Secret,
    SecretUrl,
    Settings,
    plaintext_http,
)
from sharedconfig.config.validation import COMPLIANCE, PERFORMANCE, SCHEMA, SECURITY, ValidationContext
from sharedconfig.durations import format_duration

__all__ = [
    "BUILTIN_CHANNELS",
    "BUILTIN_HEALTH_CHECKS",
    "CHANNEL_ENTRY_POINTS",
    "AlertRuleSettings",
    "AlertsSettings",
    "DatadogExporterSettings",
    "ElasticsearchChannelSettings",
    "EventChannelSettings",
    "EventsSettings",
    "HealthCheckSettings",
    "HealthSettings",
    "JournalSettings",
    "KafkaChannelSettings",
    "LogChannelSettings",
    "MetricsExporterSettings",
    "MetricsSettings",
    "MonitoringSettings",
    "NatsChannelSettings",
    "NotifierSettings",
    "PluginChannelSettings",
    "PrometheusExporterSettings",
    "ResourceLimitsSettings",
    "ResourcesSettings",
    "SqliteChannelSettings",
    "TracingSettings",
    "WebhookChannelSettings",
    "channel_entry_points",
    "channel_name",
    "module",
]

BUILTIN_HEALTH_CHECKS: tuple[str, ...] = ("config_loader", "security_manager", "http_client_pool", "storage")
"""Health checks sharedconfig registers itself (the seed's production YAML and its StorageHealthCheck)."""

# Prometheus label names; alert labels and annotations become labels and annotations in rule files
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


# -- metrics -----------------------------------------------------------------------------------------------


class PrometheusExporterSettings(Settings):
    """Push samples to a Prometheus server by remote write (``/metrics`` is served for scraping anyway)."""

    type: Literal["prometheus"] = Field("prometheus", description="Exporter kind.")
    enabled: bool = Field(True, description="Push to this destination (turned off and on while running).")
    endpoint: HttpEndpoint = Field(description="Prometheus base URL, e.g. http://prometheus:9090.")
    push_interval: PositiveDuration | None = Field(
        None, description="Remote-write push interval; unset means Prometheus scrapes /metrics (no push)."
    )
    retry: RetrySettings = retry_field(what="each push")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class DatadogExporterSettings(Settings):
    """Send metrics to DataDog's API (and to a DogStatsD agent when ``statsd_host`` is set)."""

    type: Literal["datadog"] = Field("datadog", description="Exporter kind.")
    enabled: bool = Field(True, description="Push to this destination (turned off and on while running).")
    api_key: Secret = Field(description="DataDog API key; write it as ${DATADOG_API_KEY}.")
    endpoint: HttpEndpoint = Field(
        "https://api.datadoghq.com",
        description="DataDog API URL for your site, e.g. https://api.datadoghq.eu.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every metric.")
    statsd_host: str | None = Field(None, description="DogStatsD agent host; unset sends to the API only.")
    statsd_port: Port | None = Field(
        None, description="DogStatsD agent port (8125 when only the host is set)."
    )
    retry: RetrySettings = retry_field(what="each push")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


MetricsExporterSettings = Annotated[
    PrometheusExporterSettings | DatadogExporterSettings, Field(discriminator="type")
]


class MetricsSettings(Settings):
    """In-process metrics: how often they are collected, how long kept, where exported."""

    enabled: bool = Field(True, description="Record metrics.")
    collection_interval: PositiveDuration = Field(
        _s(15), description="How often gauges and resource metrics are sampled."
    )
    retention: PositiveDuration = Field(
        timedelta(days=1), description="How long in-process samples are kept for alerts and the dashboard."
    )
    compression: bool = Field(True, description="Compress exported payloads.")
    batch_size: PositiveInt = Field(
        1000, description="Samples per export request; at most monitoring.buffer_size."
    )
    exporters: tuple[MetricsExporterSettings, ...] = Field((), description="Where metrics are pushed.")
    namespace: str = Field(
        "", pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$", description="Prefix added to every metric name (ns_name)."
    )
    cardinality_limit: PositiveInt = Field(
        1000,
        description='Series per metric; label sets beyond it fold into one overflow="true" series.',
    )
    max_families: PositiveInt = Field(
        10000,
        description="Metric names at most; a new name past it records nothing (counted in "
        'metrics_dropped_total{reason="family_limit"}, logged once).',
    )
    histogram_buckets: tuple[float, ...] = Field(
        (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        min_length=1,
        description="Default histogram bucket upper bounds (seconds for durations).",
    )
    exclude_paths: tuple[Annotated[str, Field(pattern=r"^/")], ...] = Field(
        ("/metrics", "/health", "/health/live", "/health/ready"),
        description="Request paths the HTTP metrics middleware leaves unmeasured (no request, duration or "
        "in-flight; no server span): exact paths, or prefixes ending in * (/internal/*). [] measures all.",
    )
    multiprocess_dir: Path | None = Field(
        None,
        description="Directory shared by the worker processes of one service (uvicorn --workers, gunicorn): "
        "each writes its series there and /metrics shows the merge of all of them. Unset: "
        "$SHAREDCONFIG_METRICS_MULTIPROCESS_DIR, else one process.",
    )
    multiprocess_interval: PositiveDuration = Field(
        _s(1),
        description="How often each process writes its series to multiprocess_dir (besides at every "
        "scrape and at stop): what a worker killed without a stop can lose.",
    )


class LoggingSettings(Settings):
    """Structured logging: level and output format."""

    level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="Minimum level."
    )
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, a pretty console, or auto (console on a terminal, else json)."
    )
    capture_stdlib: bool = Field(
        True, description="Route the stdlib logging module through the same pipeline."
    )


class ServerSettings(Settings):
    """The local HTTP server (`sharedconfig serve`): /metrics, /health, the API."""

    host: NonEmptyStr = Field("127.0.0.1", description="Address to bind; non-loopback needs api_token.")
    port: Port = Field(9464, description="TCP port.")
    api_token: Secret | None = Field(
        None, description="Bearer token for /api/*; write it as ${SHAREDCONFIG_API_TOKEN}."
    )
    header_timeout: PositiveDuration = Field(
        _s(5), description="Time a client has to send a request's headers before its connection is closed."
    )
    keep_alive_timeout: PositiveDuration = Field(
        _s(5), description="Time an idle keep-alive connection stays open between requests."
    )
    max_connections: PositiveInt = Field(
        64,
        description="Open connections at most; past it, the one waiting longest for its headers is closed "
        "to make room (an ops endpoint must keep answering /health/live).",
    )


# -- events ------------------------------------------------------------------------------------------------


class _ChannelSettings(Settings):
    """What every channel has: a unique name (the ``channel`` label), a switch, a dead-letter file."""

    name: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="The channel's name in metrics, logs and dead-letter files; defaults to its type.",
    )
    enabled: bool = Field(True, description="Deliver to this channel.")
    dead_letter: str | None = Field(
        None,
        description="JSON-lines file for events this channel gave up on; "
        "defaults to <events.dead_letter_dir>/<name>.jsonl.",
    )


class _NetworkChannelSettings(_ChannelSettings):
    """A channel that sends over the network: retries, a circuit breaker and a bounded in-flight window."""

    timeout: PositiveDuration = Field(_s(10), description="Longest wait for one request or acknowledgement.")
    max_in_flight: PositiveInt = Field(4, description="Batches sent at once at most.")
    in_flight_wait: PositiveDuration = Field(
        _s(60), description="How long a batch waits for a free in-flight slot before it is retried."
    )
    retry: RetrySettings = retry_field(what="each batch of events")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class ElasticsearchChannelSettings(_NetworkChannelSettings):
    """Index events into Elasticsearch with the ``_bulk`` API."""

    type: Literal["elasticsearch"] = Field("elasticsearch", description="Channel kind.")
    endpoint: HttpEndpoint = Field(description="Elasticsearch URL, e.g. http://elasticsearch:9200.")
    index: NonEmptyStr = Field(
        "sharedconfig-events",
        description="Index events are written to; strftime fields (e.g. events-%Y.%m.%d) name one index "
        "per day of the event's time (UTC).",
    )
    username: str | None = Field(None, description="Basic-auth user name.")
    password: Secret | None = Field(None, description="Basic-auth password; write it as ${ENV_VAR}.")
    api_key: Secret | None = Field(
        None, description="API key (Authorization: ApiKey ...), instead of a password."
    )


class KafkaChannelSettings(_NetworkChannelSettings):
    """Produce events to a Kafka topic (idempotent producer, acks=all)."""

    type: Literal["kafka"] = Field("kafka", description="Channel kind.")
    brokers: tuple[NonEmptyStr, ...] = Field(min_length=1, description="Bootstrap brokers, host:port.")
    topic: NonEmptyStr = Field("sharedconfig-events", description="Topic events are produced to.")
    mode: Literal["binary", "structured"] = Field(
        "binary",
        description="CloudEvents Kafka binding: ce_ headers (binary) or a JSON envelope (structured).",
    )
    compression: Literal["zstd", "lz4", "snappy", "gzip", "none"] = Field(
        "zstd", description="Compression of produced batches."
    )
    key: NonEmptyStr = Field(
        "subject", description="Event attribute used as the message key (partitioning): subject, type..."
    )
    linger: Duration = Field(
        timedelta(milliseconds=5), description="How long the producer waits to fill a batch (linger.ms)."
    )
    options: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra librdkafka settings, e.g. security.protocol or sasl.jaas.config; every value is "
        "kept as a secret (never shown, logged or in errors).",
    )


class WebhookChannelSettings(_NetworkChannelSettings):
    """POST CloudEvents JSON to a URL, signed with HMAC-SHA256."""

    type: Literal["webhook"] = Field("webhook", description="Channel kind.")
    url: SecretUrl = Field(
        description="Receiver URL; treated as a secret since such URLs often embed a token."
    )
    secret: Secret | None = Field(
        None,
        description="Shared secret of the X-Sharedconfig-Signature header (HMAC-SHA256); "
        "write it as ${ENV_VAR}.",
    )
    mode: Literal["batch", "structured"] = Field(
        "batch", description="batch: one JSON array per request; structured: one event per request."
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Extra request headers (secret).")


class LogChannelSettings(_ChannelSettings):
    """Write events to the service's structured log."""

    type: Literal["log"] = Field("log", description="Channel kind.")
    level: Literal["debug", "info", "warning", "error"] | None = Field(
        None, description="Log level of every event; by default it follows each event's severity."
    )


class SqliteChannelSettings(_ChannelSettings):
    """Keep events in a local SQLite file (the embedded default; backs /api/v1/events and events tail)."""

    type: Literal["sqlite"] = Field("sqlite", description="Channel kind.")
    path: NonEmptyStr = Field("sharedconfig-events.sqlite3", description="Database file.")
    max_age: PositiveDuration = Field(timedelta(days=7), description="Events older than this are deleted.")
    max_bytes: ByteSize = Field(256 * 1024 * 1024, description="The store is kept under this size.")


class NatsChannelSettings(_NetworkChannelSettings):
    """Publish events to NATS JetStream, acknowledged; Nats-Msg-Id = the event id, so JetStream dedupes."""

    type: Literal["nats"] = Field("nats", description="Channel kind.")
    servers: tuple[NonEmptyStr, ...] = Field(min_length=1, description="Server URLs, e.g. nats://nats:4222.")
    subject: NonEmptyStr = Field("sharedconfig.events", description="Subject events are published on.")
    stream: str | None = Field(
        None, description="JetStream stream expected to hold the subject (checked on publish acks)."
    )
    username: str | None = Field(None, description="User name.")
    password: Secret | None = Field(None, description="Password or token; write it as ${ENV_VAR}.")


BUILTIN_CHANNELS: Final = ("elasticsearch", "kafka", "webhook", "log", "sqlite", "nats")
"""The channel types this package implements; any other ``type`` must be an installed entry point."""

CHANNEL_ENTRY_POINTS: Final = "sharedconfig.channels"


class PluginChannelSettings(Settings, extra="allow"):
    """A channel from another package (entry point group sharedconfig.channels), with its own keys."""

    type: NonEmptyStr = Field(
        description="The entry point's name.", json_schema_extra={"not": {"enum": list(BUILTIN_CHANNELS)}}
    )
    name: str | None = Field(None, description="The channel's name; defaults to its type.")
    enabled: bool = Field(True, description="Deliver to this channel.")
    dead_letter: str | None = Field(None, description="JSON-lines file for events this channel gave up on.")


_PLUGIN_TAG: Final = "an installed plugin"
"""The union tag of third-party channels: a phrase, so an error's list of allowed types reads well and no
``type`` written in a file selects it by accident."""


@cache
def channel_entry_points() -> dict[str, EntryPoint]:
    """The entry points of group ``sharedconfig.channels`` by name, the built-in channels' included (read
    once per process): what validation accepts as a ``type`` and what ``events.channel`` builds from."""
    return {ep.name: ep for ep in entry_points(group=CHANNEL_ENTRY_POINTS)}


@cache
def _plugin_channels() -> frozenset[str]:
    """The channel types other installed packages provide."""
    return frozenset(channel_entry_points()) - set(BUILTIN_CHANNELS)


def _channel_kind(value: object) -> str | None:
    """The union member of a channel: its type, the plugin tag for an installed third-party one; an unknown
    type is left as it is, so validation names it with the allowed types."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return _PLUGIN_TAG if kind in _plugin_channels() else kind


EventChannelSettings = Annotated[
    Annotated[ElasticsearchChannelSettings, Tag("elasticsearch")]
    | Annotated[KafkaChannelSettings, Tag("kafka")]
    | Annotated[WebhookChannelSettings, Tag("webhook")]
    | Annotated[LogChannelSettings, Tag("log")]
    | Annotated[SqliteChannelSettings, Tag("sqlite")]
    | Annotated[NatsChannelSettings, Tag("nats")]
    | Annotated[PluginChannelSettings, Tag(_PLUGIN_TAG)],
    Discriminator(_channel_kind),
]


class JournalSettings(Settings):
    """Where overflowing events wait on disk (the spill policy) and where a stop leaves undelivered ones."""

    path: NonEmptyStr = Field(
        "sharedconfig-events.journal", description="Directory of the journal's segment files."
    )
    max_bytes: ByteSize = Field(
        256 * 1024 * 1024, description="The journal's size cap; past it events are dropped and counted."
    )
    fsync: Literal["batch", "interval", "never"] = Field(
        "interval", description="fsync after every write (batch), about once a second (interval), or never."
    )


class EventsSettings(Settings):
    """Event publishing: a bounded buffer, batched delivery to each channel."""

    enabled: bool = Field(True, description="Publish events.")
    source: str | None = Field(
        None,
        description="CloudEvents source of this service's events; defaults to /<service name>/<hostname>.",
    )
    buffer_size: PositiveInt = Field(
        5000, description="Events held in memory before delivery; what overflows follows overflow."
    )
    batch_size: PositiveInt = Field(100, description="Events per delivery; at most buffer_size.")
    flush_interval: PositiveDuration = Field(
        _s(5), description="Longest wait before a partial batch is sent."
    )
    overflow: Literal["spill", "drop_oldest", "drop_newest"] = Field(
        "spill",
        description="When the buffer is full: spill to the journal and resend in order, or drop (counted).",
    )
    journal: JournalSettings = Field(default_factory=JournalSettings, description="The on-disk journal.")
    max_in_flight: PositiveInt = Field(
        4, description="Batches being delivered at once; acknowledged in the order they were taken."
    )
    dead_letter_dir: NonEmptyStr = Field(
        "sharedconfig-events.dead-letter",
        description="Directory of each channel's dead-letter file (<name>.jsonl), "
        "unless the channel names one.",
    )
    schemas: dict[NonEmptyStr, dict[str, Any] | NonEmptyStr] = Field(
        default_factory=dict,
        description="JSON Schema of each event type's data: the schema itself, or the path of a JSON file.",
    )
    schema_violation: Literal["raise", "dead_letter"] = Field(
        "raise",
        description="An event whose data fails its schema: raise in publish (development) or count it and "
        "write it to <dead_letter_dir>/schema.jsonl (production).",
    )
    exporters: tuple[EventChannelSettings, ...] = Field((), description="Channels events are delivered to.")


# -- health ------------------------------------------------------------------------------------------------


class HealthCheckSettings(Settings):
    """Settings of one health check, matched to a registered check by name."""

    name: NonEmptyStr = Field(description="Name of the check, e.g. config_loader.")
    description: str = Field("", description="What the check verifies, shown on /health and the dashboard.")
    critical: bool = Field(False, description="A failing critical check makes the service unhealthy.")
    interval: PositiveDuration | None = Field(
        None, description="How often it runs; defaults to check_interval."
    )
    timeout: PositiveDuration | None = Field(
        None, description="How long it may run; defaults to health.timeout."
    )
    enabled: bool = Field(True, description="Run the check.")
    tags: dict[str, str] = Field(default_factory=dict, description="Labels shown with the check's results.")


class HealthSettings(Settings):
    """Health checking: the schedule and per-check settings."""

    enabled: bool = Field(True, description="Run health checks.")
    check_interval: PositiveDuration = Field(_s(30), description="Default interval between runs of a check.")
    timeout: PositiveDuration = Field(_s(10), description="Default time a check may take before it fails.")
    checks: tuple[HealthCheckSettings, ...] = Field((), description="Per-check settings.")


# -- tracing -----------------------------------------------------------------------------------------------


class JaegerExporterSettings(Settings):
    """Jaeger; deprecated, use ``otlp``. Spans go over OTLP/HTTP to port 4318 of ``endpoint``'s host.

    OpenTelemetry removed its Jaeger exporter and Jaeger >= 1.35 ingests OTLP, so the seed's
    ``http://jaeger:14268/api/traces`` (the legacy Thrift collector) reaches ``http://jaeger:4318/v1/traces``.
    """

    type: Literal["jaeger"] = Field("jaeger", description="Exporter kind (deprecated: use otlp).")
    endpoint: HttpEndpoint = Field(
        description="Jaeger collector URL, e.g. http://jaeger:14268/api/traces; spans are sent with "
        "OTLP/HTTP to port 4318 of its host."
    )
    timeout: PositiveDuration = Field(_s(10), description="Time an export may take.")


class OtlpExporterSettings(Settings):
    """Export spans with OTLP to any OpenTelemetry collector, Jaeger or Tempo."""

    type: Literal["otlp"] = Field("otlp", description="Exporter kind.")
    endpoint: HttpEndpoint = Field(
        "http://localhost:4318/v1/traces", description="OTLP traces URL (port 4318 for HTTP, 4317 for gRPC)."
    )
    protocol: Literal["http/protobuf", "grpc"] = Field("http/protobuf", description="OTLP transport.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Request headers (secret).")
    timeout: PositiveDuration = Field(_s(10), description="Time an export may take.")


class ZipkinExporterSettings(Settings):
    """Export spans to Zipkin's v2 JSON API."""

    type: Literal["zipkin"] = Field("zipkin", description="Exporter kind.")
    endpoint: HttpEndpoint = Field("http://localhost:9411/api/v2/spans", description="Zipkin spans URL.")
    timeout: PositiveDuration = Field(_s(10), description="Time an export may take.")


class ConsoleExporterSettings(Settings):
    """Print spans to standard output (development)."""

    type: Literal["console"] = Field("console", description="Exporter kind.")


TraceExporterSettings = Annotated[
    JaegerExporterSettings | OtlpExporterSettings | ZipkinExporterSettings | ConsoleExporterSettings,
    Field(discriminator="type"),
]


class TracingSettings(Settings):
    """Distributed tracing: sampling, the service's identity and span exporters."""

    enabled: bool = Field(True, description="Record spans.")
    sample_rate: Ratio = Field(1.0, description="Fraction of traces sampled (parent-based).")
    service_name: NonEmptyStr = Field("unknown_service", description="OpenTelemetry service.name.")
    service_version: str = Field("", description="OpenTelemetry service.version.")
    attributes: dict[str, str | bool | int | float] = Field(
        default_factory=dict,
        description="Resource attributes of every span (deployment.environment.name, service.namespace).",
    )
    exporters: tuple[TraceExporterSettings, ...] = Field((), description="Where spans are exported.")
    global_provider: bool = Field(
        False,
        description="Also make this tracer provider OpenTelemetry's global one, so spans of libraries "
        "instrumented with OpenTelemetry are exported with sharedconfig's (one per process).",
    )


# -- alerts ------------------------------------------------------------------------------------------------


class AlertRuleSettings(Settings):
    """One alerting rule: a PromQL condition that must hold for ``duration`` before it fires."""

    name: NonEmptyStr = Field(description="Alert name (alertname label).")
    query: NonEmptyStr = Field(description="PromQL expression; the alert fires for each series it returns.")
    severity: Literal["critical", "warning", "info"] = Field("warning", description="severity label.")
    duration: Duration = Field(_s(0), description="How long the condition must hold (Prometheus `for`).")
    labels: dict[LabelName, str] = Field(default_factory=dict, description="Extra labels.")
    annotations: dict[LabelName, str] = Field(
        default_factory=dict, description="Annotations such as summary, description, runbook_url."
    )


class SlackNotifierSettings(Settings):
    """Post notifications to a Slack incoming webhook."""

    type: Literal["slack"] = Field("slack", description="Notifier kind.")
    webhook_url: SecretUrl = Field(description="Incoming webhook URL; write it as ${SLACK_WEBHOOK_URL}.")
    channel: str | None = Field(None, description="Channel override, e.g. #alerts.")
    timeout: PositiveDuration = Field(_s(10), description="Longest wait for each request.")
    retry: RetrySettings = retry_field(what="each notification")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class EmailNotifierSettings(Settings):
    """Send notifications by SMTP."""

    type: Literal["email"] = Field("email", description="Notifier kind.")
    smtp_host: NonEmptyStr = Field(description="SMTP server host.")
    smtp_port: Port = Field(587, description="SMTP port (587 submission with STARTTLS).")
    from_: Email = Field(alias="from", description="Sender address.")
    to: tuple[Email, ...] = Field(min_length=1, description="Recipient addresses.")
    username: str | None = Field(None, description="SMTP user name.")
    password: Secret | None = Field(None, description="SMTP password; write it as ${ENV_VAR}.")
    use_tls: bool = Field(
        True,
        description="Use TLS: STARTTLS, or TLS from the first byte on port 465 (as Alertmanager does); "
        "false sends in plain text.",
    )
    timeout: PositiveDuration = Field(_s(10), description="Longest wait for the SMTP server at each step.")
    retry: RetrySettings = retry_field(what="each notification")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class WebhookNotifierSettings(Settings):
    """POST notifications as JSON (Alertmanager's webhook payload) to a URL."""

    type: Literal["webhook"] = Field("webhook", description="Notifier kind.")
    url: SecretUrl = Field(
        description="Receiver URL; treated as a secret since such URLs often embed a token."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Extra request headers (secret), e.g. Authorization: Bearer ${ALERTS_TOKEN}.",
    )
    secret: Secret | None = Field(
        None,
        description="Sign each request with HMAC-SHA256 as the events webhook does "
        "(X-Sharedconfig-Signature); write it as ${ENV_VAR}.",
    )
    max_alerts: NonNegativeInt = Field(
        0, description="Most alerts in one payload, the rest counted in truncatedAlerts (0: all)."
    )
    timeout: PositiveDuration = Field(_s(10), description="Longest wait for each request.")
    retry: RetrySettings = retry_field(what="each notification")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class AlertmanagerNotifierSettings(Settings):
    """Hand alerts to Prometheus Alertmanager, which groups, silences and routes them."""

    type: Literal["alertmanager"] = Field("alertmanager", description="Notifier kind.")
    endpoint: HttpEndpoint = Field(
        "http://localhost:9093", description="Alertmanager base URL; alerts go to <endpoint>/api/v2/alerts."
    )
    timeout: PositiveDuration = Field(_s(10), description="Longest wait for each request.")
    retry: RetrySettings = retry_field(what="each notification")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


NotifierSettings = Annotated[
    SlackNotifierSettings | EmailNotifierSettings | WebhookNotifierSettings | AlertmanagerNotifierSettings,
    Field(discriminator="type"),
]


class AlertsSettings(Settings):
    """Alert rules evaluated in process, and where their notifications go."""

    enabled: bool = Field(True, description="Evaluate alert rules.")
    evaluation_interval: PositiveDuration = Field(_s(15), description="How often rules are evaluated.")
    rules: tuple[AlertRuleSettings, ...] = Field((), description="Alerting rules.")
    notifications: tuple[NotifierSettings, ...] = Field(
        (), description="Where firing and resolved alerts are sent."
    )


# -- resources ---------------------------------------------------------------------------------------------


class ResourceLimitsSettings(Settings):
    """Limits on the process; strategies act as usage approaches them. Unset means no limit."""

    max_memory_usage: ByteSize | None = Field(None, description="Resident memory limit, e.g. 2GiB.")
    max_cpu_usage: Ratio | None = Field(None, description="CPU limit as a fraction of one core's time.")
    max_disk_usage: ByteSize | None = Field(None, description="Limit on spill and dead-letter files.")


class ReduceSamplingSettings(Settings):
    """Lower the sample rates when usage crosses the threshold."""

    type: Literal["reduce_sampling"] = Field("reduce_sampling", description="Strategy kind.")
    trigger_threshold: Ratio = Field(0.9, description="Fraction of a limit at which the strategy runs.")
    reduction_factor: float = Field(0.5, gt=0.0, lt=1.0, description="Sample rates are multiplied by this.")


class FlushBuffersSettings(Settings):
    """Flush every buffer early when usage crosses the threshold."""

    type: Literal["flush_buffers"] = Field("flush_buffers", description="Strategy kind.")
    trigger_threshold: Ratio = Field(0.8, description="Fraction of a limit at which the strategy runs.")


class GcForceSettings(Settings):
    """Run a full garbage collection when usage crosses the threshold."""

    type: Literal["gc_force"] = Field("gc_force", description="Strategy kind.")
    trigger_threshold: Ratio = Field(0.95, description="Fraction of a limit at which the strategy runs.")


class DisableNonCriticalSettings(Settings):
    """Pause non-critical work (non-critical health checks, debug events) when usage crosses the threshold."""

    type: Literal["disable_non_critical"] = Field("disable_non_critical", description="Strategy kind.")
    trigger_threshold: Ratio = Field(0.95, description="Fraction of a limit at which the strategy runs.")


StrategySettings = Annotated[
    ReduceSamplingSettings | FlushBuffersSettings | GcForceSettings | DisableNonCriticalSettings,
    Field(discriminator="type"),
]


class ResourcesSettings(Settings):
    """Resource-aware monitoring: limits and the strategies that keep usage under them."""

    enabled: bool = Field(True, description="Sample resource usage and apply strategies.")
    check_interval: PositiveDuration = Field(_s(15), description="How often usage is sampled.")
    limits: ResourceLimitsSettings = Field(
        default_factory=ResourceLimitsSettings, description="Resource limits."
    )
    strategies: tuple[StrategySettings, ...] = Field((), description="What to do as usage nears a limit.")


# -- the section -------------------------------------------------------------------------------------------


class MonitoringSettings(Settings):
    """The ``monitoring`` section: the seed's production YAML as a schema."""

    enabled: bool = Field(True, description="Turn all monitoring on or off.")
    sample_rate: Ratio = Field(
        1.0, description="Fraction of events kept (traces: tracing.sample_rate); metrics are never sampled."
    )
    buffer_size: PositiveInt = Field(10000, description="Metric samples held between collection and export.")
    flush_interval: PositiveDuration = Field(_s(30), description="How often buffered metrics are exported.")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description="Metrics.")
    events: EventsSettings = Field(default_factory=EventsSettings, description="Events.")
    health: HealthSettings = Field(default_factory=HealthSettings, description="Health checks.")
    tracing: TracingSettings = Field(default_factory=TracingSettings, description="Distributed tracing.")
    alerts: AlertsSettings = Field(default_factory=AlertsSettings, description="Alerting.")
    resources: ResourcesSettings = Field(default_factory=ResourcesSettings, description="Resource limits.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description="Structured logging.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="The local HTTP server.")
    shutdown_timeout: PositiveDuration = Field(
        _s(10),
        description="Total time stop() may take; each flush gets what is left of it, and work still "
        "running at the end is abandoned, counted and logged.",
    )


# -- checks ------------------------------------------------------------------------------------------------

_M = "monitoring"


@module_check(_M, "monitoring.batch_fits_buffer", PERFORMANCE)
def check_batches(settings: MonitoringSettings, ctx: ValidationContext) -> None:
    """A batch larger than its buffer can never fill (VALIDATION_020)."""
    events = settings.events
    if events.batch_size > events.buffer_size:
        ctx.report(
            "VALIDATION_020",
            (_M, "events", "batch_size"),
            f"events.batch_size {events.batch_size} is larger than events.buffer_size {events.buffer_size}",
        )
    if settings.metrics.batch_size > settings.buffer_size:
        ctx.report(
            "VALIDATION_020",
            (_M, "metrics", "batch_size"),
            f"metrics.batch_size {settings.metrics.batch_size} is larger than the metrics buffer "
            f"(monitoring.buffer_size {settings.buffer_size})",
        )


def channel_name(channel: EventChannelSettings) -> str:
    """A channel's name: its ``name``, or its ``type``."""
    return channel.name or channel.type


@module_check(_M, "monitoring.events.channel_names", SCHEMA)
def check_channel_names(settings: MonitoringSettings, ctx: ValidationContext) -> None:
    """Each event channel's name labels its metrics and names its dead-letter file (VALIDATION_054)."""
    seen: dict[str, int] = {}
    for i, channel in enumerate(settings.events.exporters):
        name = channel_name(channel)
        if name in seen:
            where = "name" if channel.name else "type"
            ctx.report(
                "VALIDATION_054",
                (_M, "events", "exporters", i, where),
                f"the channel name {name!r} is used by exporters[{seen[name]}] too",
            )
        else:
            seen[name] = i


@module_check(_M, "monitoring.intervals", PERFORMANCE)
def check_intervals(settings: MonitoringSettings, ctx: ValidationContext) -> None:
    """Sample rates and intervals that record nothing, repeat data or cannot finish (VALIDATION_021)."""
    if settings.enabled and settings.sample_rate == 0:
        ctx.report(
            "VALIDATION_021",
            (_M, "sample_rate"),
            "monitoring is enabled but sample_rate is 0, so nothing is recorded; set enabled: false instead",
        )
    metrics = settings.metrics
    collect = metrics.collection_interval
    for i, exporter in enumerate(metrics.exporters):
        if exporter.type != "prometheus" or exporter.push_interval is None:
            continue
        push = exporter.push_interval
        if push < collect:
            ctx.report(
                "VALIDATION_021",
                (_M, "metrics", "exporters", i, "push_interval"),
                f"push_interval {format_duration(push)} is shorter than metrics.collection_interval "
                f"{format_duration(collect)}: pushes would repeat the same samples",
            )
    alerts = settings.alerts
    if alerts.enabled and metrics.enabled and alerts.evaluation_interval < collect:
        ctx.report(
            "VALIDATION_021",
            (_M, "alerts", "evaluation_interval"),
            f"alerts.evaluation_interval {format_duration(alerts.evaluation_interval)} is shorter than "
            f"metrics.collection_interval {format_duration(collect)}: rules would evaluate stale data",
        )
    _check_health_timeouts(settings.health, ctx)


def _check_health_timeouts(health: HealthSettings, ctx: ValidationContext) -> None:
    if health.timeout >= health.check_interval:
        ctx.report(
            "VALIDATION_021",
            (_M, "health", "timeout"),
            f"health.timeout {format_duration(health.timeout)} is not shorter than health.check_interval "
            f"{format_duration(health.check_interval)}: a slow check would still run when the next is due",
            severity="error",
        )
    for i, check in enumerate(health.checks):
        if check.interval is None and check.timeout is None:
            continue  # inherits both, covered above
        interval = check.interval or health.check_interval
        timeout = check.timeout or health.timeout
        if timeout >= interval:
            ctx.report(
                "VALIDATION_021",
                (_M, "health", "checks", i, "timeout" if check.timeout is not None else "interval"),
                f"health check {check.name!r}: timeout {format_duration(timeout)} is not shorter than its "
                f"interval {format_duration(interval)}",
                severity="error",
            )


@module_check(_M, "monitoring.plaintext_credentials", SECURITY)
def check_plaintext_credentials(settings: MonitoringSettings, ctx: ValidationContext) -> None:
    """In production, credentials must not travel over plain http:// or SMTP without TLS (VALIDATION_011)."""
    if not ctx.production:
        return
    found: list[tuple[tuple[str | int, ...], str]] = []
    for i, m in enumerate(settings.metrics.exporters):
        if m.type == "datadog" and plaintext_http(m.endpoint):
            found.append(
                (("metrics", "exporters", i, "endpoint"), "the DataDog API key is sent over http://")
            )
    for i, e in enumerate(settings.events.exporters):
        if (
            isinstance(e, ElasticsearchChannelSettings)
            and (e.password is not None or e.api_key is not None)
            and plaintext_http(e.endpoint)
        ):
            found.append(
                (
                    ("events", "exporters", i, "endpoint"),
                    "the Elasticsearch credentials are sent over http://",
                )
            )
        elif isinstance(e, WebhookChannelSettings) and plaintext_http(e.url.get_secret_value()):
            found.append((("events", "exporters", i, "url"), "the webhook URL uses http://"))
    for i, t in enumerate(settings.tracing.exporters):
        if t.type == "otlp" and t.headers and plaintext_http(t.endpoint):
            found.append((("tracing", "exporters", i, "endpoint"), "OTLP headers are sent over http://"))
    for i, n in enumerate(settings.alerts.notifications):
        if n.type == "slack" and plaintext_http(n.webhook_url.get_secret_value()):
            found.append(
                (("alerts", "notifications", i, "webhook_url"), "the Slack webhook URL uses http://")
            )
        elif n.type == "webhook" and plaintext_http(n.url.get_secret_value()):
            found.append((("alerts", "notifications", i, "url"), "the webhook URL uses http://"))
        elif n.type == "email" and n.password is not None and not n.use_tls:
            found.append((("alerts", "notifications", i, "use_tls"), "the SMTP password is sent without TLS"))
    for path, message in found:
        ctx.report("VALIDATION_011", (_M, *path), f"{message} in production")


# Jaeger's Thrift ports: 14268 collector HTTP, 6831/6832 agent UDP (compact/binary)
_THRIFT_HTTP_PORT = 14268
_THRIFT_UDP_PORTS = (6831, 6832)


def otlp_replacement(jaeger_endpoint: str) -> str:
    """The OTLP/HTTP traces URL on the same host as a Jaeger endpoint (port 4318, path /v1/traces)."""
    parts = urlsplit(jaeger_endpoint)
    host = parts.hostname or "localhost"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    scheme = "https" if parts.scheme.lower() == "https" else "http"
    return f"{scheme}://{host}:4318/v1/traces"


def _jaeger_protocol(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port == _THRIFT_HTTP_PORT or parts.path.rstrip("/") == "/api/traces":
        return "Jaeger Thrift over HTTP (port 14268, /api/traces) is deprecated"
    if port in _THRIFT_UDP_PORTS:
        return f"Jaeger Thrift over UDP (agent port {port}) is deprecated"
    return "the Jaeger exporter is deprecated"


@module_check(_M, "monitoring.jaeger_deprecated", COMPLIANCE)
def check_jaeger(settings: MonitoringSettings, ctx: ValidationContext) -> None:
    """A ``type: jaeger`` exporter gets one warning pointing at the OTLP endpoint (VALIDATION_030)."""
    for i, exporter in enumerate(settings.tracing.exporters):
        if exporter.type != "jaeger":
            continue
        ctx.report(
            "VALIDATION_030",
            (_M, "tracing", "exporters", i, "endpoint"),
            f"{_jaeger_protocol(exporter.endpoint)}: OpenTelemetry removed its Jaeger exporter and Jaeger "
            f"1.35+ ingests OTLP; use `type: otlp` with `endpoint: {otlp_replacement(exporter.endpoint)}`",
        )


module: SettingsModule[MonitoringSettings] = SettingsModule(
    name="monitoring",
    schema=MonitoringSettings,
    validators=(
        check_channel_names,
        check_plaintext_credentials,
        check_batches,
        check_intervals,
        check_jaeger,
        policy_check(_M),
    ),
    description="Metrics, events, health checks, tracing, alerts and resource limits.",
)
