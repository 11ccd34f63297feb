"""Tests for sharedconfig.hooks: protocol inspection, the no-op default and fan-out, for any hook protocol.

Uses ``ConfigHooks`` and small protocols of its own (sync, async, inherited) to show nothing is specific.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable

import pytest

from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.hooks import HOOK_ERRORS, HOOK_ERRORS_HELP, fan_out, hook_methods, noop
from sharedconfig.monitoring.names import HELP
from sharedconfig.testing import InMemoryMetricsRecorder, RecordingLogger


@runtime_checkable
class JobHooks(Protocol):
    """A hook protocol with positional, keyword and defaulted parameters."""

    def on_start(self, job: str, /) -> None:
        """A job started."""

    def on_end(self, job: str, *, ok: bool = True) -> None:
        """A job ended."""


class RetryHooks(JobHooks, Protocol):
    """A protocol extending another: its methods come after the inherited ones are found."""

    def on_retry(self, job: str, attempt: int) -> None:
        """A job is retried."""


@runtime_checkable
class AsyncHooks(Protocol):
    """A protocol with an async method next to a plain one."""

    async def on_sent(self, payload: bytes) -> None:
        """A payload was sent."""

    def on_dropped(self, reason: str) -> None:
        """A payload was dropped."""


class Jobs:
    """A JobHooks implementation keeping what it saw."""

    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    def on_start(self, job: str, /) -> None:
        """Keep the start, or raise when told to fail."""
        if self.fail:
            raise RuntimeError("hook bug")
        self.log.append(f"start {job}")

    def on_end(self, job: str, *, ok: bool = True) -> None:
        """Keep the end."""
        self.log.append(f"end {job} {ok}")


class Sent:
    """An AsyncHooks implementation keeping what it saw."""

    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    async def on_sent(self, payload: bytes) -> None:
        """Keep the payload, or raise when told to fail."""
        if self.fail:
            raise ValueError("async hook bug")
        self.log.append(payload.decode())

    def on_dropped(self, reason: str) -> None:
        """Keep the reason."""
        self.log.append(reason)


class TestHookMethods:
    def test_config_hooks_methods_in_definition_order(self) -> None:
        """ConfigHooks' five methods are found in the order they are declared, without ``self``."""
        methods = hook_methods(ConfigHooks)
        assert [m.name for m in methods] == [
            "on_load",
            "on_validation",
            "on_reload",
            "on_change",
            "on_source",
        ]
        assert list(methods[0].signature.parameters) == ["config", "report", "seconds"]
        assert not any(m.is_async for m in methods)
        assert methods[0].doc.startswith("A load finished")

    def test_inherited_and_async_methods(self) -> None:
        """A protocol's own and inherited methods are both found; async ones are marked."""
        assert [m.name for m in hook_methods(RetryHooks)] == ["on_retry", "on_start", "on_end"]
        assert [(m.name, m.is_async) for m in hook_methods(AsyncHooks)] == [
            ("on_sent", True),
            ("on_dropped", False),
        ]

    @pytest.mark.parametrize("not_a_protocol", [Jobs, int, Protocol, "ConfigHooks", None])
    def test_rejects_what_is_not_a_protocol_class(self, not_a_protocol: object) -> None:
        """Concrete classes, Protocol itself and non-classes are refused with a TypeError."""
        with pytest.raises(TypeError, match=r"typing\.Protocol class"):
            hook_methods(not_a_protocol)  # type: ignore[arg-type]

    def test_rejects_members_a_hook_cannot_have(self) -> None:
        """Data members, properties and methods returning a value make a protocol no hook protocol."""

        class WithData(Protocol):
            count: int

        class WithProperty(Protocol):
            @property
            def size(self) -> int: ...

        class Returning(Protocol):
            def decide(self) -> bool: ...

        with pytest.raises(TypeError, match="methods only"):
            hook_methods(WithData)
        with pytest.raises(TypeError, match="plain method"):
            hook_methods(WithProperty)
        with pytest.raises(TypeError, match="return None"):
            hook_methods(Returning)


class TestNoop:
    def test_is_an_implementation_that_ignores_every_call(self) -> None:
        """noop(P) satisfies P and every method returns None whatever it is given."""
        hooks = noop(JobHooks)
        assert isinstance(hooks, JobHooks)
        hooks.on_start("a")
        hooks.on_end("a", ok=False)
        assert hooks.on_start("b") is None  # type: ignore[func-returns-value]
        assert repr(hooks) == "noop(JobHooks)"

    def test_one_shared_slotted_instance_per_protocol(self) -> None:
        """The same instance comes back each time, with no per-instance dict; NO_HOOKS is ConfigHooks' one."""
        assert noop(JobHooks) is noop(JobHooks)
        assert noop(JobHooks) is not noop(RetryHooks)
        assert not hasattr(noop(JobHooks), "__dict__")
        assert NO_HOOKS is noop(ConfigHooks)
        assert isinstance(NO_HOOKS, ConfigHooks)
        assert type(NO_HOOKS).__name__ == "NoConfigHooks"

    def test_async_methods_are_awaitable(self) -> None:
        """An async protocol method of the no-op returns an awaitable that yields None."""
        hooks = noop(AsyncHooks)

        async def use() -> None:
            assert await hooks.on_sent(b"x") is None  # type: ignore[func-returns-value]

        asyncio.run(use())
        hooks.on_dropped("full")

    def test_inherited_methods_are_there_too(self) -> None:
        """A protocol extending another gets a no-op of every method, its own and inherited."""
        hooks = noop(RetryHooks)
        hooks.on_retry("a", 2)
        hooks.on_start("a")


class TestFanOut:
    def test_calls_every_hook_in_order(self) -> None:
        """Each call reaches every hook, in the order given, with the same arguments."""
        first: list[str] = []
        second: list[str] = []
        hooks = fan_out(JobHooks, Jobs(first), Jobs(second))
        assert isinstance(hooks, JobHooks)
        hooks.on_start("a")
        hooks.on_end("a", ok=False)
        assert first == second == ["start a", "end a False"]
        assert repr(hooks) == "fan_out(JobHooks, Jobs, Jobs)"

    def test_a_hook_that_raises_does_not_stop_the_others_and_is_logged_and_counted(self) -> None:
        """A failure is logged with hook, method and implementation, counted, and never reaches the caller."""
        log: list[str] = []
        logger, metrics = RecordingLogger(), InMemoryMetricsRecorder()
        hooks = fan_out(JobHooks, Jobs(log, fail=True), Jobs(log), logger=logger, metrics=metrics)
        hooks.on_start("a")
        hooks.on_start("b")
        assert log == ["start a", "start b"]
        assert metrics.total(HOOK_ERRORS, {"hook": "JobHooks", "method": "on_start"}) == 2
        record = logger.records[0]
        assert record.level == "error"
        assert record.fields["hook"] == "JobHooks" and record.fields["method"] == "on_start"
        assert record.fields["implementation"] == "Jobs" and record.fields["error"] == "RuntimeError"
        assert isinstance(record.fields["exc_info"], RuntimeError)

    def test_without_a_logger_failures_go_to_stdlib_logging(self, caplog: pytest.LogCaptureFixture) -> None:
        """With no logger given, a failure is still written, to the ``sharedconfig.hooks`` stdlib logger."""
        with caplog.at_level(logging.ERROR, logger="sharedconfig.hooks"):
            fan_out(JobHooks, Jobs([], fail=True)).on_start("a")
        assert [r.name for r in caplog.records] == ["sharedconfig.hooks"]
        assert "method=on_start" in caplog.records[0].getMessage()

    def test_reporting_that_fails_is_swallowed(self) -> None:
        """A logger and a recorder that raise while reporting a failure do not reach the caller either."""

        class Broken(RecordingLogger):
            def error(self, message: str, /, **fields: object) -> None:
                raise OSError("log disk full")

        class BrokenMetrics(InMemoryMetricsRecorder):
            def record_counter(self, name: str, value: float = 1.0, labels: object = None) -> None:
                raise OSError("metrics gone")

        log: list[str] = []
        hooks = fan_out(JobHooks, Jobs(log, fail=True), Jobs(log), logger=Broken(), metrics=BrokenMetrics())
        hooks.on_start("a")
        assert log == ["start a"]

    def test_base_exceptions_pass_through(self) -> None:
        """KeyboardInterrupt (and so cancellation) is not a hook failure: it propagates at once."""

        class Interrupting(Jobs):
            def on_start(self, job: str, /) -> None:
                raise KeyboardInterrupt

        log: list[str] = []
        with pytest.raises(KeyboardInterrupt):
            fan_out(JobHooks, Interrupting(log), Jobs(log)).on_start("a")
        assert log == []

    def test_async_methods_await_each_hook_in_turn(self) -> None:
        """Async methods await every hook in order, isolating failures; plain methods stay plain."""
        log: list[str] = []
        metrics = InMemoryMetricsRecorder()
        hooks = fan_out(
            AsyncHooks, Sent(log, fail=True), Sent(log), logger=RecordingLogger(), metrics=metrics
        )
        asyncio.run(hooks.on_sent(b"p"))
        hooks.on_dropped("full")
        assert log == ["p", "full", "full"]
        assert metrics.total(HOOK_ERRORS, {"hook": "AsyncHooks", "method": "on_sent"}) == 1

    def test_noops_are_left_out_and_nothing_left_is_the_noop(self) -> None:
        """No hooks, or only no-ops, give noop(P) itself; one real hook among no-ops is still isolated."""
        assert fan_out(JobHooks) is noop(JobHooks)
        assert fan_out(JobHooks, noop(JobHooks), noop(JobHooks)) is noop(JobHooks)
        log: list[str] = []
        hooks = fan_out(JobHooks, noop(JobHooks), Jobs(log, fail=True), logger=RecordingLogger())
        hooks.on_start("a")  # does not raise
        assert repr(hooks) == "fan_out(JobHooks, Jobs)"

    def test_a_hook_missing_a_method_is_refused_at_once(self) -> None:
        """Building a fan-out over an object lacking a protocol method raises TypeError naming it."""

        class Half:
            def on_start(self, job: str, /) -> None: ...

        with pytest.raises(TypeError, match="Half has no method on_end"):
            fan_out(JobHooks, Jobs([]), Half())

    def test_one_class_per_protocol(self) -> None:
        """The fan-out class is generated once per protocol and reused."""
        a = fan_out(JobHooks, Jobs([]))
        b = fan_out(JobHooks, Jobs([]), Jobs([]))
        assert type(a) is type(b)
        assert type(a).__name__ == "FanOutJobHooks"

    def test_the_error_counter_has_help_text(self) -> None:
        """hook_errors_total is among the built-in metrics whose HELP every Monitoring registry carries."""
        assert HELP[HOOK_ERRORS] == HOOK_ERRORS_HELP
        assert HOOK_ERRORS == "hook_errors_total"
