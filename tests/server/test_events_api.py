"""The events API: pages with filters and keyset cursors, the SSE stream (framing, resume, heartbeats, its
end), auth, coded 400/404/503 answers, and the closing of streams when the server stops."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from conftest import ASGIClient
from sharedconfig import tracecontext
from sharedconfig.monitoring.events import Event, from_structured, redacted
from sharedconfig.monitoring.events.channels.sqlite import EventStore
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.server.app import create_app
from sharedconfig.server.auth import TOKEN_ENV
from sharedconfig.server.background import BackgroundServer
from sharedconfig.server.events import HEARTBEAT_INTERVAL, POLL_INTERVAL
from sharedconfig.testing import FakeClock

TOKEN = "events-token-3d9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
TRACE = tracecontext.TraceContext.new()
CANARY = "canary-secret-81c4"


def event(n: int, **fields: Any) -> Event:
    """Event number ``n``: id ``e<n>``, at T0 + n minutes, data ``{"n": n}``; ``fields`` override."""
    attributes: dict[str, Any] = {
        "type": "config.reloaded",
        "source": "/svc",
        "id": f"e{n}",
        "time": T0 + timedelta(minutes=n),
        "data": {"n": n},
        "traceparent": None,
    }
    attributes.update(fields)
    return Event(**attributes)


def ids(response: Any) -> list[str]:
    """The ids of a page's events."""
    return [e["id"] for e in response.json()["events"]]


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API token from the outer environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    """Fake time; its wall clock starts an hour after T0, so ``since=15m`` means T0 + 45 minutes."""
    return FakeClock(epoch=T0 + timedelta(hours=1))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[EventStore]:
    """An empty event store."""
    with EventStore(tmp_path / "events.db", clock=clock) as opened:
        yield opened


@pytest.fixture
def monitoring(clock: FakeClock) -> Iterator[Monitoring]:
    """A Monitoring on the fake clock."""
    m = Monitoring(MonitoringSettings(), stream=io.StringIO(), clock=clock)
    yield m
    m.stop()


@pytest.fixture
def app(monitoring: Monitoring, store: EventStore) -> FastAPI:
    """The app serving ``store`` through the events API."""
    return create_app(monitoring, api_token=TOKEN, event_store=store)


@pytest.fixture
def client(app: FastAPI) -> ASGIClient:
    """A client of ``app``."""
    return ASGIClient(app)


class TestPages:
    def test_newest_first_then_keyset_pages(self, store: EventStore, client: ASGIClient) -> None:
        """Pages come newest first, ``next_cursor`` leads to the next one (appends in between are not
        repeated) and is null on the last."""
        store.append([event(n) for n in range(5)])
        first = client.get("/api/v1/events", params={"limit": 2}, headers=AUTH)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "no-store"
        assert ids(first) == ["e4", "e3"]
        store.append([event(5)])  # arrives while paging: newest first, it is before the first page
        second = client.get(
            "/api/v1/events", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=AUTH
        )
        assert ids(second) == ["e2", "e1"]
        last = client.get(
            "/api/v1/events", params={"limit": 2, "cursor": second.json()["next_cursor"]}, headers=AUTH
        )
        assert ids(last) == ["e0"]
        assert last.json()["next_cursor"] is None

    def test_oldest_first(self, store: EventStore, client: ASGIClient) -> None:
        """``order=oldest`` pages the other way."""
        store.append([event(n) for n in range(3)])
        page = client.get("/api/v1/events", params={"order": "oldest", "limit": 2}, headers=AUTH)
        assert ids(page) == ["e0", "e1"]
        rest = client.get(
            "/api/v1/events",
            params={"order": "oldest", "cursor": page.json()["next_cursor"]},
            headers=AUTH,
        )
        assert ids(rest) == ["e2"]

    def test_events_are_redacted_structured_cloudevents(self, store: EventStore, client: ASGIClient) -> None:
        """Each item is the structured CloudEvents JSON of the event, redacted: no secret in the body."""
        secret = event(1, data={"user": "ann", "password": CANARY}, subject="orders/42")
        store.append([secret])
        response = client.get("/api/v1/events", headers=AUTH)
        assert CANARY not in response.text
        (item,) = response.json()["events"]
        assert item["specversion"] == "1.0"
        assert item["data"] == {"user": "ann", "password": "**********"}
        assert from_structured(json.dumps(item).encode()) == redacted(secret)

    def test_limit_defaults_to_100_and_takes_up_to_1000(self, store: EventStore, client: ASGIClient) -> None:
        """Without ``limit`` a page holds 100 events; 1000 is allowed."""
        store.append([event(n, time=T0) for n in range(1001)])
        assert len(ids(client.get("/api/v1/events", headers=AUTH))) == 100
        assert len(ids(client.get("/api/v1/events", params={"limit": 1000}, headers=AUTH))) == 1000

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"type": "health.failed"}, ["e3"]),
            ({"type": "config.*"}, ["e0", "e1"]),
            ({"type": ["health.failed", "config.validation.failed"]}, ["e1", "e3"]),
            ({"severity": "high"}, ["e1", "e3"]),
            ({"category": "audit"}, ["e2"]),
            ({"subject": "orders/*"}, ["e0", "e1"]),
            ({"subject": "orders/1"}, ["e1"]),
            ({"trace_id": TRACE.trace_id}, ["e3"]),
            ({"trace_id": TRACE.trace_id.upper()}, ["e3"]),
            ({"since": "2026-12-07T20:02:00Z"}, ["e2", "e3"]),
            ({"since": "2026-12-07T21:02:00+01:00"}, ["e2", "e3"]),
            ({"until": "2026-12-07T20:01:00Z"}, ["e0"]),
            ({"since": "58m"}, ["e2", "e3"]),  # the fake wall clock is T0 + 1h
            ({"since": "1h", "until": "59m"}, ["e0"]),
            ({"type": "config.*", "severity": "high"}, ["e1"]),
        ],
    )
    def test_filters(
        self, store: EventStore, client: ASGIClient, params: dict[str, Any], expected: list[str]
    ) -> None:
        """Each query parameter (type exact, prefix or repeated; severity at least; category; subject exact
        or glob; trace id; since/until as RFC 3339 or a duration ago) keeps exactly the matching events."""
        store.append(
            [
                event(0, subject="orders/0"),
                event(1, type="config.validation.failed", subject="orders/1", severity="high"),
                event(2, type="audit.login", category="audit"),
                event(3, type="health.failed", severity="critical", traceparent=TRACE.traceparent),
            ]
        )
        response = client.get("/api/v1/events", params={**params, "order": "oldest"}, headers=AUTH)
        assert response.status_code == 200, response.text
        assert ids(response) == expected


class TestRefusals:
    @pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/stream"])
    @pytest.mark.parametrize(
        ("headers", "challenge"),
        [
            ({}, 'Bearer realm="sharedconfig"'),
            ({"Authorization": "Bearer wrong"}, 'Bearer realm="sharedconfig", error="invalid_token"'),
        ],
    )
    def test_without_the_token_is_401(
        self, client: ASGIClient, path: str, headers: dict[str, str], challenge: str
    ) -> None:
        """Both routes need the token, answered as /api/v1/config is: 401 with the same challenge."""
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == challenge
        assert response.json()["error"]["code"] == "unauthorized"

    def test_no_token_configured_is_401(self, monitoring: Monitoring, store: EventStore) -> None:
        """With no token configured the events API is disabled like the rest of /api."""
        response = ASGIClient(create_app(monitoring, event_store=store)).get("/api/v1/events")
        assert response.status_code == 401
        assert "no API token is configured" in response.json()["error"]["message"]

    @pytest.mark.parametrize(
        ("params", "named"),
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "1001"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"limit": "-5"}, "limit"),
            ({"cursor": "abc"}, "cursor"),
            ({"cursor": "-1"}, "cursor"),
            ({"cursor": "9" * 30}, "cursor"),
            ({"order": "up"}, "order"),
            ({"severity": "loud"}, "severity"),
            ({"category": "misc"}, "category"),
            ({"subject": ""}, "subject"),
            ({"type": ""}, "type"),
            ({"trace_id": "xyz"}, "trace_id"),
            ({"since": "15x"}, "since"),
            ({"since": "2026-12-07T20:00:00"}, "since"),  # no zone
            ({"since": "9999999999d"}, "since"),  # before the year 1
            ({"until": "yesterday"}, "until"),
            ({"since": ["1h", "2h"]}, "since"),
            ({"severty": "high"}, "severty"),
        ],
    )
    def test_bad_parameter_is_a_coded_400(
        self, client: ASGIClient, params: dict[str, Any], named: str
    ) -> None:
        """A bad parameter is 400 ``invalid_parameter`` naming it, with a hint; never a 500."""
        response = client.get("/api/v1/events", params=params, headers=AUTH)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_parameter"
        assert error["message"].startswith(named)
        assert error["hint"]

    @pytest.mark.parametrize(
        ("params", "headers", "named"),
        [
            ({"since": "15x"}, {}, "since"),
            ({"limit": "5"}, {}, "limit"),  # pages only
            ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
            ({"cursor": "x"}, {}, "cursor"),
        ],
    )
    def test_bad_stream_parameter_is_a_coded_400(
        self, client: ASGIClient, params: dict[str, str], headers: dict[str, str], named: str
    ) -> None:
        """The stream checks its parameters and Last-Event-ID before it starts."""
        response = client.get("/api/v1/events/stream", params=params, headers={**AUTH, **headers})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith(named)

    @pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/stream"])
    def test_no_store_is_a_404_naming_the_fix(self, monitoring: Monitoring, path: str) -> None:
        """Without an event store both routes answer 404 ``events_not_stored``, saying how to add one."""
        response = ASGIClient(create_app(monitoring, api_token=TOKEN)).get(path, headers=AUTH)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "events_not_stored"
        assert "type: sqlite" in error["hint"]
        assert "monitoring.events.exporters" in error["hint"]

    def test_a_closed_store_is_a_coded_503(self, store: EventStore, client: ASGIClient) -> None:
        """A store that cannot be read is 503 ``events_unavailable``, not a 500."""
        store.close()
        response = client.get("/api/v1/events", headers=AUTH)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "events_unavailable"


def with_sqlite_channel(tmp_path: Path, clock: FakeClock) -> Monitoring:
    """A Monitoring whose events go to a sqlite channel (and its journal and dead letters) in tmp_path."""
    settings = MonitoringSettings.model_validate(
        {
            "events": {
                "exporters": [{"type": "sqlite", "path": str(tmp_path / "channel.db")}],
                "journal": {"path": str(tmp_path / "journal")},
                "dead_letter_dir": str(tmp_path / "dead"),
            }
        }
    )
    return Monitoring(settings, stream=io.StringIO(), clock=clock)


class TestWhereTheStoreComesFrom:
    def test_the_sqlite_channels_store_is_read(self, tmp_path: Path, clock: FakeClock) -> None:
        """Without ``event_store=``, the API reads the store of the first sqlite channel configured."""
        monitoring = with_sqlite_channel(tmp_path, clock)
        try:
            assert monitoring.events.store is not None
            monitoring.events.store.append([event(1)])
            response = ASGIClient(create_app(monitoring, api_token=TOKEN)).get("/api/v1/events", headers=AUTH)
            assert ids(response) == ["e1"]
        finally:
            monitoring.stop()

    def test_an_explicit_store_wins(self, tmp_path: Path, clock: FakeClock, store: EventStore) -> None:
        """``create_app(..., event_store=...)`` is read instead of the channel's store."""
        monitoring = with_sqlite_channel(tmp_path, clock)
        try:
            assert monitoring.events.store is not None
            monitoring.events.store.append([event(2)])
            store.append([event(1)])
            app = create_app(monitoring, api_token=TOKEN, event_store=store)
            assert ids(ASGIClient(app).get("/api/v1/events", headers=AUTH)) == ["e1"]
        finally:
            monitoring.stop()


# -- the stream: the app called directly, so the test reads each message as it is sent ---------------------


@dataclass
class Stream:
    """One request to the app in flight: the messages it sent, and a way to disconnect."""

    task: asyncio.Future[None]
    messages: list[dict[str, Any]]
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.messages[0]["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    def frames(self) -> list[dict[str, str]]:
        """The events sent so far, each as its fields (comments left out)."""
        found = []
        for block in self.body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
            if fields:
                found.append(fields)
        return found

    @property
    def ended(self) -> bool:
        return self.task.done() and self.messages[-1].get("more_body") is False


async def open_stream(
    app: FastAPI, query: str = "", headers: Sequence[tuple[str, str]] = AUTH.items()
) -> Stream:
    """Start ``GET /api/v1/events/stream?query`` on ``app``; returns once the app waits (headers sent)."""
    messages: list[dict[str, Any]] = []
    stream: Stream

    async def receive() -> dict[str, Any]:
        if not messages and not hasattr(receive, "asked"):
            receive.asked = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"", "more_body": False}
        await stream.gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/events/stream",
        "raw_path": b"/api/v1/events/stream",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    stream = Stream(asyncio.ensure_future(app(scope, receive, send)), messages)
    return stream


def run(clock: FakeClock, test: Any) -> None:
    """Run the coroutine function ``test`` on a new loop (the stream's reads on its default executor)."""

    async def main() -> None:
        await test()
        await clock.advance_async(0)

    asyncio.run(main())


class TestStream:
    def test_new_events_are_framed_with_id_type_and_json(
        self, app: FastAPI, store: EventStore, clock: FakeClock
    ) -> None:
        """Without Last-Event-ID only new events come, each as ``id: <cursor>``, ``event: <type>`` and
        ``data: <structured JSON>``, within one poll interval."""
        store.append([event(0)])

        async def test() -> None:
            stream = await open_stream(app)
            await clock.advance_async(0)
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            assert "content-length" not in stream.headers
            assert stream.frames() == []
            store.append([event(1, type="health.failed", data={"password": CANARY})])
            await clock.advance_async(POLL_INTERVAL)
            (frame,) = stream.frames()
            assert frame["id"] == str(store.last_cursor())
            assert frame["event"] == "health.failed"
            sent = from_structured(frame["data"].encode())
            assert sent.id == "e1"
            assert sent.data == {"password": "**********"}
            assert stream.body.endswith(b"\n\n")
            assert CANARY.encode() not in stream.body
            stream.gone.set()

        run(clock, test)

    def test_last_event_id_resumes_after_it(self, app: FastAPI, store: EventStore, clock: FakeClock) -> None:
        """``Last-Event-ID`` (what an EventSource sends on reconnecting) resumes right after that event,
        at once; it wins over the ``cursor`` parameter."""
        store.append([event(n) for n in range(5)])
        second = store.query(order="oldest").records[1].cursor

        async def test() -> None:
            stream = await open_stream(app, "cursor=0", [*AUTH.items(), ("Last-Event-ID", str(second))])
            await clock.advance_async(0)
            assert [from_structured(f["data"].encode()).id for f in stream.frames()] == ["e2", "e3", "e4"]
            assert [int(f["id"]) for f in stream.frames()] == [second + 1, second + 2, second + 3]
            stream.gone.set()

        run(clock, test)

    def test_cursor_parameter_starts_after_it(
        self, app: FastAPI, store: EventStore, clock: FakeClock
    ) -> None:
        """The ``cursor`` parameter is a Last-Event-ID for clients that cannot set headers."""
        store.append([event(n) for n in range(3)])

        async def test() -> None:
            stream = await open_stream(app, "cursor=0")
            await clock.advance_async(0)
            assert len(stream.frames()) == 3
            stream.gone.set()

        run(clock, test)

    def test_filters_apply(self, app: FastAPI, store: EventStore, clock: FakeClock) -> None:
        """The stream takes the same filters as the pages."""

        async def test() -> None:
            stream = await open_stream(app, "type=health.*&severity=high")
            await clock.advance_async(0)
            store.append(
                [
                    event(1, type="health.failed", severity="critical"),
                    event(2, type="health.failed", severity="low"),
                    event(3, type="config.reloaded", severity="critical"),
                ]
            )
            await clock.advance_async(POLL_INTERVAL)
            assert [from_structured(f["data"].encode()).id for f in stream.frames()] == ["e1"]
            stream.gone.set()

        run(clock, test)

    def test_a_backlog_is_sent_without_waiting(
        self, app: FastAPI, store: EventStore, clock: FakeClock
    ) -> None:
        """More events than one read takes are all sent at once, not one batch per poll interval."""
        store.append([event(n, time=T0) for n in range(1200)])

        async def test() -> None:
            stream = await open_stream(app, "cursor=0")
            await clock.advance_async(0)
            assert len(stream.frames()) == 1200
            stream.gone.set()

        run(clock, test)

    def test_heartbeat_after_silence(self, app: FastAPI, store: EventStore, clock: FakeClock) -> None:
        """A comment goes out after 15 s without an event; an event restarts the count."""

        async def test() -> None:
            stream = await open_stream(app)
            await clock.advance_async(HEARTBEAT_INTERVAL - POLL_INTERVAL)
            assert b": heartbeat" not in stream.body
            await clock.advance_async(POLL_INTERVAL)
            assert stream.body == b": heartbeat\n\n"
            await clock.advance_async(5)
            store.append([event(1)])
            await clock.advance_async(POLL_INTERVAL)
            await clock.advance_async(HEARTBEAT_INTERVAL - POLL_INTERVAL)
            assert stream.body.count(b": heartbeat") == 1
            await clock.advance_async(POLL_INTERVAL)
            assert stream.body.count(b": heartbeat") == 2
            assert len(stream.frames()) == 1
            stream.gone.set()

        run(clock, test)

    def test_a_disconnect_ends_the_stream(self, app: FastAPI, store: EventStore, clock: FakeClock) -> None:
        """When the client goes away the response ends and the store is no longer read."""
        reads: list[int] = []
        follow = store.follow

        def counted(*args: Any, **kwargs: Any) -> Any:
            reads.append(1)
            return follow(*args, **kwargs)

        async def test() -> None:
            stream = await open_stream(app)
            await clock.advance_async(POLL_INTERVAL)
            stream.gone.set()
            await clock.advance_async(0)
            assert stream.task.done()
            before = len(reads)
            await clock.advance_async(10 * POLL_INTERVAL)
            assert len(reads) == before

        store.follow = counted  # type: ignore[method-assign]
        run(clock, test)
        assert reads

    def test_closing_the_streams_ends_them_and_later_ones(
        self, app: FastAPI, store: EventStore, clock: FakeClock
    ) -> None:
        """``app.close_streams()`` (servers call it at shutdown) completes every open stream's response,
        from another thread; a stream opened afterwards ends at once."""

        async def test() -> None:
            first = await open_stream(app)
            second = await open_stream(app, "type=x")
            await clock.advance_async(0)
            closer = threading.Thread(target=app.close_streams)  # type: ignore[attr-defined]
            closer.start()
            closer.join()
            await clock.advance_async(0)
            assert first.ended and second.ended
            late = await open_stream(app)
            await clock.advance_async(0)
            assert late.ended and late.status == 200

        run(clock, test)

    def test_a_closed_store_ends_the_stream(self, app: FastAPI, store: EventStore, clock: FakeClock) -> None:
        """When the store is closed (monitoring stopping), the stream ends instead of failing."""

        async def test() -> None:
            stream = await open_stream(app)
            await clock.advance_async(0)
            store.close()
            await clock.advance_async(POLL_INTERVAL)
            assert stream.ended

        run(clock, test)

    def test_the_store_is_read_on_worker_threads(
        self, app: FastAPI, store: EventStore, clock: FakeClock
    ) -> None:
        """Every read of the store happens off the event loop's thread."""
        threads: set[int] = set()
        follow, last_cursor = store.follow, store.last_cursor

        def on_thread(method: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                threads.add(threading.get_ident())
                return method(*args, **kwargs)

            return call

        store.follow = on_thread(follow)  # type: ignore[method-assign]
        store.last_cursor = on_thread(last_cursor)  # type: ignore[method-assign]

        async def test() -> None:
            stream = await open_stream(app)
            await clock.advance_async(3 * POLL_INTERVAL)
            stream.gone.set()

        run(clock, test)
        assert threads
        assert threading.get_ident() not in threads


class TestShutdown:
    def test_a_background_server_closes_the_streams_when_it_stops(self) -> None:
        """``BackgroundServer.stop`` tells an app with ``close_streams`` first (never-started server here)."""
        closed: list[bool] = []

        class App:
            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                raise AssertionError("not served")

            def close_streams(self) -> None:
                closed.append(True)

        BackgroundServer(App(), port=0).stop()
        assert closed == [True]


class TestOpenAPI:
    def test_routes_parameters_and_errors_are_documented(self, client: ASGIClient) -> None:
        """Both routes are in the OpenAPI document with their parameters, statuses and the bearer scheme."""
        document = client.get("/openapi.json").json()
        page = document["paths"]["/api/v1/events"]["get"]
        stream = document["paths"]["/api/v1/events/stream"]["get"]
        assert {p["name"] for p in page["parameters"]} == {
            *("type", "severity", "category", "subject", "trace_id", "since", "until"),
            *("limit", "cursor", "order"),
        }
        assert {p["name"] for p in stream["parameters"]} >= {"type", "since", "cursor", "Last-Event-ID"}
        assert {"200", "400", "401", "404", "503"} <= set(page["responses"]) & set(stream["responses"])
        assert "text/event-stream" in stream["responses"]["200"]["content"]
        assert page["security"] == document["paths"]["/api/v1/config"]["get"]["security"]


# -- fuzzing the pages with a store behind them ----------------------------------------------------------


def _fuzzed_app(store: EventStore | None = None) -> FastAPI:
    monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
    return create_app(monitoring, api_token=TOKEN, event_store=store)


# since/until take RFC 3339 times and every duration sharedconfig reads, as long as the result is a date:
# more than a JSON Schema says, so the two checks that judge a 400 against the schema are left out; every
# other check runs (documented statuses, content types and bodies, auth honoured)
FUZZ = schemathesis.openapi.from_dict(
    _fuzzed_app().openapi(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": 20},
            "checks": {
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"enabled": False},
            },
        }
    ),
).include(path="/api/v1/events")
FUZZ.app = _fuzzed_app()  # where schemathesis sends its own probes (auth checks); each test passes its app


@pytest.fixture
def stop_asgi_portal() -> Iterator[None]:
    """Stop the event-loop thread schemathesis shares between ASGI calls (see test_api_fuzz.py)."""
    yield
    asgi._shutdown()


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[EventStore]:
    """A store with a few events of several types and severities."""
    with EventStore(tmp_path / "fuzz.db") as opened:
        opened.append(
            [
                event(n, type=kind, severity=level)
                for n, (kind, level) in enumerate(
                    [("config.reloaded", "info"), ("health.failed", "high"), ("audit.login", "low")] * 3
                )
            ]
        )
        yield opened


@FUZZ.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_pages_honour_the_openapi_document(
    case: schemathesis.Case, filled: EventStore, stop_asgi_portal: None
) -> None:
    """Generated queries, valid and not, against a store: documented statuses and bodies only, no 500."""
    response = case.call_and_validate(app=_fuzzed_app(filled), headers=AUTH)
    assert response.status_code != 500, response.text
