"""Tests for the retry and circuit-breaker vocabulary: keys, defaults, checks and the policies they build."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import Field, ValidationError

from sharedconfig.config.issues import Issue
from sharedconfig.config.policies import (
    CircuitBreakerSettings,
    RetrySettings,
    circuit_breaker_field,
    policy_check,
    retry_field,
)
from sharedconfig.config.types import Settings
from sharedconfig.config.validation import ValidationContext, run_pipeline
from sharedconfig.delivery import CircuitBreaker, CircuitState, Jitter, WindowType
from sharedconfig.errors import DeliveryError, Location
from sharedconfig.monitoring.metrics.push import EXPORT_BREAKER, EXPORT_RETRY
from sharedconfig.testing import FakeClock

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


class DestinationSettings(Settings):
    """A component with the two blocks, as an exporter or a channel has them."""

    name: str = "x"
    retry: RetrySettings = retry_field(what="each send")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()


class FleetSettings(Settings):
    """A section holding destinations in a list and in a mapping, for the walk of ``policy_check``."""

    listed: tuple[DestinationSettings, ...] = ()
    named: dict[str, DestinationSettings] = Field(default_factory=dict)
    flat: RetrySettings = Field(default_factory=RetrySettings)


def policy_issues(data: dict[str, Any]) -> list[Issue]:
    """Validate ``data`` as the ``fleet`` module and run its policy check; return the issues."""
    ctx = ValidationContext(
        {"fleet": data},
        NoProvenance(),  # type: ignore[arg-type]
        modules={"fleet": FleetSettings.model_validate(data)},
    )
    run_pipeline((policy_check("fleet"),), ctx)
    return ctx.issues


class TestRetrySettings:
    """The retry keys and the ``RetryPolicy`` they become."""

    def test_defaults_are_the_exporters_behaviour(self) -> None:
        """Unconfigured, the vocabulary builds exactly the exporters' default policy (3 attempts)."""
        policy = RetrySettings().policy()
        assert policy == EXPORT_RETRY
        assert policy.retryable_statuses == EXPORT_RETRY.retryable_statuses
        assert policy.attempts == 3

    def test_every_key_maps_to_the_policy(self) -> None:
        """Each key lands in its RetryPolicy field, durations in seconds and status classes expanded."""
        settings = RetrySettings.model_validate(
            {
                "max_retries": 5,
                "retry_delay": "250ms",
                "multiplier": 3,
                "max_retry_delay": "1m",
                "jitter": "none",
                "retry_on_status": [429, "5xx"],
            }
        )
        policy = settings.policy()
        assert (policy.max_retries, policy.initial_delay, policy.multiplier, policy.max_delay) == (
            5,
            0.25,
            3.0,
            60.0,
        )
        assert policy.jitter is Jitter.NONE
        assert policy.retryable_statuses == frozenset({429, *range(500, 600)})
        assert [policy.delay(n) for n in range(4)] == [0.25, 0.75, 2.25, 6.75]
        assert list(settings.delays()) == [0.25, 0.75, 2.25, 6.75, 20.25]

    def test_statuses_decide_what_is_retried(self) -> None:
        """The policy retries a delivery error by its status as ``retry_on_status`` says."""
        policy = RetrySettings(retry_on_status=(503,)).policy()
        assert policy.retryable(DeliveryError("busy", status=503))
        assert not policy.retryable(DeliveryError("gone", status=502))

    def test_retry_on_replaces_the_classification(self) -> None:
        """A component may pass its own error classification; the settings still give the numbers."""
        policy = RetrySettings(max_retries=1).policy(retry_on=lambda error: isinstance(error, KeyError))
        assert policy.retryable(KeyError("k")) and not policy.retryable(DeliveryError("x", status=503))

    @pytest.mark.parametrize(
        "data",
        [
            {"max_retries": -1},
            {"multiplier": 0.5},
            {"retry_delay": "soon"},
            {"jitter": "half"},
            {"retry_on_status": [99]},
            {"retry_on_status": ["6xx"]},
            {"backoff": "1s"},
        ],
    )
    def test_invalid(self, data: dict[str, Any]) -> None:
        """Negative retries, shrinking waits, bad durations, jitters, statuses and old keys are errors."""
        with pytest.raises(ValidationError):
            RetrySettings.model_validate(data)

    def test_status_text_from_the_environment(self) -> None:
        """A status given as text (env, --set) is read as the number it spells."""
        assert RetrySettings.model_validate({"retry_on_status": ["503", "4xx"]}).retry_on_status == (
            503,
            "4xx",
        )


class TestCircuitBreakerSettings:
    """The breaker keys (resilience4j's, in snake_case) and the ``CircuitBreakerConfig`` they become."""

    def test_defaults_are_the_exporters_behaviour(self) -> None:
        """Unconfigured, the vocabulary builds exactly the exporters' default breaker config."""
        assert CircuitBreakerSettings().config() == EXPORT_BREAKER

    def test_every_key_maps_to_the_config(self) -> None:
        """Each key lands in its CircuitBreakerConfig field, durations in seconds."""
        settings = CircuitBreakerSettings.model_validate(
            {
                "sliding_window_type": "time",
                "sliding_window_size": 60,
                "minimum_number_of_calls": 20,
                "failure_rate_threshold": 25,
                "slow_call_rate_threshold": 80.5,
                "slow_call_duration_threshold": "2s",
                "wait_duration_in_open_state": "1m",
                "permitted_number_of_calls_in_half_open_state": 3,
                "max_wait_duration_in_half_open_state": "10s",
                "automatic_transition_from_open_to_half_open": True,
            }
        )
        config = settings.config()
        assert config.sliding_window_type is WindowType.TIME
        assert (config.sliding_window_size, config.minimum_number_of_calls) == (60, 20)
        assert (config.failure_rate_threshold, config.slow_call_rate_threshold) == (25.0, 80.5)
        assert config.slow_call_duration_threshold == 2.0
        assert config.wait_duration_in_open_state == 60.0
        assert config.permitted_number_of_calls_in_half_open_state == 3
        assert config.max_wait_duration_in_half_open_state == 10.0
        assert config.automatic_transition_from_open_to_half_open is True

    def test_record_error_passes_through(self) -> None:
        """A component may say which errors count as failures; the settings give the rest."""
        config = CircuitBreakerSettings().config(record_error=lambda error: False)
        assert not config.record_error(RuntimeError())

    def test_built_breaker_waits_as_configured(self) -> None:
        """A breaker built from the settings opens as configured and half-opens after the wait (fake time)."""
        clock = FakeClock()
        settings = CircuitBreakerSettings.model_validate(
            {"sliding_window_size": 2, "minimum_number_of_calls": 2, "wait_duration_in_open_state": "45s"}
        )
        breaker = CircuitBreaker("x", settings.config(), clock=clock)
        for _ in range(2):
            assert breaker.try_acquire_permission()
            breaker.on_error(0.1, ConnectionError())
        states = [breaker.state]
        clock.advance(44)
        assert not breaker.try_acquire_permission()
        clock.advance(1)
        assert breaker.try_acquire_permission()
        states.append(breaker.state)
        assert states == [CircuitState.OPEN, CircuitState.HALF_OPEN]

    @pytest.mark.parametrize(
        ("data", "state"),
        [
            ({}, CircuitState.CLOSED),
            ({"enabled": False}, CircuitState.DISABLED),
            ({"forced_open": True}, CircuitState.FORCED_OPEN),
        ],
    )
    def test_apply_state(self, data: dict[str, Any], state: CircuitState) -> None:
        """``enabled: false`` disables a built breaker and ``forced_open: true`` holds it open."""
        settings = CircuitBreakerSettings.model_validate(data)
        breaker = CircuitBreaker("x", settings.config(), clock=FakeClock())
        settings.apply_state(breaker)
        assert breaker.state is state

    @pytest.mark.parametrize(
        "data",
        [
            {"failure_rate_threshold": 0},
            {"failure_rate_threshold": 100.5},
            {"slow_call_rate_threshold": -1},
            {"sliding_window_size": 0},
            {"sliding_window_type": "sessions"},
            {"wait_duration_in_open_state": "0s"},
            {"permitted_number_of_calls_in_half_open_state": 0},
            {"enabled": False, "forced_open": True},
            {"failure_threshold": 5},
        ],
    )
    def test_invalid(self, data: dict[str, Any]) -> None:
        """Percentages outside (0, 100], empty windows, zero waits, contradictions and old keys are errors."""
        with pytest.raises(ValidationError):
            CircuitBreakerSettings.model_validate(data)

    def test_percentages_up_to_100(self) -> None:
        """100 percent is a valid threshold (open only when every call failed)."""
        assert CircuitBreakerSettings(failure_rate_threshold=100).failure_rate_threshold == 100.0


class TestComponentDefaults:
    """A component changes defaults by subclassing, without declaring a field again."""

    class SlowRetrySettings(RetrySettings, defaults={"max_retries": 7, "retry_delay": timedelta(seconds=3)}):
        """Retries with other defaults."""

    class SlowerRetrySettings(SlowRetrySettings):
        """A subclass of it, inheriting those defaults."""

    def test_defaults_change_and_partial_blocks_keep_them(self) -> None:
        """The subclass's defaults apply, also to the keys a partial block leaves out."""
        settings = self.SlowRetrySettings.model_validate({"multiplier": 1})
        assert (settings.max_retries, settings.retry_delay, settings.multiplier) == (
            7,
            timedelta(seconds=3),
            1.0,
        )
        assert self.SlowerRetrySettings().max_retries == 7
        assert RetrySettings().max_retries == 2

    def test_schema_shows_the_new_defaults(self) -> None:
        """JSON Schema carries the subclass's defaults, written as in files, and its checks still hold."""
        schema = self.SlowRetrySettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["properties"]["max_retries"]["default"] == 7
        assert schema["properties"]["retry_delay"]["default"] == "3s"
        with pytest.raises(ValidationError):
            self.SlowRetrySettings(max_retries=-1)

    def test_unknown_default_is_refused(self) -> None:
        """A default for a key the vocabulary does not have is a programming error at class creation."""
        with pytest.raises(TypeError, match="'retries'"):

            class Bad(RetrySettings, defaults={"retries": 3}):
                """Misspelt."""


class TestPolicyCheck:
    """VALIDATION_021 for policies that cannot work as written, wherever a module holds them."""

    def test_silent_on_defaults(self) -> None:
        """The vocabulary's defaults raise nothing."""
        assert policy_issues({"listed": [{}], "named": {"a": {}}}) == []

    def test_retry_delay_above_cap_everywhere(self) -> None:
        """A first delay above its cap is reported in lists, mappings and flat blocks, at the key."""
        bad = {"retry_delay": "1m", "max_retry_delay": "10s"}
        issues = policy_issues({"listed": [{}, {"retry": bad}], "named": {"a": {"retry": bad}}, "flat": bad})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_021", "warning", "fleet.listed.1.retry.retry_delay"),
            ("VALIDATION_021", "warning", "fleet.named.a.retry.retry_delay"),
            ("VALIDATION_021", "warning", "fleet.flat.retry_delay"),
        ]
        assert "1m" in issues[0].message and "10s" in issues[0].message
        assert issues[0].validator == "fleet.policies"

    def test_no_retries_no_warning(self) -> None:
        """With max_retries 0 the delays never apply, so they are not reported."""
        assert policy_issues({"flat": {"max_retries": 0, "retry_delay": "1m", "max_retry_delay": "1s"}}) == []

    def test_minimum_calls_above_count_window(self) -> None:
        """A count window smaller than minimum_number_of_calls is reported; a time window is not."""
        breaker = {"sliding_window_size": 3, "minimum_number_of_calls": 10}
        issues = policy_issues(
            {
                "listed": [
                    {"circuit_breaker": breaker},
                    {"circuit_breaker": {**breaker, "sliding_window_type": "time"}},
                ]
            }
        )
        assert [(i.code, i.path) for i in issues] == [
            ("VALIDATION_021", "fleet.listed.0.circuit_breaker.minimum_number_of_calls")
        ]
        assert "decides on 3 calls" in issues[0].message


class TestDocumentedOnce:
    """docs/configuration.md describes every key of the vocabulary in one section."""

    def section(self) -> str:
        """The text of the retries and circuit breakers section."""
        text = DOCS.read_text(encoding="utf-8")
        return text.split("## Retries and circuit breakers", 1)[1].split("\n## ", 1)[0]

    @pytest.mark.parametrize("model", [RetrySettings, CircuitBreakerSettings])
    def test_every_key_with_its_default(self, model: type[Settings]) -> None:
        """Each key has a table row naming it and its default, written as in a YAML file."""
        rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", self.section(), re.MULTILINE))
        for key, value in model().model_dump(mode="json").items():
            assert key in rows, key
            assert yaml.safe_load(rows[key]) == value, key

    def test_every_key_is_described(self) -> None:
        """Every field of both classes carries a description (it shows in `sharedconfig schema`)."""
        for model in (RetrySettings, CircuitBreakerSettings):
            assert all(info.description for info in model.model_fields.values())
