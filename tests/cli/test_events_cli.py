"""``sharedconfig events tail`` (through the API, its stream, or a store file; lines and --json; coded errors)
and ``sharedconfig events replay`` (into real and test channels, per-channel counts, dead letters beside
the file, coded errors)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from integration.servers import free_port
from sharedconfig.cli import events as events_cmds
from sharedconfig.cli.main import main
from sharedconfig.monitoring.events import Event, from_structured, redacted, to_structured
from sharedconfig.monitoring.events import channel as channel_module
from sharedconfig.monitoring.events.channel import ChannelContext
from sharedconfig.monitoring.events.channels.sqlite import EventStore, Record
from sharedconfig.monitoring.events.deadletter import DeadLetterFile, read
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.app import create_app
from sharedconfig.server.events import sse_frame

TOKEN = "cli-token-6a0e"
CANARY = "canary-secret-2b7f"
T0 = datetime(2026, 12, 7, 20, 35, tzinfo=UTC)


def event(n: int, **fields: Any) -> Event:
    """Event number ``n``: id ``e<n>``, at T0 + n seconds, data ``{"n": n}``; ``fields`` override."""
    attributes: dict[str, Any] = {
        "type": "config.reloaded",
        "source": "/svc",
        "id": f"e{n}",
        "time": T0 + timedelta(seconds=n),
        "data": {"n": n},
        "traceparent": None,
    }
    attributes.update(fields)
    return Event(**attributes)


def run(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``sharedconfig ARGV`` in process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(clean_cli_env: Path) -> Iterator[EventStore]:
    """A store file in the working directory holding five events, the odd ones ``high``."""
    with EventStore(clean_cli_env / "events.db") as opened:
        opened.append([event(n, severity="high" if n % 2 else "info") for n in range(5)])
        yield opened


# -- the API, reached through httpx transports (no sockets but for the unreachable server) ------------------


class AppTransport(httpx.BaseTransport):
    """A synchronous transport into an ASGI app (whole responses), for the CLI's httpx.Client."""

    def __init__(self, app: Any, *, streams: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.app = app
        self.streams = streams
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.streams is not None and request.url.path == "/api/v1/events/stream":
            return self.streams(request)

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            relayed = httpx.Request(
                request.method, request.url, headers=request.headers, content=request.read()
            )
            response = await transport.handle_async_request(relayed)
            return httpx.Response(
                response.status_code, headers=response.headers, content=await response.aread()
            )

        return asyncio.run(send())


@pytest.fixture
def use_transport(monkeypatch: pytest.MonkeyPatch) -> Callable[[httpx.BaseTransport], None]:
    """Make every httpx.Client the CLI builds send through the given transport."""

    def install(transport: httpx.BaseTransport) -> None:
        real = httpx.Client

        def client(*args: Any, **kwargs: Any) -> httpx.Client:
            return real(*args, **{**kwargs, "transport": transport})

        monkeypatch.setattr(httpx, "Client", client)

    return install


@pytest.fixture
def served(store: EventStore, use_transport: Callable[[httpx.BaseTransport], None]) -> Iterator[AppTransport]:
    """The events API of ``store`` (token ``TOKEN``) behind the CLI's client."""
    monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
    transport = AppTransport(create_app(monitoring, api_token=TOKEN, event_store=store))
    use_transport(transport)
    yield transport
    monitoring.stop()


def sse(records: Sequence[Record], *, then: BaseException | None = None) -> Iterator[bytes]:
    """A stream body: a heartbeat, the records' frames, then ``then`` raised (Ctrl+C) or the end."""
    yield b": heartbeat\n\n"
    for record in records:
        yield sse_frame(record)
    if then is not None:
        raise then


class TestTailThroughTheAPI:
    def test_recent_events_oldest_first_one_line_each(
        self, served: AppTransport, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The last N events print oldest first: time, severity, type, subject, data."""
        code, out, err = run(["events", "tail", "-n", "2", "--token", TOKEN], capsys)
        assert (code, err) == (0, "")
        assert out.splitlines() == [
            '2026-12-07T20:35:03.000Z  high      config.reloaded  -  {"n":3}',
            '2026-12-07T20:35:04.000Z  info      config.reloaded  -  {"n":4}',
        ]

    def test_url_and_token_come_from_the_configuration(
        self, served: AppTransport, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --url the server is monitoring.server.host/port (0.0.0.0 read as 127.0.0.1), and the
        token is monitoring.server.api_token."""
        (clean_cli_env / "app.yaml").write_text(
            f"monitoring:\n  server:\n    host: 0.0.0.0\n    port: 19464\n    api_token: {TOKEN}\n"
        )
        code, out, _ = run(["events", "tail", "--config", "app.yaml", "-n", "1"], capsys)
        assert code == 0
        assert len(out.splitlines()) == 1
        request = served.requests[0]
        assert str(request.url).startswith("http://127.0.0.1:19464/api/v1/events?")
        assert request.headers["authorization"] == f"Bearer {TOKEN}"

    def test_the_environment_token_and_the_option_win(
        self, served: AppTransport, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """$SHAREDCONFIG_API_TOKEN is used when set; --token wins over it."""
        monkeypatch.setenv("SHAREDCONFIG_API_TOKEN", TOKEN)
        assert run(["events", "tail"], capsys)[0] == 0
        assert served.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
        code, _, err = run(["events", "tail", "--token", "other"], capsys)
        assert code == 1
        assert "SECURITY_001" in err

    def test_filters_are_sent_as_query_parameters(
        self, served: AppTransport, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--type (repeatable), --severity, --category, --subject, --since and --limit reach the API."""
        argv = ["events", "tail", "--token", TOKEN, "-t", "config.*", "-t", "health.failed"]
        argv += [
            "--severity",
            "high",
            "--category",
            "system",
            "--subject",
            "x/*",
            "--since",
            "1000d",
            "-n",
            "7",
        ]
        code, _, err = run(argv, capsys)
        assert code == 0, err
        sent = served.requests[0].url.params
        assert sent.get_list("type") == ["config.*", "health.failed"]
        assert (sent["severity"], sent["category"], sent["subject"], sent["since"]) == (
            "high",
            "system",
            "x/*",
            "1000d",
        )
        assert (sent["limit"], sent["order"]) == ("7", "newest")

    def test_json_prints_one_cloudevent_per_line(
        self, served: AppTransport, store: EventStore, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--json prints each event as its structured CloudEvents JSON, redacted."""
        store.append([event(9, data={"password": CANARY})])
        code, out, _ = run(["events", "tail", "--token", TOKEN, "--json", "-n", "2"], capsys)
        assert code == 0
        lines = out.splitlines()
        assert [from_structured(line.encode()) for line in lines] == [
            redacted(event(4, severity="info")),
            redacted(event(9, data={"password": CANARY})),
        ]
        assert CANARY not in out

    def test_follow_prints_recent_then_streamed_events_once(
        self,
        store: EventStore,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """--follow opens the stream, prints the recent events, then the streamed ones (one the page held
        already printed once), and Ctrl+C ends it with exit 0."""
        monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
        store.append([event(5)])
        newest = store.query(limit=2).records  # e5, e4: the stream began before e5 was stored
        store.append([event(6)])
        last = store.query(limit=1).records

        def stream(request: httpx.Request) -> httpx.Response:
            assert request.headers["authorization"] == f"Bearer {TOKEN}"
            body = sse([newest[0], last[0]], then=KeyboardInterrupt())
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

        use_transport(
            AppTransport(create_app(monitoring, api_token=TOKEN, event_store=store), streams=stream)
        )
        try:
            code, out, err = run(["events", "tail", "-f", "-n", "2", "--token", TOKEN], capsys)
        finally:
            monitoring.stop()
        assert (code, err) == (0, "")
        assert [json.loads(line.rsplit("  ", 1)[1])["n"] for line in out.splitlines()] == [5, 6]

    def test_follow_ends_when_the_server_ends_the_stream(
        self,
        store: EventStore,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A stream the server closes (it is stopping) ends --follow with exit 0 and a note on stderr."""
        monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
        later = Record(99, event(99))

        def stream(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse([later]))

        use_transport(
            AppTransport(create_app(monitoring, api_token=TOKEN, event_store=store), streams=stream)
        )
        try:
            code, out, err = run(["events", "tail", "-f", "-n", "1", "--token", TOKEN, "--json"], capsys)
        finally:
            monitoring.stop()
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == ["e4", "e99"]
        assert "ended the stream" in err


class TestTailErrors:
    def test_a_server_that_is_down(self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Nothing listening: HTTP_001 naming the URL (password masked) and the fix, exit 1, no traceback."""
        url = f"http://ops:{CANARY}@127.0.0.1:{free_port()}"
        code, out, err = run(["events", "tail", "--url", url, "--token", CANARY], capsys)
        assert code == 1
        assert err.startswith(
            "error HTTP_001: cannot reach the sharedconfig server at http://ops:**********@"
        )
        assert "sharedconfig serve" in err and "--store" in err
        assert CANARY not in out + err
        assert "Traceback" not in err

    def test_a_missing_token_is_security_001(
        self, served: AppTransport, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A 401 prints SECURITY_001 with the server's message and how to pass the token."""
        code, _, err = run(["events", "tail"], capsys)
        assert code == 1
        assert err.startswith("error SECURITY_001: ")
        assert "this endpoint needs a bearer token" in err
        assert "--token" in err and "SHAREDCONFIG_API_TOKEN" in err

    def test_a_server_without_a_store_is_http_002_with_its_hint(
        self,
        clean_cli_env: Path,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The API's 404 ``events_not_stored`` is HTTP_002 carrying the server's message and fix."""
        monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
        use_transport(AppTransport(create_app(monitoring, api_token=TOKEN)))
        try:
            code, _, err = run(["events", "tail", "--token", TOKEN], capsys)
        finally:
            monitoring.stop()
        assert code == 1
        assert "error HTTP_002: http://127.0.0.1:9464 answered 404 events_not_stored" in err
        assert "type: sqlite" in err

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [
            (httpx.Response(404, text="<h1>Not Found</h1>"), "HTTP_002"),
            (httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom"}}), "HTTP_002"),
        ],
    )
    def test_other_answers_are_coded(
        self,
        clean_cli_env: Path,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
        answer: httpx.Response,
        expected: str,
    ) -> None:
        """Any other failed answer is a coded error, also from a server that is not sharedconfig."""
        use_transport(httpx.MockTransport(lambda request: answer))
        code, _, err = run(["events", "tail"], capsys)
        assert code == 1
        assert err.startswith(f"error {expected}: ")
        assert "Traceback" not in err

    def test_a_server_that_does_not_answer(
        self,
        clean_cli_env: Path,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A timeout is HTTP_001 saying how long it waited."""

        def hang(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out", request=request)

        use_transport(httpx.MockTransport(hang))
        code, _, err = run(["events", "tail"], capsys)
        assert code == 1
        assert "HTTP_001" in err and "no answer within 10 s" in err

    def test_a_silent_stream(
        self,
        store: EventStore,
        use_transport: Callable[[httpx.BaseTransport], None],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A stream that stops sending (not even heartbeats) ends --follow with HTTP_001 saying how long."""
        monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())

        def stream(request: httpx.Request) -> httpx.Response:
            def body() -> Iterator[bytes]:
                yield b": heartbeat\n\n"
                raise httpx.ReadTimeout("timed out", request=request)

            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

        use_transport(
            AppTransport(create_app(monitoring, api_token=TOKEN, event_store=store), streams=stream)
        )
        try:
            code, _, err = run(["events", "tail", "-f", "--token", TOKEN], capsys)
        finally:
            monitoring.stop()
        assert code == 1
        assert "HTTP_001" in err and "no answer within 45 s" in err

    @pytest.mark.parametrize(
        ("option", "code", "shown"),
        [
            (["--since", "15x"], "VALIDATION_008", "--since"),
            (["--since", "2026-12-07T20:00:00"], "VALIDATION_008", "--since"),
            (["--severity", "loud"], "VALIDATION_006", "--severity"),
            (["--trace-id", "abc"], "VALIDATION_008", "--trace-id"),
            (["--url", "ftp://host"], "VALIDATION_008", "--url"),
        ],
    )
    def test_bad_options_fail_before_connecting(
        self,
        served: AppTransport,
        capsys: pytest.CaptureFixture[str],
        option: list[str],
        code: str,
        shown: str,
    ) -> None:
        """A bad filter or URL is a coded error naming the option, and no request is sent."""
        status, _, err = run(["events", "tail", *option], capsys)
        assert status == 1
        assert err.startswith(f"error {code} {shown}: ")
        assert "hint: " in err
        assert served.requests == []

    def test_a_bad_limit_is_a_usage_error(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--limit outside 1..1000 is refused by the option itself (exit 2)."""
        assert run(["events", "tail", "-n", "0"], capsys)[0] == 2


class TestTailAStoreFile:
    def test_recent_events_with_filters(self, store: EventStore, capsys: pytest.CaptureFixture[str]) -> None:
        """--store reads the file: the last N matching events, oldest first; no server is asked."""
        code, out, err = run(["events", "tail", "--store", "events.db", "--severity", "high"], capsys)
        assert (code, err) == (0, "")
        assert [line.rsplit("  ", 1)[1] for line in out.splitlines()] == ['{"n":1}', '{"n":3}']

    def test_json(self, store: EventStore, capsys: pytest.CaptureFixture[str]) -> None:
        """--json with --store prints the stored CloudEvents, oldest first."""
        code, out, _ = run(
            ["events", "tail", "--store", "events.db", "--json", "-n", "2", "-t", "config.*"], capsys
        )
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == ["e3", "e4"]

    def test_follow_reads_new_events_until_ctrl_c(
        self, store: EventStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--follow on a file prints what is appended while it waits; Ctrl+C ends it with exit 0."""
        pauses: list[float] = []

        def pause(seconds: float) -> None:
            pauses.append(seconds)
            if len(pauses) == 1:
                store.append([event(10), event(11, type="health.failed")])
            else:
                raise KeyboardInterrupt

        monkeypatch.setattr(events_cmds, "_pause", pause)
        code, out, _ = run(["events", "tail", "--store", "events.db", "-f", "-n", "1", "--json"], capsys)
        assert code == 0
        assert [json.loads(line)["id"] for line in out.splitlines()] == ["e4", "e10", "e11"]
        assert pauses == [0.5, 0.5]

    def test_a_missing_file_is_config_031(
        self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A path with no store is an error, not a new empty store."""
        code, _, err = run(["events", "tail", "--store", "nope.db"], capsys)
        assert code == 1
        assert err.startswith("error CONFIG_031: no event store at nope.db")
        assert not (clean_cli_env / "nope.db").exists()


class TestLines:
    def test_long_data_is_cut_and_escapes_are_made_printable(self) -> None:
        """The data summary stops at 60 characters; control characters cannot reach the terminal."""
        line = events_cmds.event_line(
            {"time": "2026-12-07T20:35:00.123456Z", "type": "x\x1b[31m", "data": {"text": "y" * 100}}
        )
        assert line.startswith("2026-12-07T20:35:00.123Z  info      x\\x1b[31m  -  ")
        assert line.endswith("…") and len(line.rsplit("  ", 1)[1]) == 60

    def test_binary_and_absent_data(self) -> None:
        """Binary data shows its size; an event without data ends after its subject."""
        assert events_cmds.event_line({"type": "t", "subject": "s", "data_base64": "AAAA"}).endswith(
            "s  <3 bytes>"
        )
        assert events_cmds.event_line({"type": "t", "subject": "s"}).endswith("t  s")


# -- replay ------------------------------------------------------------------------------------------------


@dataclass
class HalfChannel:
    """A channel that delivers the events whose ``n`` is even and dead-letters the others."""

    ctx: ChannelContext
    batches: list[list[str]] = field(default_factory=list)
    closed: bool = False

    @property
    def name(self) -> str:
        return self.ctx.name

    async def deliver(self, events: Sequence[Event]) -> int:
        self.batches.append([e.id for e in events])
        failed = [e for e in events if cast("dict[str, int]", e.data)["n"] % 2]
        if failed:
            self.ctx.dead_letter.append(failed, "refused by the test channel")
        return len(events) - len(failed)

    async def aclose(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class _Installed:
    """Stands in for an entry point: ``load()`` gives the factory."""

    factory: Callable[[Any, ChannelContext], Any]

    def load(self) -> Callable[[Any, ChannelContext], Any]:
        return self.factory


@pytest.fixture
def half_channels(monkeypatch: pytest.MonkeyPatch) -> list[HalfChannel]:
    """Channels of type ``log`` are built as ``HalfChannel``s (the built ones, in order)."""
    built: list[HalfChannel] = []

    def build(settings: Any, ctx: ChannelContext) -> HalfChannel:
        built.append(HalfChannel(ctx))
        return built[-1]

    found = {**channel_module.installed_channels(), "log": cast("EntryPoint", _Installed(build))}
    monkeypatch.setattr(channel_module, "installed_channels", lambda: found)
    return built


def dead_letters(path: Path, events: Sequence[Event]) -> Path:
    """A dead-letter file holding ``events``, as a channel writes it."""
    DeadLetterFile(path, fsync=False).append(events, "HTTP 503 from the receiver")
    return path


CHANNELS = """\
monitoring:
  events:
    batch_size: 2
    exporters:
      - {type: log, name: first}
      - {type: log, name: second}
      - {type: log, name: spare, enabled: false}
"""


class TestReplay:
    def test_every_enabled_channel_gets_every_event_in_batches(
        self, clean_cli_env: Path, half_channels: list[HalfChannel], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each enabled channel gets the file's events in batches of events.batch_size; the counts per
        channel are printed; events failing again go to a new file beside FILE; exit 1 as some failed."""
        (clean_cli_env / "app.yaml").write_text(CHANNELS)
        file = dead_letters(clean_cli_env / "webhook.jsonl", [event(n) for n in range(5)])
        before = file.read_bytes()
        code, out, err = run(["events", "replay", "webhook.jsonl", "--config", "app.yaml"], capsys)
        assert code == 1, err
        assert [c.name for c in half_channels] == ["first", "second"]
        assert all(c.batches == [["e0", "e1"], ["e2", "e3"], ["e4"]] and c.closed for c in half_channels)
        lines = out.splitlines()
        assert lines[0] == "replaying 5 events from webhook.jsonl"
        assert lines[1].startswith("first: 3 delivered, 2 failed again (dead letters: webhook.jsonl.replay-")
        assert lines[1].endswith("-first.jsonl)")
        assert lines[2].startswith("second: 3 delivered, 2 failed again")
        assert file.read_bytes() == before  # the file read is never written
        (again,) = clean_cli_env.glob("webhook.jsonl.replay-*-first.jsonl")
        assert [e.id for e in read(again)] == ["e1", "e3"]

    def test_one_named_channel_and_exit_0_when_all_delivered(
        self, clean_cli_env: Path, half_channels: list[HalfChannel], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--channel NAME replays to that channel only (a disabled one too, when named); exit 0 when every
        event was delivered, and no new dead-letter file is left."""
        (clean_cli_env / "app.yaml").write_text(CHANNELS)
        dead_letters(clean_cli_env / "dead.jsonl", [event(0), event(2)])
        code, out, _ = run(["events", "replay", "dead.jsonl", "-c", "app.yaml", "--channel", "spare"], capsys)
        assert code == 0
        assert [c.name for c in half_channels] == ["spare"]
        assert out.splitlines()[1] == "spare: 2 delivered, 0 failed again"
        assert list(clean_cli_env.glob("dead.jsonl.replay-*")) == []

    def test_into_the_sqlite_channel(self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Replayed into a real sqlite channel, the events are in its store, without the dead-letter
        attributes; the store is closed when the command ends."""
        (clean_cli_env / "app.yaml").write_text(
            "monitoring:\n  events:\n    exporters:\n      - {type: sqlite, path: replayed.db}\n"
        )
        sent = [event(n, data={"n": n, "password": CANARY}) for n in range(3)]
        dead_letters(clean_cli_env / "dead.jsonl", sent)
        code, out, err = run(["events", "replay", "dead.jsonl", "--config", "app.yaml"], capsys)
        assert code == 0, err
        assert out.splitlines()[1] == "sqlite: 3 delivered, 0 failed again"
        with EventStore(clean_cli_env / "replayed.db") as replayed:
            assert replayed.query(order="oldest").events == tuple(redacted(e) for e in sent)
        assert CANARY not in out + err

    def test_into_the_log_channel(self, clean_cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The log channel takes the replay too (it always delivers)."""
        (clean_cli_env / "app.yaml").write_text(
            "monitoring:\n  events:\n    exporters:\n      - {type: log}\n"
        )
        dead_letters(clean_cli_env / "dead.jsonl", [event(1)])
        code, out, _ = run(["events", "replay", "dead.jsonl", "--config", "app.yaml"], capsys)
        assert code == 0
        assert out.splitlines()[1] == "log: 1 delivered, 0 failed again"

    def test_a_bad_line_names_file_and_line_and_nothing_is_sent(
        self, clean_cli_env: Path, half_channels: list[HalfChannel], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A line that is not an event stops the replay before any delivery: VALIDATION_052 at file:line."""
        (clean_cli_env / "app.yaml").write_text(CHANNELS)
        file = dead_letters(clean_cli_env / "dead.jsonl", [event(0)])
        with file.open("ab") as out:
            out.write(b'{"not": "an event"}\n')
            out.write(to_structured(event(2)) + b"\n")
        code, _, err = run(["events", "replay", "dead.jsonl", "--config", "app.yaml"], capsys)
        assert code == 1
        assert err.startswith("dead.jsonl:2")
        assert "VALIDATION_052" in err
        assert all(c.batches == [] for c in half_channels)

    @pytest.mark.parametrize(
        ("config", "argv", "expected"),
        [
            ("monitoring: {}\n", [], "error VALIDATION_005 monitoring.events.exporters: no event channel"),
            (CHANNELS, ["--channel", "nope"], "error VALIDATION_006 --channel: 'nope' is not a channel"),
            (
                "monitoring:\n  events:\n    exporters:\n      - {type: log, enabled: false}\n",
                [],
                "error VALIDATION_006 monitoring.events.exporters: every configured event channel is",
            ),
        ],
    )
    def test_no_channel_to_replay_to(
        self,
        clean_cli_env: Path,
        half_channels: list[HalfChannel],
        capsys: pytest.CaptureFixture[str],
        config: str,
        argv: list[str],
        expected: str,
    ) -> None:
        """No channel, an unknown --channel or only disabled ones: a coded error with a hint, exit 1."""
        (clean_cli_env / "app.yaml").write_text(config)
        dead_letters(clean_cli_env / "dead.jsonl", [event(0)])
        code, _, err = run(["events", "replay", "dead.jsonl", "-c", "app.yaml", *argv], capsys)
        assert code == 1
        assert err.startswith(expected)
        assert "hint: " in err

    def test_a_missing_file_is_delivery_004(
        self, clean_cli_env: Path, half_channels: list[HalfChannel], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A file that cannot be read is DELIVERY_004 naming it."""
        (clean_cli_env / "app.yaml").write_text(CHANNELS)
        code, _, err = run(["events", "replay", "missing.jsonl", "-c", "app.yaml"], capsys)
        assert code == 1
        assert "DELIVERY_004" in err and "missing.jsonl" in err

    def test_an_empty_file_replays_nothing(
        self, clean_cli_env: Path, half_channels: list[HalfChannel], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An empty dead-letter file is not an error: nothing to replay, exit 0."""
        (clean_cli_env / "app.yaml").write_text(CHANNELS)
        (clean_cli_env / "dead.jsonl").write_text("")
        code, out, _ = run(["events", "replay", "dead.jsonl", "-c", "app.yaml"], capsys)
        assert code == 0
        assert out == "dead.jsonl holds no events: nothing to replay\n"

    def test_the_replay_file_is_named_after_the_time_and_channel(self) -> None:
        """Dead letters of a replay go beside FILE, named with the UTC time and the channel."""
        path = events_cmds.replay_path(Path("dead/webhook.jsonl"), "hooks", T0)
        assert path == Path("dead/webhook.jsonl.replay-20261207T203500Z-hooks.jsonl")
