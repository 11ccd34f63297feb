"""StoreSource: a store layered into a load, its cache while it is down, and its changes as a watcher
sees them (lost, restored, changed), on a fake store and a FakeClock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_fakes import Backend, MemoryStore

from sharedconfig.config.loader import check, load
from sharedconfig.config.sources import SourceChange, WatchedSource
from sharedconfig.config.stores import StoreSource, StoreURL, parse_store_url
from sharedconfig.config.stores import source as source_module
from sharedconfig.config.tree import ReadContext
from sharedconfig.delivery import Jitter, RetryPolicy
from sharedconfig.errors import ConfigError
from sharedconfig.testing import FakeClock

STEADY = RetryPolicy(max_retries=0, initial_delay=1.0, multiplier=2.0, max_delay=4.0, jitter=Jitter.NONE)


def source(backend: Backend, url: str = "etcd://u:pw@127.0.0.1:2379/app") -> StoreSource:
    return StoreSource(parse_store_url(url), opener=lambda u: MemoryStore(u, backend), reconnect=STEADY)


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """What this process last loaded from each store starts empty in every test."""
    monkeypatch.setattr(source_module, "_LAST_READ", {})


@pytest.fixture
def backend() -> Backend:
    store = Backend()
    store.put({"base.yaml": "monitoring:\n  sample_rate: 0.5\n", "monitoring/enabled": "true"})
    return store


class TestRead:
    def test_is_a_watched_source_named_without_credentials(self, backend: Backend) -> None:
        """A StoreSource is what a watcher follows; its name has no password."""
        src = source(backend)
        assert isinstance(src, WatchedSource)
        assert src.name == "etcd://127.0.0.1:2379/app"

    def test_store_sits_above_files_and_below_env_and_overrides(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        """files < stores < env < --set, whatever order the options are given in."""
        f = tmp_path / "app.yaml"
        f.write_text("monitoring:\n  sample_rate: 0.1\n  enabled: false\n  logging:\n    level: debug\n")
        env = {"SHAREDCONFIG_MONITORING__LOGGING__LEVEL": "warning"}
        overrides = ["monitoring.enabled=false"]
        config = load([f], stores=[source(backend)], environ=env, env_file=None, overrides=overrides)
        assert config.get("monitoring.sample_rate") == 0.5  # the store over the file
        assert config.get("monitoring.logging.level") == "warning"  # env over the file
        assert config.module("monitoring").enabled is False  # type: ignore[attr-defined]  # --set over the store

    def test_sources_take_url_strings(self) -> None:
        """load(sources=["etcd://..."]) reads a store; a bad URL fails before reading, CONFIG_041."""
        with pytest.raises(ConfigError) as caught:
            check(sources=["ftp://x/app"])
        assert caught.value.code == "CONFIG_041"

    def test_a_good_read_writes_the_cache_atomically_and_privately(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        """After each good read the cache file holds the snapshot, mode 0600, no temporary left."""
        cache = tmp_path / "cache.json"
        source(backend, f"etcd://127.0.0.1:2379/app?cache={cache}").read(ReadContext())
        assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
        saved = json.loads(cache.read_text())
        assert saved["revision"] == 1 and saved["store"] == "etcd://127.0.0.1:2379/app"
        assert sorted(os.listdir(tmp_path)) == ["cache.json"]

    def test_unreachable_without_cache_fails_naming_the_url(self, backend: Backend) -> None:
        """CONFIG_040 located at the URL (credentials stripped), the load invalid."""
        backend.set_up(False)
        outcome = check(sources=[source(backend)], env_file=None)
        (issue,) = outcome.report.errors
        assert issue.code == "CONFIG_040"
        assert str(issue.location) == "etcd://127.0.0.1:2379/app"
        assert "pw" not in str(issue)

    def test_unreachable_with_cache_loads_the_last_good_snapshot(
        self, backend: Backend, tmp_path: Path
    ) -> None:
        """The cached revision loads, with a CONFIG_043 warning naming it."""
        url = f"etcd://127.0.0.1:2379/app?cache={tmp_path / 'c.json'}"
        load(sources=[source(backend, url)], env_file=None)
        backend.set_up(False)
        outcome = check(sources=[source(backend, url)], env_file=None)
        assert outcome.config is not None
        assert outcome.config.get("monitoring.sample_rate") == 0.5
        (warning,) = outcome.report.warnings
        assert warning.code == "CONFIG_043" and "revision 1" in warning.message

    def test_unreachable_with_a_cache_of_another_store_fails(self, backend: Backend, tmp_path: Path) -> None:
        """A cache file written for another URL is not used: CONFIG_044 beside CONFIG_040."""
        cache = tmp_path / "c.json"
        load(sources=[source(backend, f"etcd://127.0.0.1:2379/other?cache={cache}")], env_file=None)
        backend.set_up(False)
        outcome = check(sources=[source(backend, f"etcd://127.0.0.1:2379/app?cache={cache}")], env_file=None)
        assert sorted(i.code for i in outcome.report.errors) == ["CONFIG_040", "CONFIG_044"]

    def test_read_inside_a_running_loop(self, backend: Backend) -> None:
        """A reload called from an event loop's own thread reads the store without re-entering it."""

        async def main() -> list[object]:
            return [layer.data for layer in source(backend).read(ReadContext())]

        data = asyncio.run(main())
        assert {"monitoring": {"enabled": True}} in data


async def take(changes: AsyncIterator[SourceChange], n: int) -> list[SourceChange]:
    return [await anext(changes) for _ in range(n)]


class TestChanges:
    def test_a_write_is_one_changed_with_its_revision(self, backend: Backend) -> None:
        """Someone pushes: changes() yields changed at the new revision."""
        clock = FakeClock()

        async def main() -> list[SourceChange]:
            changes = source(backend).changes(clock)
            first = asyncio.ensure_future(anext(changes))
            await asyncio.sleep(0)
            backend.put({"base.yaml": "monitoring:\n  sample_rate: 0.7\n"})
            seen = [await first]
            await changes.aclose()
            return seen

        assert clock.run(main()) == [SourceChange("changed", 2, "etcd://127.0.0.1:2379/app is at revision 2")]

    def test_lost_then_restored_then_changed_with_backoff_on_the_clock(self, backend: Backend) -> None:
        """Down: lost (once, however many retries); back with new content: restored, then changed; the
        retries wait 1, 2, 4, 4 s of the given clock."""
        clock = FakeClock()

        async def main() -> list[SourceChange]:
            changes = source(backend).changes(clock)
            first = asyncio.ensure_future(anext(changes))
            await asyncio.sleep(0)
            backend.set_up(False)
            seen = [await first]
            later = asyncio.ensure_future(take(changes, 2))
            await clock.advance_async(1 + 2 + 4)  # three attempts fail meanwhile
            assert not later.done()
            backend.up = True
            backend.put({"base.yaml": "monitoring:\n  sample_rate: 0.9\n"})
            await clock.advance_async(4)
            seen += await later
            await changes.aclose()
            return seen

        seen = asyncio.run(main())
        assert [(c.kind, c.revision) for c in seen] == [("lost", 1), ("restored", 2), ("changed", 2)]
        assert "unreachable" in seen[0].message and "pw" not in seen[0].message

    def test_back_unchanged_is_restored_only(self, backend: Backend) -> None:
        """A store that comes back with the same content yields restored and no changed."""
        clock = FakeClock()

        async def main() -> list[SourceChange]:
            changes = source(backend).changes(clock)
            first = asyncio.ensure_future(anext(changes))
            await asyncio.sleep(0)
            backend.set_up(False)
            seen = [await first]
            nxt = asyncio.ensure_future(anext(changes))
            backend.up = True
            await clock.advance_async(1)
            seen.append(await nxt)
            after = asyncio.ensure_future(anext(changes))
            await clock.advance_async(10)
            assert not after.done()  # nothing more to say
            after.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await after
            await changes.aclose()
            return seen

        assert [c.kind for c in asyncio.run(main())] == ["lost", "restored"]

    def test_a_push_between_the_load_and_the_watch_is_reported(self, backend: Backend) -> None:
        """The watch starts after the load: a write in between is one changed, not lost."""
        clock = FakeClock()
        src = source(backend)
        src.read(ReadContext())  # the configuration in force
        backend.put({"base.yaml": "monitoring:\n  sample_rate: 0.7\n"})

        async def main() -> SourceChange:
            changes = src.changes(clock)
            first = await anext(changes)
            await changes.aclose()
            return first

        assert (clock.run(main()).kind, backend.revision) == ("changed", 2)

    def test_unreachable_at_start_is_lost_first(self) -> None:
        """A store down when the watch begins yields lost with no revision."""
        down = Backend()
        down.up = False
        clock = FakeClock()

        async def main() -> SourceChange:
            changes = source(down).changes(clock)
            first = await anext(changes)
            await changes.aclose()
            return first

        change = clock.run(main())
        assert (change.kind, change.revision) == ("lost", None)


def test_store_url_location_is_the_store() -> None:
    """Problems with a store as a whole are located at its URL."""
    url: StoreURL = parse_store_url("redis://h/0/app")
    assert str(url.location) == "redis://h:6379/0/app"
