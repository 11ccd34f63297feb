"""What every shared store must do against a real server (etcd, Redis): the tests of
test_etcd_store.py and test_redis_store.py, which give the ``store_url`` and ``proxied_url`` fixtures.

Push, pull and watch through the CLI, compare-and-swap between two writers, ``${VAR}`` kept in the
store and resolved at load, no secret in any output, and an outage (a TCP proxy cut) seen by
``changes()`` as lost then restored, with a load from the cache while the store is away.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from integration.servers import TcpProxy
from sharedconfig.cli.main import main
from sharedconfig.clock import SYSTEM_CLOCK
from sharedconfig.config.loader import check, load
from sharedconfig.config.sources import SourceChange
from sharedconfig.config.stores import Snapshot, StoreConflict, StoreSource, open_store, parse_store_url
from sharedconfig.delivery import Jitter, RetryPolicy

TIMEOUT = 15.0
"""Real seconds any one wait in these tests may take."""

SECRET = "s3cr3t-api-t0ken"
LITERAL = "hunter2-literal"

BASE = """\
monitoring:
  sample_rate: 0.5
  server:
    api_token: ${API_TOKEN}
"""
LOCAL = """\
monitoring:
  sample_rate: 0.25
"""
QUICK = RetryPolicy(max_retries=0, initial_delay=0.05, multiplier=2.0, max_delay=0.5, jitter=Jitter.NONE)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def files(tmp_path: Path, **texts: str) -> list[str]:
    """Write configuration files; their paths in the order given."""
    paths = []
    for name, text in texts.items():
        path = tmp_path / name.replace("_", ".")
        path.write_text(text)
        paths.append(str(path))
    return paths


async def next_change(changes: AsyncIterator[SourceChange]) -> SourceChange:
    return await asyncio.wait_for(anext(changes), TIMEOUT)


class StoreContract:
    """The tests; a subclass gives the fixtures ``store_url`` (a fresh prefix on the real server) and
    ``proxied_url`` (a factory taking a query: a fresh prefix through a TCP proxy, the same prefix
    directly, and the proxy, for outages)."""

    def test_push_pull_round_trip_keeps_placeholders(
        self,
        store_url: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """push stores the files as written (${VAR} kept, the secret nowhere), prints the diff and the
        revision; pull prints the same tree; a load resolves ${VAR} from its own environment."""
        monkeypatch.setenv("API_TOKEN", SECRET)
        monkeypatch.chdir(tmp_path)
        code, out, err = cli(
            capsys, "push", *files(tmp_path, base_yaml=BASE, local_yaml=LOCAL), "--to", store_url
        )
        assert code == 0, err
        assert "+ monitoring.sample_rate: 0.25" in out
        assert '+ monitoring.server.api_token: "${API_TOKEN}"' in out
        assert "revision" in out.splitlines()[-1]
        snapshot = asyncio.run(_read(store_url))
        assert "${API_TOKEN}" in snapshot.entries["base.yaml"].text
        assert all(SECRET not in e.text for e in snapshot.entries.values())
        code, pulled, err = cli(capsys, "pull", "--from", store_url, "--format", "json")
        assert code == 0, err
        assert json.loads(pulled) == {
            "monitoring": {"sample_rate": 0.25, "server": {"api_token": "${API_TOKEN}"}}
        }
        assert f"@ revision {snapshot.revision}" in err
        config = load(stores=[store_url], env_file=None, environ={"API_TOKEN": SECRET})
        assert config.module("monitoring").server.api_token.get_secret_value() == SECRET
        origin = {p: o for p, _, o in config.explain()}["monitoring.sample_rate"]
        assert (
            str(origin)
            == f"{parse_store_url(store_url).entry('local.yaml')}:2:3 @ revision {snapshot.revision}"
        )
        code, shown, _ = cli(capsys, "show", "--explain", "--source", store_url)
        assert SECRET not in shown + out + pulled

    def test_push_refuses_an_invalid_configuration(
        self, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An invalid file is refused with its issues; nothing is written."""
        code, _, err = cli(
            capsys, "push", *files(tmp_path, bad_yaml="monitoring:\n  sample_rate: 7\n"), "--to", store_url
        )
        assert code == 1
        assert "VALIDATION_003" in err and "nothing pushed" in err
        assert asyncio.run(_read(store_url)).entries == {}

    def test_concurrent_saves_one_wins_the_other_names_its_revision(self, store_url: str) -> None:
        """Two writers read the same revision and save at once: one wins, the other gets CONFIG_042
        naming the winner's revision, and the store holds the winner's text."""

        async def race() -> list[int | BaseException]:
            first, second = open_store(store_url), open_store(store_url)
            try:
                base = await first.read()
                results = await asyncio.gather(
                    first.save({"a.yaml": "monitoring:\n  sample_rate: 0.1\n"}, base),
                    second.save({"a.yaml": "monitoring:\n  sample_rate: 0.2\n"}, base),
                    return_exceptions=True,
                )
                return list(results)
            finally:
                await first.aclose()
                await second.aclose()

        results = asyncio.run(race())
        won = [r for r in results if isinstance(r, int)]
        lost = [r for r in results if isinstance(r, StoreConflict)]
        assert len(won) == 1 and len(lost) == 1, results
        assert lost[0].code == "CONFIG_042" and lost[0].revision == won[0]
        assert f"lost to revision {won[0]}" in lost[0].message
        assert asyncio.run(_read(store_url)).revision == won[0]

    def test_the_second_push_of_two_operators_is_refused(
        self, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Both pulled revision N; the first pushes (N+1), the second, pushing on N, is told it lost to
        the first's revision and the store keeps the first's configuration."""
        start = asyncio.run(_read(store_url)).revision
        a = files(tmp_path, a_yaml=LOCAL)
        code, _, err = cli(capsys, "push", *a, "--to", store_url, "--if-revision", str(start))
        assert code == 0, err
        won = asyncio.run(_read(store_url)).revision
        b = files(tmp_path, b_yaml="monitoring:\n  sample_rate: 0.75\n")
        code, _, err = cli(capsys, "push", *b, "--to", store_url, "--if-revision", str(start))
        assert code == 1
        assert "CONFIG_042" in err and f"lost to revision {won}" in err
        assert list(asyncio.run(_read(store_url)).entries) == ["a.yaml"]

    def test_watch_prints_each_change_redacted(self, store_url: str, tmp_path: Path) -> None:
        """sharedconfig watch prints a push as a per-key diff (a literal secret redacted) until SIGINT."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "sharedconfig.cli.main", "watch", "--from", store_url]
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        ) as proc:
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
            reader.start()
            try:
                _wait_for(lambda: any(line.startswith("watching") for line in lines), "watch to start")
                text = f"monitoring:\n  sample_rate: 0.3\n  server:\n    api_token: {LITERAL}\n"
                asyncio.run(_save(store_url, {"w.yaml": text}))
                _wait_for(lambda: any("api_token" in line for line in lines), "the change printed")
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(TIMEOUT)
                reader.join(TIMEOUT)
            output = "".join(lines) + (proc.stderr.read() if proc.stderr else "")
        assert "+ monitoring.sample_rate: 0.3" in output
        assert '+ monitoring.server.api_token: "**********"' in output
        assert LITERAL not in output
        assert proc.returncode == 0

    def test_store_down_and_back(
        self, proxied_url: Callable[[str], tuple[str, str, TcpProxy]], tmp_path: Path
    ) -> None:
        """Cut the proxy: changes() says lost, a load comes from the cache (CONFIG_043); push while it is
        down and restore: restored, then changed at the new revision."""
        cache = tmp_path / "cache.json"
        url, direct, proxy = proxied_url(f"cache={cache}")
        asyncio.run(_save(direct, {"a.yaml": LOCAL}))
        assert load(stores=[url], env_file=None).get("monitoring.sample_rate") == 0.25  # writes the cache

        async def scenario() -> list[SourceChange]:
            source = StoreSource(parse_store_url(url), reconnect=QUICK)
            changes = source.changes(SYSTEM_CLOCK)
            pending = asyncio.ensure_future(next_change(changes))
            await asyncio.sleep(0.5)  # the watch is set up
            await asyncio.to_thread(proxy.cut)
            seen = [await pending]
            outcome = await asyncio.to_thread(lambda: check(stores=[url], env_file=None))
            assert outcome.config is not None and outcome.config.get("monitoring.sample_rate") == 0.25
            assert [w.code for w in outcome.report.warnings] == ["CONFIG_043"]
            await _save(direct, {"a.yaml": "monitoring:\n  sample_rate: 0.125\n"})
            await asyncio.to_thread(proxy.restore)
            seen.append(await next_change(changes))
            seen.append(await next_change(changes))
            await changes.aclose()
            return seen

        seen = asyncio.run(scenario())
        assert [c.kind for c in seen] == ["lost", "restored", "changed"]
        assert seen[2].revision == asyncio.run(_read(direct)).revision
        assert load(stores=[url], env_file=None).get("monitoring.sample_rate") == 0.125
        # gRPC's asyncio poller thread lives until its last channel is collected, and a cancelled watch
        # leaves aetcd's channel in reference cycles: collect them, or the thread counts as leaked
        gc.collect()


async def _read(url: str) -> Snapshot:
    store = open_store(url)
    try:
        return await store.read()
    finally:
        await store.aclose()


async def _save(url: str, texts: dict[str, str]) -> int:
    store = open_store(url)
    try:
        return await store.save(texts, await store.read())
    finally:
        await store.aclose()


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def prefix() -> str:
    """A prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"
