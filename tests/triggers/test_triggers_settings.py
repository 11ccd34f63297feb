"""Tests for the trigger settings: cron schedules or intervals, and the timeout check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from sharedconfig.config.types import ERROR_CODES
from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.triggers.settings import TriggersSettings, module


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def check(data: dict[str, Any]) -> list[Issue]:
    """Validate ``data`` and run the module's checks; return the issues."""
    ctx = ValidationContext(
        {"triggers": data},
        NoProvenance(),  # type: ignore[arg-type]
        modules={"triggers": module.validate(data)},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


def trigger(**fields: Any) -> dict[str, Any]:
    """A trigger with a name and an action, plus ``fields``."""
    return {"name": "cleanup", "action": "jobs.cleanup", **fields}


class TestSchema:
    """Schedules, intervals and defaults."""

    def test_defaults(self) -> None:
        """An empty section is valid, with a 5 minute default timeout."""
        settings = TriggersSettings()
        assert settings.default_timeout == timedelta(minutes=5)
        assert module.validate({}) == settings
        assert check({}) == []

    @pytest.mark.parametrize(
        "schedule",
        [
            "*/5 * * * *",
            "0 3 * * *",
            "0 9-17 * * MON-FRI",
            "15,45 */2 1 JAN *",
            "@daily",
            "@hourly",
            " 0 0 1 1 * ",
        ],
    )
    def test_valid_schedules(self, schedule: str) -> None:
        """Five cron fields (with month and weekday names) or an alias are accepted as written."""
        settings = module.validate({"triggers": [trigger(schedule=schedule)]})
        assert settings.triggers[0].schedule == schedule

    @pytest.mark.parametrize("schedule", ["* * * *", "every day", "@often", "* * * * * *", "0 3 * * * extra"])
    def test_invalid_schedules(self, schedule: str) -> None:
        """Anything else is a ``cron`` error with examples, mapped to VALIDATION_008."""
        with pytest.raises(ValidationError) as info:
            module.validate({"triggers": [trigger(schedule=schedule)]})
        (error,) = info.value.errors()
        assert error["type"] == "cron"
        assert "'*/5 * * * *'" in error["msg"]
        assert ERROR_CODES["cron"] == "VALIDATION_008"

    def test_interval(self) -> None:
        """An interval is a duration."""
        settings = module.validate({"triggers": [trigger(interval="10m", timeout="1m")]})
        assert settings.triggers[0].interval == timedelta(minutes=10)

    @pytest.mark.parametrize(
        ("fields", "given"),
        [({}, "neither"), ({"schedule": "@daily", "interval": "1h"}, "both")],
    )
    def test_exactly_one_timing(self, fields: dict[str, Any], given: str) -> None:
        """A trigger needs exactly one of schedule and interval."""
        with pytest.raises(ValidationError, match=f"exactly one of schedule and interval, {given} given"):
            module.validate({"triggers": [trigger(**fields)]})

    def test_retry(self) -> None:
        """A run is not retried unless its ``retry`` block says so, in the shared vocabulary."""
        settings = module.validate(
            {"triggers": [trigger(schedule="@daily"), trigger(schedule="@hourly", retry={"max_retries": 2})]}
        )
        assert [t.retry.max_retries for t in settings.triggers] == [0, 2]
        assert settings.triggers[1].retry.retry_delay == timedelta(milliseconds=500)
        with pytest.raises(ValidationError):
            module.validate({"triggers": [trigger(schedule="@daily", max_retries=1)]})

    def test_json_schema(self) -> None:
        """The schema is valid draft 2020-12, carries the cron pattern and names classes ``*Settings``."""
        schema = TriggersSettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        assert all(name.endswith("Settings") for name in schema["$defs"])
        validator = jsonschema.Draft202012Validator(schema)
        assert validator.is_valid({"triggers": [trigger(schedule="@daily")]})
        assert not validator.is_valid({"triggers": [trigger(schedule="every day")]})


class TestTimeoutCheck:
    """VALIDATION_021: a run may last as long as its interval."""

    def test_own_timeout(self) -> None:
        """A trigger's own timeout not shorter than its interval is a warning at the timeout."""
        issues = check({"triggers": [trigger(interval="1m", timeout="1m")]})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_021", "warning", "triggers.triggers.0.timeout")
        ]
        assert "'cleanup'" in issues[0].message

    def test_inherited_timeout(self) -> None:
        """The default timeout counts when the trigger sets none; the issue points at the interval."""
        issues = check({"triggers": [trigger(interval="1m")]})
        assert [(i.code, i.path) for i in issues] == [("VALIDATION_021", "triggers.triggers.0.interval")]

    def test_retry_delay_above_cap(self) -> None:
        """The policy check reports a retried trigger's retry_delay above its cap, not an unretried one's."""
        retry = {"retry_delay": "1m", "max_retry_delay": "1s"}
        assert check({"triggers": [trigger(schedule="@daily", retry=retry)]}) == []
        issues = check({"triggers": [trigger(schedule="@daily", retry={**retry, "max_retries": 1})]})
        assert [(i.code, i.path) for i in issues] == [
            ("VALIDATION_021", "triggers.triggers.0.retry.retry_delay")
        ]

    def test_silent(self) -> None:
        """Short timeouts and cron schedules are not reported."""
        assert (
            check({"triggers": [trigger(interval="10m", timeout="1m"), trigger(schedule="* * * * *")]}) == []
        )
