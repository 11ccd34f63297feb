"""The seed's built-in metric names (SystemMetrics) in one place, spelled as Prometheus expects.

Components and hooks use these constants, never string literals, so a rename happens here only.
"""

from __future__ import annotations

from typing import Final

from sharedconfig.hooks import HOOK_ERRORS, HOOK_ERRORS_HELP

__all__ = [
    "CIRCUIT_BREAKER_STATE",
    "CONFIG_INFO",
    "CONFIG_LOAD_DURATION",
    "CONFIG_LOAD_ERRORS",
    "CONFIG_RELOADS",
    "CONFIG_VALIDATIONS",
    "CONFIG_VALIDATION_DURATION",
    "CONFIG_VALIDATION_ERRORS",
    "CONFIG_VALIDATION_WARNINGS",
    "EVENTS_BUFFER_SIZE",
    "EVENTS_DELIVERED",
    "EVENTS_DROPPED",
    "EVENTS_FAILED",
    "EVENTS_PUBLISHED",
    "EVENT_DELIVERY_DURATION",
    "HEALTH_CHECK_DURATION",
    "HEALTH_CHECK_STATUS",
    "HEALTH_CHECK_TRANSITIONS",
    "HELP",
    "HOOK_ERRORS",
    "HTTP_CLIENT_REQUESTS",
    "HTTP_CLIENT_REQUEST_DURATION",
    "HTTP_SERVER_IN_FLIGHT",
    "HTTP_SERVER_REQUESTS",
    "HTTP_SERVER_REQUEST_DURATION",
    "METRICS_CARDINALITY_OVERFLOW",
    "METRICS_DROPPED",
    "METRICS_EXPORT_FAILURES",
    "METRICS_MULTIPROCESS_SYNC_FAILURES",
    "PROCESS_CPU_SECONDS",
    "PROCESS_MAX_FDS",
    "PROCESS_OPEN_FDS",
    "PROCESS_RESIDENT_MEMORY",
    "PROCESS_START_TIME",
    "PROCESS_THREADS",
    "PROCESS_VIRTUAL_MEMORY",
    "PYTHON_GC_COLLECTIONS",
    "PYTHON_GC_OBJECTS_COLLECTED",
    "PYTHON_GC_OBJECTS_UNCOLLECTABLE",
    "PYTHON_INFO",
    "SECURITY_AUTH_ATTEMPTS",
    "SERVER_CONNECTIONS_CLOSED",
    "SHUTDOWN_ABANDONED",
    "TRIGGER_EXECUTIONS",
]

# configuration (seed 3.1)
CONFIG_LOAD_DURATION: Final = "config_load_duration_seconds"
CONFIG_LOAD_ERRORS: Final = "config_load_errors_total"
CONFIG_VALIDATIONS: Final = "config_validation_total"
CONFIG_VALIDATION_ERRORS: Final = "config_validation_errors"
CONFIG_VALIDATION_WARNINGS: Final = "config_validation_warnings"
CONFIG_VALIDATION_DURATION: Final = "config_validation_duration_seconds"
CONFIG_RELOADS: Final = "config_reloads_total"
CONFIG_INFO: Final = "config_info"

# health (seed 2.3)
HEALTH_CHECK_STATUS: Final = "health_check_status"
HEALTH_CHECK_DURATION: Final = "health_check_duration_seconds"
HEALTH_CHECK_TRANSITIONS: Final = "health_check_transitions_total"

# HTTP client (seed 3.3) and server middleware
HTTP_CLIENT_REQUESTS: Final = "http_requests_total"
HTTP_CLIENT_REQUEST_DURATION: Final = "http_request_duration_seconds"
HTTP_SERVER_REQUESTS: Final = "http_server_requests_total"
HTTP_SERVER_REQUEST_DURATION: Final = "http_server_request_duration_seconds"
HTTP_SERVER_IN_FLIGHT: Final = "http_server_requests_in_flight"

# the server's own connection limits (server.limits)
SERVER_CONNECTIONS_CLOSED: Final = "server_connections_closed_total"

# security (seed 3.2) and triggers
SECURITY_AUTH_ATTEMPTS: Final = "security_auth_attempts_total"
TRIGGER_EXECUTIONS: Final = "trigger_executions_total"

# the metrics system itself
METRICS_CARDINALITY_OVERFLOW: Final = "metrics_cardinality_overflow_total"
METRICS_EXPORT_FAILURES: Final = "metrics_export_failures_total"
METRICS_DROPPED: Final = "metrics_dropped_total"
METRICS_MULTIPROCESS_SYNC_FAILURES: Final = "metrics_multiprocess_sync_failures_total"

# the runtime's bounded stop (Monitoring.stop within monitoring.shutdown_timeout)
SHUTDOWN_ABANDONED: Final = "shutdown_abandoned_total"

# delivery (sharedconfig.delivery): exporters now, event channels and notifiers next
CIRCUIT_BREAKER_STATE: Final = "circuit_breaker_state"

# process and runtime (metrics.process.ProcessCollector, read at collection time): prometheus_client's
# names, never namespaced, so dashboards made for its process, gc and platform collectors work as they are
PROCESS_RESIDENT_MEMORY: Final = "process_resident_memory_bytes"
PROCESS_OPEN_FDS: Final = "process_open_fds"
PROCESS_CPU_SECONDS: Final = "process_cpu_seconds_total"
PROCESS_VIRTUAL_MEMORY: Final = "process_virtual_memory_bytes"
PROCESS_START_TIME: Final = "process_start_time_seconds"
PROCESS_MAX_FDS: Final = "process_max_fds"
PROCESS_THREADS: Final = "process_threads"
PYTHON_GC_OBJECTS_COLLECTED: Final = "python_gc_objects_collected_total"
PYTHON_GC_OBJECTS_UNCOLLECTABLE: Final = "python_gc_objects_uncollectable_total"
PYTHON_GC_COLLECTIONS: Final = "python_gc_collections_total"
PYTHON_INFO: Final = "python_info"

# events (monitoring/events/)
EVENTS_PUBLISHED: Final = "events_published_total"
EVENTS_DELIVERED: Final = "events_delivered_total"
EVENTS_FAILED: Final = "events_failed_total"
EVENTS_DROPPED: Final = "events_dropped_total"
EVENTS_BUFFER_SIZE: Final = "events_buffer_size"
EVENT_DELIVERY_DURATION: Final = "event_delivery_seconds"

# HELP text of the built-in metrics, set on every registry a Monitoring builds
HELP: Final = {
    CONFIG_LOAD_DURATION: 'Time to read, merge and validate configuration, by success ("true"/"false").',
    CONFIG_LOAD_ERRORS: "Configuration loads that failed, by error_type: the issue code of the load's first "
    "error (e.g. CONFIG_001, VALIDATION_003; other for a code not in the registry).",
    CONFIG_VALIDATIONS: 'Configuration validations, by valid ("true"/"false").',
    CONFIG_VALIDATION_ERRORS: "Errors found by the last configuration validation.",
    CONFIG_VALIDATION_WARNINGS: "Warnings found by the last configuration validation.",
    CONFIG_VALIDATION_DURATION: "Time to validate configuration (schemas and validators).",
    CONFIG_RELOADS: "Configuration reloads by result: success (swapped in) or failure (rejected, the last "
    "good configuration stays in force).",
    CONFIG_INFO: "The configuration in force: 1, with hash (a short hash of the effective configuration, "
    "secrets redacted) and source (where it came from).",
    HEALTH_CHECK_STATUS: "Health check state: 1 healthy, 0.5 degraded, 0 unhealthy, -1 unknown.",
    HEALTH_CHECK_DURATION: "Time a health check took.",
    HEALTH_CHECK_TRANSITIONS: "Health check state changes.",
    HTTP_CLIENT_REQUESTS: "HTTP client requests by status.",
    HTTP_CLIENT_REQUEST_DURATION: "HTTP client request time.",
    HTTP_SERVER_REQUESTS: "HTTP requests served, by method, route template, status class and status code.",
    HTTP_SERVER_REQUEST_DURATION: "Time to serve an HTTP request, by method and route template.",
    HTTP_SERVER_IN_FLIGHT: "HTTP requests being served now.",
    SERVER_CONNECTIONS_CLOSED: "Client connections the server closed, by reason: header_timeout (no complete "
    "request head in time), evicted (the longest waiting for its head, to make room), refused (at the "
    "limit).",
    SECURITY_AUTH_ATTEMPTS: "Authentication attempts by method and result.",
    TRIGGER_EXECUTIONS: "Trigger executions by result.",
    METRICS_CARDINALITY_OVERFLOW: "Observations folded into a metric's overflow series (label limit hit).",
    METRICS_EXPORT_FAILURES: "Metric pushes that failed, by exporter.",
    CIRCUIT_BREAKER_STATE: "Circuit breaker state by name and component: 0 closed, 1 half-open, 2 open, "
    "3 disabled, 4 forced open.",
    METRICS_DROPPED: "Observations dropped as invalid, by reason.",
    METRICS_MULTIPROCESS_SYNC_FAILURES: "Worker processes that did not write their series for a scrape, by "
    "reason: timeout (no answer in time) or unreachable (no listener); the scrape used their last file.",
    EVENTS_PUBLISHED: "Events accepted by publish, by type (sampled-out and filtered events not included).",
    EVENTS_DELIVERED: "Events a channel delivered, by channel.",
    EVENTS_FAILED: "Events a channel gave up on (written to its dead-letter file), by channel.",
    EVENTS_DROPPED: "Events that will never be delivered, by reason: drop_oldest, drop_newest, journal_full, "
    "journal_error, spill_backlog, undecodable, schema (dead-lettered), processor_error; sampled and "
    "filtered count events left out on purpose.",
    EVENTS_BUFFER_SIZE: "Events waiting for delivery: in memory, in the spill backlog and in the journal.",
    EVENT_DELIVERY_DURATION: "Time a channel took to deliver one batch, retries included, by channel.",
    SHUTDOWN_ABANDONED: "Work a stop left unfinished at the end of its budget, by kind: flush, job, thread.",
    # prometheus_client's HELP texts, word for word: the same families read the same everywhere
    PROCESS_RESIDENT_MEMORY: "Resident memory size in bytes.",
    PROCESS_OPEN_FDS: "Number of open file descriptors.",
    PROCESS_CPU_SECONDS: "Total user and system CPU time spent in seconds.",
    PROCESS_VIRTUAL_MEMORY: "Virtual memory size in bytes.",
    PROCESS_START_TIME: "Start time of the process since unix epoch in seconds.",
    PROCESS_MAX_FDS: "Maximum number of open file descriptors.",
    PROCESS_THREADS: "Threads of this process.",
    PYTHON_GC_OBJECTS_COLLECTED: "Objects collected during gc",
    PYTHON_GC_OBJECTS_UNCOLLECTABLE: "Uncollectable objects found during GC",
    PYTHON_GC_COLLECTIONS: "Number of times this generation was collected",
    PYTHON_INFO: "Python platform information",
    HOOK_ERRORS: HOOK_ERRORS_HELP,  # the name lives in sharedconfig.hooks: foundation cannot import this
}
