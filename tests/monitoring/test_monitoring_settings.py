"""Tests for the monitoring settings: the seed's production YAML as a schema, and the module's checks."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import SecretStr, ValidationError

from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.monitoring.settings import (
    BUILTIN_HEALTH_CHECKS,
    MonitoringSettings,
    module,
    otlp_replacement,
)

SEED = Path(__file__).resolve().parents[2] / "deploy" / "config" / "monitoring-production.yaml"
DATADOG_KEY = "canary-dd-5e1f"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/canary-slack-9c2d"


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def seed() -> dict[str, Any]:
    """The seed YAML's ``monitoring`` section with both ``${...}`` references substituted."""
    text = SEED.read_text(encoding="utf-8")
    text = text.replace("${DATADOG_API_KEY}", DATADOG_KEY).replace("${SLACK_WEBHOOK_URL}", SLACK_URL)
    data: dict[str, Any] = yaml.safe_load(text)["monitoring"]
    return data


def check(data: dict[str, Any], profile: str | None = None) -> list[Issue]:
    """Validate ``data`` and run the module's checks as the loader does; return the issues."""
    settings = module.validate(data)
    ctx = ValidationContext(
        {"monitoring": data},
        NoProvenance(),  # type: ignore[arg-type]
        profile=profile,
        modules={"monitoring": settings},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


def codes(issues: list[Issue]) -> list[tuple[str, str, str]]:
    """(code, severity, path) of each issue."""
    return [(i.code, i.severity, i.path) for i in issues]


class TestSeedYaml:
    """The seed's production YAML validates as written."""

    def test_validates(self) -> None:
        """Every key of the seed YAML has a typed home."""
        settings = module.validate(seed())
        assert isinstance(settings, MonitoringSettings)
        assert settings.sample_rate == 0.1
        assert settings.flush_interval == timedelta(seconds=30)
        assert settings.metrics.retention == timedelta(days=7)
        assert settings.resources.limits.max_memory_usage == 2_147_483_648
        assert settings.alerts.rules[0].duration == timedelta(minutes=2)
        assert settings.health.checks[0].interval == timedelta(seconds=60)

    def test_secrets_are_secret(self) -> None:
        """The DataDog key and Slack webhook are SecretStr and never appear in reprs or JSON dumps."""
        settings = module.validate(seed())
        datadog = settings.metrics.exporters[1]
        slack = settings.alerts.notifications[0]
        assert datadog.type == "datadog"
        assert slack.type == "slack"
        assert isinstance(datadog.api_key, SecretStr)
        assert isinstance(slack.webhook_url, SecretStr)
        assert datadog.api_key.get_secret_value() == DATADOG_KEY
        for text in (repr(settings), settings.model_dump_json()):
            assert DATADOG_KEY not in text
            assert "canary-slack" not in text

    def test_from_alias(self) -> None:
        """The email notifier's ``from`` key is read into ``from_`` and dumped back as ``from``."""
        settings = module.validate(seed())
        email = settings.alerts.notifications[1]
        assert email.type == "email"
        assert email.from_ == "alerts@company.com"
        assert email.smtp_port == 587
        dumped = settings.model_dump(mode="json", by_alias=True)
        assert dumped["alerts"]["notifications"][1]["from"] == "alerts@company.com"

    def test_checks_report_only_the_jaeger_warning(self) -> None:
        """On the seed YAML, in any profile, the only issue is the one Jaeger Thrift warning."""
        for profile in (None, "production"):
            issues = check(seed(), profile)
            assert codes(issues) == [("VALIDATION_030", "warning", "monitoring.tracing.exporters.0.endpoint")]
            assert "http://jaeger:4318/v1/traces" in issues[0].message
            assert "type: otlp" in issues[0].message

    def test_json_schema_accepts_seed(self) -> None:
        """The editor schema is valid draft 2020-12 and agrees with the model on the seed YAML."""
        schema = MonitoringSettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(seed())

    def test_validation_is_fast(self) -> None:
        """The whole seed YAML validates in well under a millisecond (best of 50)."""
        data = seed()
        best = min(_timed(lambda: module.validate(data)) for _ in range(50))
        assert best < 0.001

    def test_override(self) -> None:
        """Overrides apply on top of validated settings, aliases and secrets included."""
        settings = module.validate(seed())
        changed = module.override(settings, {"sample_rate": 0.5, "events": {"batch_size": 50}})
        assert changed.sample_rate == 0.5
        assert changed.events.batch_size == 50
        assert changed.events.buffer_size == 5000
        assert changed.alerts.notifications[1].from_ == "alerts@company.com"  # type: ignore[union-attr]
        assert changed.metrics.exporters[1].api_key.get_secret_value() == DATADOG_KEY  # type: ignore[union-attr]


def _timed(func: Any) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


class TestSchema:
    """Types, defaults and errors of the schema."""

    def test_defaults(self) -> None:
        """An empty section is valid and the defaults are plain data."""
        assert MonitoringSettings() == module.validate({})
        assert module.defaults()["metrics"]["collection_interval"] == timedelta(seconds=15)
        assert check({}) == []

    def test_builtin_health_checks(self) -> None:
        """The seed's health check names are listed as built-in."""
        for check_name in ("config_loader", "security_manager", "http_client_pool"):
            assert check_name in BUILTIN_HEALTH_CHECKS

    @pytest.mark.parametrize(
        ("section", "expected"),
        [
            ("metrics", "'prometheus', 'datadog'"),
            ("events", "'elasticsearch', 'kafka', 'webhook', 'log', 'sqlite', 'nats'"),
            ("tracing", "'jaeger', 'otlp', 'zipkin', 'console'"),
        ],
    )
    def test_wrong_exporter_type_names_allowed_types(self, section: str, expected: str) -> None:
        """An unknown exporter ``type`` is an error listing the allowed types."""
        with pytest.raises(ValidationError) as info:
            module.validate({section: {"exporters": [{"type": "graphite"}]}})
        (error,) = info.value.errors()
        assert error["type"] == "union_tag_invalid"
        assert error["loc"] == (section, "exporters", 0)
        assert expected in error["msg"]
        assert "'graphite'" in error["msg"]

    def test_wrong_notifier_and_strategy_types(self) -> None:
        """Notifiers and resource strategies are discriminated the same way."""
        with pytest.raises(ValidationError) as info:
            module.validate(
                {
                    "alerts": {"notifications": [{"type": "pager"}]},
                    "resources": {"strategies": [{"type": "x"}]},
                }
            )
        messages = " ".join(e["msg"] for e in info.value.errors())
        assert "'slack', 'email', 'webhook', 'alertmanager'" in messages
        assert "'reduce_sampling', 'flush_buffers', 'gc_force', 'disable_non_critical'" in messages

    @pytest.mark.parametrize(
        ("data", "error_type"),
        [
            ({"sample_rate": 1.5}, "less_than_equal"),
            ({"flush_interval": "30 secs"}, "duration"),
            ({"flush_interval": "0s"}, "duration"),
            ({"resources": {"limits": {"max_memory_usage": "2 gigs"}}}, "byte_size"),
            ({"events": {"exporters": [{"type": "kafka", "brokers": []}]}}, "too_short"),
            ({"metrics": {"exporters": [{"type": "prometheus", "endpoint": "prometheus:9090"}]}}, "url"),
            ({"alerts": {"rules": [{"name": "a", "query": ""}]}}, "string_too_short"),
            ({"alerts": {"rules": [{"name": "a", "query": "up", "severity": "page"}]}}, "literal_error"),
            ({"tracing": {"exporters": [{"type": "otlp", "protocol": "http/json"}]}}, "literal_error"),
            ({"metrics": {"retension": "7d"}}, "extra_forbidden"),
        ],
    )
    def test_bad_values(self, data: dict[str, Any], error_type: str) -> None:
        """Each bad value is reported with the tightest error type."""
        with pytest.raises(ValidationError) as info:
            module.validate(data)
        assert [e["type"] for e in info.value.errors()] == [error_type]

    def test_resource_limits_accept_units(self) -> None:
        """Limits may be written with units."""
        settings = module.validate({"resources": {"limits": {"max_memory_usage": "2GiB"}}})
        assert settings.resources.limits.max_memory_usage == 2 * 1024**3

    def test_secrets_of_other_channels(self) -> None:
        """Passwords, header values and webhook URLs are SecretStr everywhere."""
        settings = module.validate(
            {
                "events": {
                    "exporters": [
                        {"type": "elasticsearch", "endpoint": "https://es:9200", "password": "canary-es"},
                        {
                            "type": "webhook",
                            "url": "https://hook/canary-wh",
                            "headers": {"X-Key": "canary-h"},
                        },
                    ]
                },
                "tracing": {"exporters": [{"type": "otlp", "headers": {"authorization": "canary-otlp"}}]},
                "alerts": {
                    "notifications": [
                        {
                            "type": "email",
                            "smtp_host": "smtp",
                            "from": "a@b.c",
                            "to": ["d@e.f"],
                            "password": "canary-p",
                        }
                    ]
                },
            }
        )
        text = repr(settings) + settings.model_dump_json()
        assert "canary" not in text


class TestDeliveryPolicies:
    """Exporters, event channels and notifiers carry the shared retry and circuit_breaker blocks."""

    def test_seed_exporters_get_the_exporters_default_policies(self) -> None:
        """Unwritten blocks build the exporters' default retry policy and breaker config."""
        from sharedconfig.monitoring.metrics.push import EXPORT_BREAKER, EXPORT_RETRY

        settings = module.validate(seed())
        for exporter in settings.metrics.exporters:
            assert exporter.retry.policy() == EXPORT_RETRY
            assert exporter.circuit_breaker.config() == EXPORT_BREAKER

    @pytest.mark.parametrize(
        ("section", "entry"),
        [
            ("metrics", {"type": "prometheus", "endpoint": "http://p:9090", "push_interval": "15s"}),
            ("metrics", {"type": "datadog", "api_key": "k"}),
            ("events", {"type": "elasticsearch", "endpoint": "http://es:9200"}),
            ("events", {"type": "kafka", "brokers": ["k:9092"]}),
            ("events", {"type": "webhook", "url": "https://hook"}),
            ("events", {"type": "nats", "servers": ["nats://n:4222"]}),
            ("alerts", {"type": "slack", "webhook_url": "https://hooks.slack.com/x"}),
            ("alerts", {"type": "email", "smtp_host": "smtp", "from": "a@b.c", "to": ["d@e.f"]}),
            ("alerts", {"type": "webhook", "url": "https://hook"}),
            ("alerts", {"type": "alertmanager"}),
        ],
    )
    def test_every_remote_destination_takes_the_blocks(self, section: str, entry: dict[str, Any]) -> None:
        """Each destination reached over the network reads ``retry`` and ``circuit_breaker`` blocks."""
        blocks = {"retry": {"max_retries": 5}, "circuit_breaker": {"wait_duration_in_open_state": "2m"}}
        key = "notifications" if section == "alerts" else "exporters"
        settings = module.validate({section: {key: [{**entry, **blocks}]}})
        (destination,) = getattr(getattr(settings, section), key)
        assert destination.retry.max_retries == 5
        assert destination.circuit_breaker.wait_duration_in_open_state == timedelta(minutes=2)

    def test_local_destinations_have_no_blocks(self) -> None:
        """The log and sqlite channels cannot fail remotely, so they take no retry block."""
        with pytest.raises(ValidationError):
            module.validate({"events": {"exporters": [{"type": "log", "retry": {}}]}})

    def test_policy_check_runs_on_monitoring(self) -> None:
        """The shared policy check reports a destination's retry_delay above its cap, at its path."""
        data = mutated(metrics__exporters__0__retry={"retry_delay": "20s"})
        assert codes(check(data)) == [
            ("VALIDATION_021", "warning", "monitoring.metrics.exporters.0.retry.retry_delay")
        ]

    def test_settings_classes_are_named_settings(self) -> None:
        """Every class in the section's schema ends in ``Settings``, so none shares a runtime class's name."""
        defs = MonitoringSettings.model_json_schema()["$defs"]
        assert "DatadogExporterSettings" in defs
        assert [name for name in defs if not name.endswith("Settings")] == []


def mutated(**changes: Any) -> dict[str, Any]:
    """The seed section with ``changes`` (dotted keys via ``__``) applied; the Jaeger exporter removed."""
    data = seed()
    data["tracing"]["exporters"] = []
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return data


class TestPerformanceChecks:
    """Batch sizes, sample rates and intervals (VALIDATION_020, VALIDATION_021)."""

    def test_events_batch_larger_than_buffer(self) -> None:
        """An events batch that cannot fit its buffer is an error."""
        issues = check(mutated(events__batch_size=6000))
        assert codes(issues) == [("VALIDATION_020", "error", "monitoring.events.batch_size")]
        assert "6000" in issues[0].message
        assert "5000" in issues[0].message

    def test_metrics_batch_larger_than_buffer(self) -> None:
        """A metrics export batch larger than the metrics buffer is an error."""
        issues = check(mutated(buffer_size=500))
        assert codes(issues) == [("VALIDATION_020", "error", "monitoring.metrics.batch_size")]

    def test_events_buffer_larger_than_monitoring_buffer_is_fine(self) -> None:
        """Event and metric buffers are separate, so their sizes are not compared."""
        assert check(mutated(events__buffer_size=50000)) == []

    def test_sample_rate_zero(self) -> None:
        """Monitoring enabled with a zero sample rate records nothing: a warning."""
        assert codes(check(mutated(sample_rate=0))) == [
            ("VALIDATION_021", "warning", "monitoring.sample_rate")
        ]
        assert check(mutated(sample_rate=0, enabled=False)) == []

    def test_push_interval_shorter_than_collection(self) -> None:
        """Pushing more often than collecting repeats samples: a warning on the exporter."""
        issues = check(mutated(metrics__exporters__0__push_interval="5s"))
        assert codes(issues) == [
            ("VALIDATION_021", "warning", "monitoring.metrics.exporters.0.push_interval")
        ]
        assert "5s" in issues[0].message
        assert "15s" in issues[0].message

    def test_evaluation_interval_shorter_than_collection(self) -> None:
        """Rules evaluated more often than metrics are collected see stale data: a warning."""
        issues = check(mutated(alerts__evaluation_interval="5s"))
        assert codes(issues) == [("VALIDATION_021", "warning", "monitoring.alerts.evaluation_interval")]

    def test_tracing_sample_rate_while_disabled_is_fine(self) -> None:
        """A sample rate on disabled tracing is not an issue."""
        assert check(mutated(tracing__enabled=False, tracing__sample_rate=0.5)) == []

    def test_health_timeout_not_shorter_than_interval(self) -> None:
        """A health timeout as long as the check interval is an error, at top level and per check."""
        top = check(mutated(health__timeout="30s"))
        assert ("VALIDATION_021", "error", "monitoring.health.timeout") in codes(top)
        per_check = check(mutated(health__checks__2__timeout="15s"))
        assert codes(per_check) == [("VALIDATION_021", "error", "monitoring.health.checks.2.timeout")]
        assert "'http_client_pool'" in per_check[0].message

    def test_inherited_health_timeout_against_own_interval(self) -> None:
        """A check's own interval is compared with the inherited health.timeout."""
        issues = check(mutated(health__checks__2__interval="5s"))
        assert codes(issues) == [("VALIDATION_021", "error", "monitoring.health.checks.2.interval")]


class TestSecurityChecks:
    """Credentials over plain text in production (VALIDATION_011)."""

    def test_plaintext_credentials(self) -> None:
        """Each way of sending a credential without TLS is an error in production only."""
        data = mutated(
            events__exporters=[
                {"type": "elasticsearch", "endpoint": "http://es:9200", "password": "canary-es"},
                {"type": "webhook", "url": "http://hook/canary-wh"},
            ],
            metrics__exporters=[{"type": "datadog", "api_key": "canary-dd", "endpoint": "http://dd"}],
            tracing__exporters=[{"type": "otlp", "headers": {"authorization": "canary-otlp"}}],
        )
        data["alerts"]["notifications"] = [
            {"type": "slack", "webhook_url": "http://hooks/canary-slack"},
            {"type": "webhook", "url": "http://alerts/canary-al"},
            {
                "type": "email",
                "smtp_host": "smtp",
                "from": "a@b.c",
                "to": ["d@e.f"],
                "password": "canary-p",
                "use_tls": False,
            },
        ]
        assert check(data) == []
        issues = check(data, "production")
        assert [path for _, _, path in codes(issues)] == [
            "monitoring.metrics.exporters.0.endpoint",
            "monitoring.events.exporters.0.endpoint",
            "monitoring.events.exporters.1.url",
            "monitoring.tracing.exporters.0.endpoint",
            "monitoring.alerts.notifications.0.webhook_url",
            "monitoring.alerts.notifications.1.url",
            "monitoring.alerts.notifications.2.use_tls",
        ]
        assert {(i.code, i.severity) for i in issues} == {("VALIDATION_011", "error")}
        assert not any("canary" in i.message for i in issues)

    def test_tls_endpoints_are_fine(self) -> None:
        """The same credentials over https are not reported."""
        data = mutated(
            events__exporters=[{"type": "elasticsearch", "endpoint": "https://es:9200", "password": "x"}],
            tracing__exporters=[
                {"type": "otlp", "endpoint": "https://otel:4318/v1/traces", "headers": {"a": "b"}}
            ],
        )
        assert check(data, "prod") == []


class TestJaegerCheck:
    """Jaeger exporters are deprecated in favour of OTLP (VALIDATION_030)."""

    @pytest.mark.parametrize(
        ("endpoint", "protocol", "suggested"),
        [
            ("http://jaeger:14268/api/traces", "Thrift over HTTP", "http://jaeger:4318/v1/traces"),
            (
                "https://tracing.example.com/api/traces",
                "Thrift over HTTP",
                "https://tracing.example.com:4318/v1/traces",
            ),
            (
                "udp://jaeger-agent:6831",
                "Thrift over UDP (agent port 6831)",
                "http://jaeger-agent:4318/v1/traces",
            ),
            ("udp://10.0.0.5:6832", "Thrift over UDP (agent port 6832)", "http://10.0.0.5:4318/v1/traces"),
            ("http://[::1]:14250", "the Jaeger exporter is deprecated", "http://[::1]:4318/v1/traces"),
        ],
    )
    def test_one_warning_per_exporter(self, endpoint: str, protocol: str, suggested: str) -> None:
        """Each ``type: jaeger`` exporter gets exactly one warning naming the OTLP endpoint on its host."""
        issues = check(mutated(tracing__exporters=[{"type": "jaeger", "endpoint": endpoint}]))
        assert codes(issues) == [("VALIDATION_030", "warning", "monitoring.tracing.exporters.0.endpoint")]
        assert protocol in issues[0].message
        assert f"endpoint: {suggested}" in issues[0].message

    def test_every_jaeger_exporter_is_reported(self) -> None:
        """Two Jaeger exporters give two warnings; OTLP, Zipkin and console give none."""
        exporters = [
            {"type": "otlp"},
            {"type": "jaeger", "endpoint": "http://a:14268/api/traces"},
            {"type": "zipkin"},
            {"type": "console"},
            {"type": "jaeger", "endpoint": "udp://b:6831"},
        ]
        issues = check(mutated(tracing__exporters=exporters))
        assert [path for _, _, path in codes(issues)] == [
            "monitoring.tracing.exporters.1.endpoint",
            "monitoring.tracing.exporters.4.endpoint",
        ]

    def test_otlp_replacement_keeps_host(self) -> None:
        """The suggestion keeps the host and switches to port 4318 and /v1/traces."""
        assert (
            otlp_replacement("http://jaeger.internal:14268/api/traces")
            == "http://jaeger.internal:4318/v1/traces"
        )


def test_seed_file_is_unchanged_copy() -> None:
    """The deploy template is the seed's YAML, comments included, under ``monitoring:``."""
    text = SEED.read_text(encoding="utf-8")
    assert text.startswith("# config/monitoring-production.yaml\nmonitoring:\n")
    assert "max_memory_usage: 2147483648  # 2GB" in text


def test_kafka_options_are_secrets_in_repr_and_dumps() -> None:
    """Every librdkafka option value (sasl.jaas.config, ssl.key.pem, ...) stays hidden."""
    settings = module.validate(
        {
            "events": {
                "exporters": [
                    {
                        "type": "kafka",
                        "brokers": ["k:9092"],
                        "options": {"sasl.jaas.config": "jaas-canary", "ssl.key.pem": "pem-canary"},
                    }
                ]
            }
        }
    )
    channel = settings.events.exporters[0]
    shown = repr(settings) + str(settings.model_dump()) + settings.model_dump_json()
    assert "canary" not in shown
    assert channel.options["ssl.key.pem"].get_secret_value() == "pem-canary"
