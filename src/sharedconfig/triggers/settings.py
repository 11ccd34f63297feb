"""The ``triggers`` section: actions run on a cron schedule or at an interval, with timeouts and retries.

Each trigger has exactly one of ``schedule`` and ``interval``; a timeout as long as the interval is reported.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Final

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.policies import RetrySettings, policy_check, retry_field
from sharedconfig.config.types import NonEmptyStr, PositiveDuration, PositiveInt, Settings
from sharedconfig.config.validation import PERFORMANCE, ValidationContext
from sharedconfig.durations import format_duration

__all__ = ["CRON_PATTERN", "Cron", "TriggerRetrySettings", "TriggerSettings", "TriggersSettings", "module"]

_NUMERIC = r"[0-9*/,-]+"
_NAMED = r"(?:[0-9*/,-]|[A-Za-z]{3})+"  # months and weekdays may be written JAN, MON-FRI
CRON_PATTERN: Final[str] = (
    r"^\s*(?:@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)"
    rf"|{_NUMERIC}\s+{_NUMERIC}\s+{_NUMERIC}\s+{_NAMED}\s+{_NAMED})\s*$"
)
"""Five cron fields (minute hour day-of-month month day-of-week) or an ``@daily``-style alias."""

_CRON: Final = re.compile(CRON_PATTERN)


def _cron(value: str) -> str:
    if _CRON.match(value) is None:
        shown = repr(value) if len(value) <= 60 else repr(value[:56] + "...")
        raise PydanticCustomError(
            "cron",
            "{reason}",
            {
                "reason": f"{shown} is not a cron schedule: write five fields "
                "(minute hour day month weekday), e.g. '*/5 * * * *', or @hourly, @daily, @weekly, "
                "@monthly, @yearly"
            },
        )
    return value


Cron = Annotated[
    str,
    AfterValidator(_cron),
    WithJsonSchema({"type": "string", "pattern": CRON_PATTERN, "description": "A cron schedule."}),
]
"""A cron expression of five fields, or an alias such as ``@daily``."""


class TriggerRetrySettings(RetrySettings, defaults={"max_retries": 0}):
    """Retries of a failed run: the shared vocabulary; a run is not retried unless asked."""


class TriggerSettings(Settings):
    """One trigger: what runs, and when."""

    name: NonEmptyStr = Field(description="Trigger name, used in metrics and logs.")
    schedule: Cron | None = Field(None, description="Cron schedule, e.g. '0 3 * * *'; or give interval.")
    interval: PositiveDuration | None = Field(
        None, description="Run every interval, e.g. 5m; or give schedule."
    )
    action: NonEmptyStr = Field(description="The registered action to run.")
    enabled: bool = Field(True, description="Run the trigger.")
    timeout: PositiveDuration | None = Field(
        None, description="Time a run may take; defaults to default_timeout."
    )
    retry: TriggerRetrySettings = retry_field(TriggerRetrySettings, what="a failed run")

    @model_validator(mode="after")
    def _one_timing(self) -> TriggerSettings:
        if (self.schedule is None) == (self.interval is None):
            given = "both" if self.schedule is not None else "neither"
            raise ValueError(
                f"trigger {self.name!r} needs exactly one of schedule and interval, {given} given"
            )
        return self


class TriggersSettings(Settings):
    """The ``triggers`` section."""

    enabled: bool = Field(True, description="Run triggers.")
    max_concurrent: PositiveInt = Field(10, description="Trigger runs at once.")
    default_timeout: PositiveDuration = Field(
        timedelta(minutes=5), description="Time a run may take when the trigger sets no timeout."
    )
    triggers: tuple[TriggerSettings, ...] = Field((), description="The triggers.")


@module_check("triggers", "triggers.timeout_within_interval", PERFORMANCE)
def check_timeouts(settings: TriggersSettings, ctx: ValidationContext) -> None:
    """A run allowed to last as long as its interval overlaps the next run (VALIDATION_021)."""
    for i, trigger in enumerate(settings.triggers):
        if trigger.interval is None:
            continue
        timeout = trigger.timeout or settings.default_timeout
        if timeout >= trigger.interval:
            where = "timeout" if trigger.timeout is not None else "interval"
            ctx.report(
                "VALIDATION_021",
                ("triggers", "triggers", i, where),
                f"trigger {trigger.name!r}: timeout {format_duration(timeout)} is not shorter than its "
                f"interval {format_duration(trigger.interval)}, so a slow run overlaps the next one",
            )


module: SettingsModule[TriggersSettings] = SettingsModule(
    name="triggers",
    schema=TriggersSettings,
    validators=(check_timeouts, policy_check("triggers")),
    description="Scheduled and interval triggers: actions, timeouts, retries and concurrency.",
)
