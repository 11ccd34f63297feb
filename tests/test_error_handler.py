"""Tests for ErrorHandler: it wraps foreign errors, retries on the delivery RetryPolicy, decides alerts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sharedconfig.delivery import ErrorHandler, Jitter, RetryPolicy
from sharedconfig.errors import (
    DeliveryError,
    HTTPError,
    SecurityError,
    Severity,
    SharedConfigError,
    ValidationError,
)


class RecordingSleep:
    """An injected sleep that records the delays it was asked for and never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        """Record the delay."""
        self.delays.append(seconds)


def failing(errors: list[BaseException], result: str = "done") -> tuple[Callable[[], str], list[int]]:
    """An operation raising ``errors`` in turn, then returning ``result``; and its attempt counter."""
    attempts: list[int] = []

    def operation() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) <= len(errors):
            raise errors[len(attempts) - 1]
        return result

    return operation, attempts


def policy(max_retries: int = 3, initial_delay: float = 0.1, max_delay: float = 5.0) -> RetryPolicy:
    """A deterministic retry policy (no jitter)."""
    return RetryPolicy(
        max_retries=max_retries, initial_delay=initial_delay, max_delay=max_delay, jitter=Jitter.NONE
    )


class TestErrorHandler:
    """ErrorHandler wraps, retries with the delivery RetryPolicy, and decides what alerts."""

    def test_default_policy(self) -> None:
        """Without a policy: 3 retries from 0.1 s, capped at 5 s, with full jitter."""
        retry = ErrorHandler().retry
        assert (retry.max_retries, retry.initial_delay, retry.max_delay, retry.jitter) == (
            3,
            0.1,
            5.0,
            Jitter.FULL,
        )

    def test_handle_returns_shared_config_errors_unchanged(self) -> None:
        """A SharedConfigError is returned as it is and reported to on_error."""
        seen: list[SharedConfigError] = []
        error = ValidationError("x")
        assert ErrorHandler(on_error=seen.append).handle(error) is error
        assert seen == [error]

    @pytest.mark.parametrize(
        ("raw", "code", "recoverable"),
        [
            (ConnectionError("refused"), "CONFIG_001", True),
            (TimeoutError("slow"), "CONFIG_001", True),
            (FileNotFoundError("missing.yaml"), "CONFIG_001", False),
            (PermissionError("denied"), "CONFIG_001", False),
            (ValueError("bad"), "VALIDATION_099", False),
            (KeyError("k"), "VALIDATION_099", False),
        ],
    )
    def test_handle_wraps_other_exceptions(self, raw: Exception, code: str, recoverable: bool) -> None:
        """Other exceptions are wrapped with a code by kind, the cause kept, transient ones recoverable."""
        handler = ErrorHandler()
        handled = handler.handle(raw, component="loader", operation="read")
        assert (handled.code, handled.recoverable) == (code, recoverable)
        assert handled.cause is raw
        assert handled.__cause__ is raw
        assert handled.message == f"{type(raw).__name__}: {raw}"
        assert (handled.component, handled.operation) == ("loader", "read")
        assert handler.is_retryable(handled) is handler.is_retryable(raw) is recoverable

    @pytest.mark.parametrize(
        ("error", "retryable"),
        [
            (SharedConfigError("x", recoverable=True), True),
            (SharedConfigError("x", recoverable=False), False),
            (HTTPError("down"), True),
            (ValidationError("bad"), False),
            (TimeoutError(), True),
            (ConnectionResetError(), True),
            (ValueError(), False),
            (FileNotFoundError(), False),
            (DeliveryError("throttled", status=429), True),
            (DeliveryError("bad request", status=400), False),
        ],
    )
    def test_is_retryable(self, error: BaseException, retryable: bool) -> None:
        """Recoverable SharedConfigErrors, retryable statuses and transient OS failures are retryable."""
        assert ErrorHandler().is_retryable(error) is retryable

    @pytest.mark.parametrize(
        ("error", "alert"),
        [
            (HTTPError("down"), True),
            (HTTPError("down", severity=Severity.CRITICAL), True),
            (HTTPError("down", severity=Severity.WARNING), False),
            (HTTPError("down", severity=Severity.INFO), False),
            (SecurityError("bad token"), True),
            (ValidationError("bad"), False),
            (SharedConfigError("x", code="CONFIG_999"), False),
            (RuntimeError("unexpected"), True),
        ],
    )
    def test_should_alert(self, error: BaseException, alert: bool) -> None:
        """Alert when the code asks for it at error severity or worse, and for any unexpected exception."""
        assert ErrorHandler().should_alert(error) is alert

    def test_delays_are_exponential_and_capped(self) -> None:
        """Backoff doubles from the initial delay and never exceeds the maximum."""
        handler = ErrorHandler(retry=policy(max_retries=6, initial_delay=0.5, max_delay=5.0))
        assert list(handler.delays()) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
        assert list(ErrorHandler(retry=policy(max_retries=0)).delays()) == []

    def test_recover_returns_at_once_on_success(self) -> None:
        """A succeeding operation runs once and nothing sleeps."""
        sleep = RecordingSleep()
        operation, attempts = failing([])
        assert ErrorHandler(sleep=sleep, retry=policy()).recover(operation) == "done"
        assert (attempts, sleep.delays) == ([1], [])

    def test_recover_retries_transient_failures_then_succeeds(self) -> None:
        """Retryable failures are retried with the backoff delays until the operation succeeds."""
        sleep = RecordingSleep()
        seen: list[SharedConfigError] = []
        operation, attempts = failing([ConnectionError("1"), HTTPError("2")])
        handler = ErrorHandler(sleep=sleep, on_error=seen.append, retry=policy())
        assert handler.recover(operation, name="fetch") == "done"
        assert attempts == [1, 2, 3]
        assert sleep.delays == [0.1, 0.2]
        assert [e.code for e in seen] == ["CONFIG_001", "HTTP_001"]
        assert seen[0].operation == "fetch"

    def test_recover_is_bounded_and_raises_the_last_error(self) -> None:
        """After max_retries retries the last error is raised, not the first."""
        sleep = RecordingSleep()
        errors: list[BaseException] = [HTTPError(f"attempt {i}") for i in range(1, 10)]
        operation, attempts = failing(errors)
        with pytest.raises(HTTPError) as caught:
            ErrorHandler(sleep=sleep, retry=policy(max_retries=3)).recover(operation)
        assert caught.value is errors[3]
        assert attempts == [1, 2, 3, 4]
        assert sleep.delays == [0.1, 0.2, 0.4]

    def test_recover_wraps_the_last_raw_error(self) -> None:
        """A raw retryable exception that keeps failing is raised wrapped, chained to the original."""
        sleep = RecordingSleep()
        errors: list[BaseException] = [TimeoutError(f"t{i}") for i in range(1, 4)]
        operation, attempts = failing(errors)
        with pytest.raises(SharedConfigError) as caught:
            ErrorHandler(sleep=sleep, retry=policy(max_retries=2)).recover(operation)
        assert caught.value.cause is errors[2]
        assert caught.value.__cause__ is errors[2]
        assert caught.value.message == "TimeoutError: t3"
        assert len(attempts) == 3

    @pytest.mark.parametrize(
        "error", [ValidationError("bad"), ValueError("bad"), FileNotFoundError("missing.yaml")]
    )
    def test_recover_does_not_retry_non_retryable_errors(self, error: Exception) -> None:
        """A non-retryable failure is raised after one attempt, with no sleep."""
        sleep = RecordingSleep()
        operation, attempts = failing([error])
        with pytest.raises(SharedConfigError) as caught:
            ErrorHandler(sleep=sleep, retry=policy()).recover(operation)
        assert caught.value is error or caught.value.cause is error
        assert (attempts, sleep.delays) == ([1], [])

    def test_recover_with_no_retries(self) -> None:
        """max_retries=0 tries once even for retryable errors."""
        sleep = RecordingSleep()
        operation, attempts = failing([HTTPError("down")])
        with pytest.raises(HTTPError):
            ErrorHandler(sleep=sleep, retry=policy(max_retries=0)).recover(operation)
        assert (attempts, sleep.delays) == ([1], [])

    def test_recover_lets_base_exceptions_through(self) -> None:
        """KeyboardInterrupt is neither wrapped nor retried."""
        sleep = RecordingSleep()
        operation, attempts = failing([KeyboardInterrupt()])
        with pytest.raises(KeyboardInterrupt):
            ErrorHandler(sleep=sleep, retry=policy()).recover(operation)
        assert (attempts, sleep.delays) == ([1], [])

    def test_recover_honours_retry_after(self) -> None:
        """A DeliveryError's Retry-After raises the wait, capped by the policy's maximum."""
        sleep = RecordingSleep()
        operation, attempts = failing([DeliveryError("slow down", status=429, retry_after=3.0)] * 2)
        handler = ErrorHandler(sleep=sleep, retry=policy(max_delay=2.0))
        assert handler.recover(operation) == "done"
        assert sleep.delays == [2.0, 2.0]
        assert len(attempts) == 3

    def test_recover_uses_full_jitter_by_default(self) -> None:
        """With full jitter each wait is the policy's random draw times the capped exponential."""
        sleep = RecordingSleep()
        draws = iter([0.5, 0.25])
        retry = RetryPolicy(max_retries=2, initial_delay=1.0, random=lambda: next(draws))
        operation, _ = failing([TimeoutError(), TimeoutError()])
        assert ErrorHandler(sleep=sleep, retry=retry).recover(operation) == "done"
        assert sleep.delays == [0.5, 0.5]
