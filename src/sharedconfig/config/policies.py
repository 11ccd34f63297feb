"""The one vocabulary of retries and circuit breakers that every component's settings use.

``RetrySettings`` and ``CircuitBreakerSettings`` declare each key once; components nest them or inherit them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, get_args

from pydantic import BaseModel, Field, model_validator
from pydantic.fields import FieldInfo

from sharedconfig.config.modules import ModuleCheck
from sharedconfig.config.types import Duration, NonNegativeInt, PositiveDuration, PositiveInt, Settings
from sharedconfig.config.validation import PERFORMANCE
from sharedconfig.durations import format_duration

if TYPE_CHECKING:
    # delivery is imported where a policy is built, so that loading a configuration does not import it
    from sharedconfig.config.issues import KeyPath
    from sharedconfig.config.validation import ValidationContext
    from sharedconfig.delivery import CircuitBreaker, CircuitBreakerConfig, RetryPolicy

__all__ = [
    "CircuitBreakerSettings",
    "Percentage",
    "PolicyDefaults",
    "RetrySettings",
    "StatusCode",
    "StatusSpec",
    "check_circuit_breaker",
    "check_policies",
    "check_retry",
    "circuit_breaker_field",
    "policy_check",
    "retry_field",
]

StatusCode = Annotated[int, Field(ge=100, le=599)]
"""An HTTP status code, 100 to 599."""

StatusSpec = StatusCode | Annotated[str, Field(pattern=r"^[1-5]xx$")]
"""An HTTP status (``503``) or a whole class of them (``"5xx"``)."""

Percentage = Annotated[float, Field(gt=0.0, le=100.0)]
"""A share in percent, above 0 and at most 100 (resilience4j's thresholds)."""


class PolicyDefaults(Settings):
    """Base of the policy settings: a subclass may change defaults without declaring the fields again.

    A component whose retries differ from the vocabulary's defaults writes
    ``class PipelineRetrySettings(RetrySettings, defaults={"max_retries": 3}): ...``; the fields, their
    types, descriptions and checks stay declared once, here, and JSON Schema shows the new defaults.
    """

    _own_defaults: ClassVar[Mapping[str, object]] = {}

    def __init_subclass__(cls, defaults: Mapping[str, object] | None = None, **kwargs: Any) -> None:
        """Keep the class keyword ``defaults`` until pydantic has collected the fields."""
        cls._own_defaults = dict(defaults or {})
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Apply the subclass's ``defaults`` to the inherited fields and rebuild its validator and schema."""
        super().__pydantic_init_subclass__(**kwargs)
        if not cls._own_defaults:
            return
        fields = cls.model_fields
        for name, value in cls._own_defaults.items():
            if name not in fields:
                raise TypeError(f"{cls.__name__}: {name!r} in defaults is not a field")
            fields[name] = FieldInfo.merge_field_infos(fields[name], default=value)
        cls.model_rebuild(force=True)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class RetrySettings(PolicyDefaults):
    """How a failed call is tried again: how often, how long to wait between tries, which answers count.

    Retry ``n`` (0-based) waits up to ``min(max_retry_delay, retry_delay * multiplier**n)``: with
    ``jitter: full`` a random share of it (so that many clients do not retry in step), with ``none`` all
    of it. A server's ``Retry-After`` lengthens a wait, never beyond ``max_retry_delay``. Connection errors
    and timeouts are always retried; a protocol answer only when its status is in ``retry_on_status``.
    ``policy()`` is the ``sharedconfig.delivery.RetryPolicy`` these settings describe.
    """

    max_retries: NonNegativeInt = Field(
        2, description="Retries after the first attempt fails (0: none), so max_retries + 1 attempts."
    )
    retry_delay: Duration = Field(_s(0.5), description="Longest wait before the first retry.")
    multiplier: float = Field(
        2.0, ge=1.0, description="Each wait may be this many times the one before (1: no growth)."
    )
    max_retry_delay: Duration = Field(_s(10), description="Longest wait before any retry.")
    jitter: Literal["full", "none"] = Field(
        "full", description="full: wait a random time up to the delay (AWS's full jitter); none: the delay."
    )
    retry_on_status: tuple[StatusSpec, ...] = Field(
        (408, 429, 500, 502, 503, 504),
        description="Protocol statuses retried, as codes (503) or classes ('5xx'); others fail at once. "
        "Unused where calls have no status.",
    )

    def statuses(self) -> frozenset[int]:
        """Every status code ``retry_on_status`` covers, classes expanded."""
        return _expand(self.retry_on_status)

    def delays(self) -> Iterator[float]:
        """The longest wait before each retry in seconds (before jitter): ``max_retries`` values.

        The policy's own formula, without jitter, so the settings and the deliveries never disagree.
        """
        import dataclasses

        from sharedconfig.delivery import Jitter

        return dataclasses.replace(self.policy(), jitter=Jitter.NONE).delays()

    def policy(self, *, retry_on: Callable[[BaseException], bool] | None = None) -> RetryPolicy:
        """The ``RetryPolicy`` these settings describe; ``retry_on`` replaces its error classification."""
        from sharedconfig.delivery import Jitter, RetryPolicy

        return RetryPolicy(
            max_retries=self.max_retries,
            initial_delay=self.retry_delay.total_seconds(),
            multiplier=self.multiplier,
            max_delay=self.max_retry_delay.total_seconds(),
            jitter=Jitter(self.jitter),
            retryable_statuses=self.statuses(),
            retry_on=retry_on,
        )


@cache
def _expand(specs: tuple[int | str, ...]) -> frozenset[int]:
    codes: set[int] = set()
    for spec in specs:
        if isinstance(spec, int):
            codes.add(spec)
        else:
            first = int(spec[0]) * 100
            codes.update(range(first, first + 100))
    return frozenset(codes)


class CircuitBreakerSettings(PolicyDefaults):
    """A circuit breaker with resilience4j's state machine and sliding window, its keys in snake_case.

    CLOSED: calls go through and their outcomes fill the sliding window; once it holds
    ``minimum_number_of_calls`` and the failure rate or the slow-call rate reaches its threshold, the
    breaker OPENS: calls fail at once for ``wait_duration_in_open_state``; then it is HALF_OPEN, lets
    ``permitted_number_of_calls_in_half_open_state`` trial calls through and, on their rates alone,
    CLOSES or OPENS again. ``config()`` is the ``sharedconfig.delivery.CircuitBreakerConfig``;
    ``apply_state(breaker)`` puts a built breaker into the DISABLED or FORCED_OPEN state written here.
    """

    enabled: bool = Field(True, description="Use the breaker (false: DISABLED, every call goes through).")
    forced_open: bool = Field(False, description="Hold the breaker FORCED_OPEN: every call is refused.")
    sliding_window_type: Literal["count", "time"] = Field(
        "count", description="count: the last sliding_window_size calls; time: those of that many seconds."
    )
    sliding_window_size: PositiveInt = Field(
        10, description="Calls (count window) or seconds (time window) the rates are measured over."
    )
    minimum_number_of_calls: PositiveInt = Field(
        5, description="Calls the window must hold before a rate can open the breaker."
    )
    failure_rate_threshold: Percentage = Field(
        50.0, description="Percentage of failed calls at which the breaker opens."
    )
    slow_call_rate_threshold: Percentage = Field(
        100.0, description="Percentage of slow calls at which the breaker opens."
    )
    slow_call_duration_threshold: PositiveDuration = Field(
        _s(60), description="A call taking longer than this is slow."
    )
    wait_duration_in_open_state: PositiveDuration = Field(
        _s(30), description="How long the breaker stays open before it lets trial calls through."
    )
    permitted_number_of_calls_in_half_open_state: PositiveInt = Field(
        1, description="Trial calls let through while half open; their outcomes close or reopen it."
    )
    max_wait_duration_in_half_open_state: Duration = Field(
        _s(0), description="Longest stay half open before opening again (0s: until the trial calls end)."
    )
    automatic_transition_from_open_to_half_open: bool = Field(
        False, description="Turn half open when the wait ends, not at the next call after it."
    )

    @model_validator(mode="after")
    def _one_state(self) -> CircuitBreakerSettings:
        if self.forced_open and not self.enabled:
            raise ValueError(
                "circuit_breaker: forced_open needs enabled (a disabled breaker refuses nothing)"
            )
        return self

    def config(self, *, record_error: Callable[[BaseException], bool] | None = None) -> CircuitBreakerConfig:
        """The ``CircuitBreakerConfig`` of these settings; ``record_error`` replaces which errors count."""
        from sharedconfig.delivery import CircuitBreakerConfig, WindowType

        extra = {} if record_error is None else {"record_error": record_error}
        return CircuitBreakerConfig(
            sliding_window_type=WindowType(self.sliding_window_type),
            sliding_window_size=self.sliding_window_size,
            minimum_number_of_calls=self.minimum_number_of_calls,
            failure_rate_threshold=self.failure_rate_threshold,
            slow_call_rate_threshold=self.slow_call_rate_threshold,
            slow_call_duration_threshold=self.slow_call_duration_threshold.total_seconds(),
            wait_duration_in_open_state=self.wait_duration_in_open_state.total_seconds(),
            permitted_number_of_calls_in_half_open_state=self.permitted_number_of_calls_in_half_open_state,
            max_wait_duration_in_half_open_state=self.max_wait_duration_in_half_open_state.total_seconds(),
            automatic_transition_from_open_to_half_open=self.automatic_transition_from_open_to_half_open,
            **extra,
        )

    def apply_state(self, breaker: CircuitBreaker) -> None:
        """Move ``breaker`` to DISABLED (``enabled: false``) or FORCED_OPEN (``forced_open: true``)."""
        if not self.enabled:
            breaker.transition_to_disabled()
        elif self.forced_open:
            breaker.transition_to_forced_open()


# -- fields of the components ------------------------------------------------------------------------------

_DOCS: Final = "docs/configuration.md#retries-and-circuit-breakers"


def retry_field(settings: type[RetrySettings] = RetrySettings, *, what: str = "each call") -> Any:
    """The ``retry`` field of a component: ``retry: RetrySettings = retry_field()``.

    ``settings`` is a subclass with the component's own defaults; ``what`` says what is retried.
    """
    return Field(default_factory=settings, description=f"Retries of {what} ({_DOCS}).")


def circuit_breaker_field(settings: type[CircuitBreakerSettings] = CircuitBreakerSettings) -> Any:
    """The ``circuit_breaker`` field of a component: ``circuit_breaker: CircuitBreakerSettings = ...``."""
    return Field(default_factory=settings, description=f"Circuit breaker ({_DOCS}).")


# -- checks ------------------------------------------------------------------------------------------------

_POLICIES: Final = (RetrySettings, CircuitBreakerSettings)


def check_retry(retry: RetrySettings, path: KeyPath, ctx: ValidationContext) -> None:
    """A first wait longer than its cap: every retry waits ``max_retry_delay`` (VALIDATION_021)."""
    if retry.max_retries and retry.retry_delay > retry.max_retry_delay:
        ctx.report(
            "VALIDATION_021",
            (*path, "retry_delay"),
            f"retry_delay {format_duration(retry.retry_delay)} is longer than max_retry_delay "
            f"{format_duration(retry.max_retry_delay)}, so every retry waits max_retry_delay",
        )


def check_circuit_breaker(breaker: CircuitBreakerSettings, path: KeyPath, ctx: ValidationContext) -> None:
    """A count window smaller than ``minimum_number_of_calls`` decides on fewer calls (VALIDATION_021)."""
    count = breaker.sliding_window_type == "count"
    if breaker.enabled and count and breaker.minimum_number_of_calls > breaker.sliding_window_size:
        ctx.report(
            "VALIDATION_021",
            (*path, "minimum_number_of_calls"),
            f"minimum_number_of_calls {breaker.minimum_number_of_calls} is more than the "
            f"{breaker.sliding_window_size} calls the window holds, so the breaker decides on "
            f"{breaker.sliding_window_size} calls",
        )


def check_policies(settings: BaseModel, path: KeyPath, ctx: ValidationContext) -> None:
    """Run ``check_retry`` and ``check_circuit_breaker`` on every policy found in ``settings``."""
    if isinstance(settings, RetrySettings):
        check_retry(settings, path, ctx)
    if isinstance(settings, CircuitBreakerSettings):
        check_circuit_breaker(settings, path, ctx)
    for name, key in _policy_fields(type(settings)):
        _walk(getattr(settings, name), (*path, key), ctx)


def _walk(value: object, path: KeyPath, ctx: ValidationContext) -> None:
    if isinstance(value, BaseModel):
        check_policies(value, path, ctx)
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _walk(item, (*path, i), ctx)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, (*path, key), ctx)


@cache
def _policy_fields(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(attribute, key) of the fields of ``model`` whose values may hold a policy: computed once per class."""
    return tuple(
        (name, info.alias or name)
        for name, info in model.model_fields.items()
        if _may_hold_policy(info.annotation, set())
    )


def _may_hold_policy(annotation: object, seen: set[type]) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if issubclass(annotation, _POLICIES):
            return True
        if annotation in seen:
            return False
        seen.add(annotation)
        return any(_may_hold_policy(f.annotation, seen) for f in annotation.model_fields.values())
    return any(_may_hold_policy(arg, seen) for arg in get_args(annotation))


def policy_check(module: str) -> ModuleCheck[BaseModel]:
    """The validator of module ``module`` that checks every retry and circuit-breaker block in it."""

    def run(settings: BaseModel, ctx: ValidationContext) -> None:
        check_policies(settings, (module,), ctx)

    return ModuleCheck(module, f"{module}.policies", PERFORMANCE, run)
