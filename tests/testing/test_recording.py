"""Tests for sharedconfig.testing.hooks: Recording keeps every hook call in order and replays it elsewhere.

Works for any hook protocol: ConfigHooks (through the real loader) and small sync and async protocols.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import pytest

from sharedconfig.config import ConfigHooks, check
from sharedconfig.testing import HookCall, Recording


@runtime_checkable
class JobHooks(Protocol):
    """A hook protocol with positional-only, keyword-only and defaulted parameters."""

    def on_start(self, job: str, /) -> None:
        """A job started."""

    def on_end(self, job: str, *, ok: bool = True) -> None:
        """A job ended."""


class AsyncHooks(Protocol):
    """A protocol with an async method next to a plain one."""

    async def on_sent(self, payload: bytes) -> None:
        """A payload was sent."""

    def on_dropped(self, reason: str) -> None:
        """A payload was dropped."""


class TestRecording:
    def test_keeps_every_call_in_order_with_its_arguments(self) -> None:
        """Calls are kept oldest first, as given and bound by parameter name with defaults filled in."""
        rec = Recording(JobHooks)
        hooks = rec.hooks
        assert isinstance(hooks, JobHooks)
        hooks.on_start("a")
        hooks.on_end("a")
        hooks.on_end("b", ok=False)
        assert rec.calls == (
            HookCall("on_start", ("a",), {}, {"job": "a"}),
            HookCall("on_end", ("a",), {}, {"job": "a", "ok": True}),
            HookCall("on_end", ("b",), {"ok": False}, {"job": "b", "ok": False}),
        )
        assert [call.arguments["job"] for call in rec.calls_to("on_end")] == ["a", "b"]

    def test_calls_to_an_unknown_method_is_a_value_error(self) -> None:
        """Asking for a method the protocol lacks (a typo) fails instead of returning nothing."""
        with pytest.raises(ValueError, match="no method 'on_stop'; it has on_start, on_end"):
            Recording(JobHooks).calls_to("on_stop")

    def test_a_call_the_protocol_does_not_accept_raises(self) -> None:
        """Wrong arguments raise TypeError like a real implementation, and nothing is recorded."""
        rec = Recording(JobHooks)
        with pytest.raises(TypeError):
            rec.hooks.on_start(job="a")  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            rec.hooks.on_end("a", True)  # type: ignore[call-arg]
        assert rec.calls == ()

    def test_replay_makes_the_same_calls_on_another_implementation(self) -> None:
        """replay() repeats every call, in order and with the same arguments, and can be repeated."""
        rec, target = Recording(JobHooks), Recording(JobHooks)
        rec.hooks.on_start("a")
        rec.hooks.on_end("a", ok=False)
        rec.replay(target.hooks)
        assert target.calls == rec.calls
        rec.replay(target.hooks)
        assert target.calls == rec.calls * 2

    def test_clear_forgets(self) -> None:
        """clear() empties the record; later calls are recorded again."""
        rec = Recording(JobHooks)
        rec.hooks.on_start("a")
        rec.clear()
        rec.hooks.on_start("b")
        assert [call.args for call in rec.calls] == [("b",)]
        assert repr(rec) == "Recording(JobHooks, calls=1)"
        assert repr(rec.hooks) == "Recording(JobHooks, calls=1).hooks"

    def test_async_methods_are_recorded_when_awaited_and_replayed_with_replay_async(self) -> None:
        """An async method records when awaited; replay() refuses such calls, replay_async() awaits them."""
        rec, target = Recording(AsyncHooks), Recording(AsyncHooks)

        async def report() -> None:
            await rec.hooks.on_sent(b"p")
            rec.hooks.on_dropped("full")

        asyncio.run(report())
        assert [call.method for call in rec.calls] == ["on_sent", "on_dropped"]
        with pytest.raises(TypeError, match="replay_async"):
            rec.replay(target.hooks)
        assert target.calls == ()
        asyncio.run(rec.replay_async(target.hooks))
        assert target.calls == rec.calls

    def test_calls_from_several_threads_are_all_kept(self) -> None:
        """Hooks called from several threads at once lose no call."""
        rec = Recording(JobHooks)

        def work(name: str) -> None:
            for i in range(200):
                rec.hooks.on_start(f"{name}{i}")

        threads = [threading.Thread(target=work, args=(name,)) for name in "abcd"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(rec.calls_to("on_start")) == 800

    def test_one_recorder_class_per_protocol(self) -> None:
        """The recording class is generated once per protocol and each Recording has its own calls."""
        first, second = Recording(JobHooks), Recording(JobHooks)
        assert type(first.hooks) is type(second.hooks)
        first.hooks.on_start("a")
        assert second.calls == ()

    def test_refuses_what_is_not_a_hook_protocol(self) -> None:
        """A concrete class is not a protocol: TypeError before anything is recorded."""
        with pytest.raises(TypeError, match="Protocol class"):
            Recording(HookCall)

    def test_records_the_real_loader(self, tmp_path: Path) -> None:
        """Given to the loader as its ConfigHooks, it sees the validation and then the load."""
        path = tmp_path / "c.yaml"
        path.write_text("monitoring: {}\n")
        rec = Recording(ConfigHooks)
        outcome = check([path], environ={}, env_file=None, hooks=rec.hooks)
        assert [call.method for call in rec.calls] == ["on_validation", "on_load"]
        (loaded,) = rec.calls_to("on_load")
        assert loaded.arguments["config"] is outcome.config
