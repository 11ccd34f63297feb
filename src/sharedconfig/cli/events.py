"""``sharedconfig events tail | replay``: read a service's stored events; deliver a dead-letter file again.

``tail`` reads a running ``sharedconfig serve`` through its API (``--follow``: the SSE stream) or a store
file; ``replay`` sends dead letters to the configured channels. Nothing printed holds a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from sharedconfig.cli.config import EnvFile, EnvPrefix, Overrides, Profile, SecretsDir, load_options, plural
from sharedconfig.errors import HTTPError, SecurityError, SharedConfigError, ValidationError, printable
from sharedconfig.redaction import mask_userinfo, redact_query

if TYPE_CHECKING:
    import httpx

    from sharedconfig.config.snapshot import Config
    from sharedconfig.monitoring.events.channel import Channel, ChannelContext
    from sharedconfig.monitoring.events.channels.sqlite import EventFilter, EventStore
    from sharedconfig.monitoring.events.event import Event
    from sharedconfig.monitoring.settings import EventChannelSettings

__all__ = ["app", "event_line", "replay", "replay_path", "tail"]

app = typer.Typer(
    name="events",
    help="Read a service's stored events, and deliver dead letters again.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_TIMEOUT: Final = 10.0  # seconds for a connection or an answer
_STREAM_SILENCE: Final = 45.0  # seconds without a byte (three missed heartbeats): the stream is dead
_STORE_POLL: Final = 0.5  # seconds between two reads of a store file by --follow
_SUMMARY: Final = 60  # characters of an event's data shown on its line
_UNREACHABLE_HINT: Final = (
    "Start it (sharedconfig serve CONFIG), give its address with --url, or read the store file with "
    "--store PATH."
)

Configs = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="Configuration file, low to high (repeatable).",
        show_default=False,
    ),
]


def _load(configs: list[Path] | None, **options: Any) -> Config:
    from sharedconfig.config.loader import load

    return load([str(c) for c in configs or ()], **load_options(**options))


# -- printing ----------------------------------------------------------------------------------------------


def _short_time(text: object) -> str:
    """``2026-12-07T20:35:00.123456Z`` as ``2026-12-07T20:35:00.123Z``; anything else as it is."""
    value = str(text) if text is not None else "-"
    head, dot, rest = value.partition(".")
    if dot and rest.endswith("Z") and rest[:-1].isdigit():
        return f"{head}.{rest[:3]}Z"
    return value


def _summary(event: Mapping[str, Any]) -> str:
    if "data" in event:
        text = json.dumps(event["data"], ensure_ascii=False, separators=(",", ":"))
    elif "data_base64" in event:
        text = f"<{len(str(event['data_base64'])) * 3 // 4} bytes>"
    else:
        return ""
    return text if len(text) <= _SUMMARY else text[: _SUMMARY - 1] + "…"


def event_line(event: Mapping[str, Any]) -> str:
    """One event as a line: time, severity, type, subject and the start of its data.

    Every field is made printable (an escape sequence in an event's data cannot act on the terminal).
    """
    fields = (
        _short_time(event.get("time")),
        f"{event.get('severity', 'info')!s:<8}",
        str(event.get("type", "")),
        str(event.get("subject") or "-"),
        _summary(event),
    )
    return printable("  ".join(fields).rstrip())


def _printer(as_json: bool) -> Callable[[Mapping[str, Any]], None]:
    def emit(event: Mapping[str, Any]) -> None:
        if as_json:
            print(json.dumps(event, ensure_ascii=False, separators=(",", ":")), flush=True)
        else:
            print(event_line(event), flush=True)

    return emit


# -- reading through the API -------------------------------------------------------------------------------


def _shown(url: str) -> str:
    return mask_userinfo(redact_query(url))


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _error_body(response: httpx.Response) -> tuple[str, str, str]:
    """``(code, message, hint)`` of a sharedconfig error body, or what can be said without one."""
    try:
        detail = response.json()["error"]
        return str(detail["code"]), str(detail["message"]), str(detail.get("hint") or "")
    except (ValueError, KeyError, TypeError):
        return "", "", ""


@dataclass
class _Api:
    """The events API of one server: pages and the stream, errors turned into coded ones."""

    url: str
    client: httpx.Client

    @property
    def shown(self) -> str:
        """The URL as it may be printed (a password and query values in it masked)."""
        return _shown(self.url)

    def _refused(self, response: httpx.Response) -> SharedConfigError:
        code, message, hint = _error_body(response)
        if response.status_code == 401:
            return SecurityError(
                f"{self.shown} refused the token: {message or 'HTTP 401'}",
                hint="Pass the server's API token with --token or SHAREDCONFIG_API_TOKEN (the value of "
                "monitoring.server.api_token where the server runs).",
                component="cli",
                operation="events tail",
            )
        if not code:
            return HTTPError(
                f"{self.shown} answered {response.status_code} without a sharedconfig error body",
                code="HTTP_002",
                hint="Check --url: it must point at a sharedconfig server (sharedconfig serve).",
                component="cli",
                operation="events tail",
            )
        return HTTPError(
            f"{self.shown} answered {response.status_code} {code}: {message}",
            code="HTTP_002",
            hint=hint or None,
            component="cli",
            operation="events tail",
        )

    def _unreachable(self, exc: Exception, waited: float = _TIMEOUT) -> HTTPError:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            why = f"no answer within {waited:g} s"
        else:
            why = str(exc).rpartition("] ")[2] or type(exc).__name__
        return HTTPError(
            f"cannot reach the sharedconfig server at {self.shown}: {mask_userinfo(why)}",
            hint=_UNREACHABLE_HINT,
            component="cli",
            operation="events tail",
        )

    def page(self, params: Mapping[str, str | list[str]]) -> list[dict[str, Any]]:
        """The events of one page, as the API sends them."""
        import httpx

        try:
            response = self.client.get("/api/v1/events", params=params)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise self._refused(response)
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    @contextlib.contextmanager
    def stream(self, params: Mapping[str, str | list[str]]) -> Iterator[Iterator[dict[str, Any]]]:
        """Open the stream (the server has picked its start once this returns); yields its events."""
        import httpx

        timeout = httpx.Timeout(_TIMEOUT, read=_STREAM_SILENCE)
        try:
            with self.client.stream(
                "GET", "/api/v1/events/stream", params=params, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._refused(response)
                yield self._events(response.iter_lines())
        except httpx.TransportError as exc:  # a silent stream too: heartbeats come every 15 s
            silent = isinstance(exc, httpx.ReadTimeout)
            raise self._unreachable(exc, _STREAM_SILENCE if silent else _TIMEOUT) from None

    @staticmethod
    def _events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
        data: list[str] = []
        for line in lines:
            if line == "":
                if data:
                    yield json.loads("\n".join(data))
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            # id:, event: and comments (heartbeats) need nothing here: the JSON carries type and id


def _tail_api(
    api: _Api, params: dict[str, str | list[str]], limit: int, follow: bool, emit: Callable[[Any], None]
) -> None:
    listed = {**params, "limit": str(limit), "order": "newest"}
    if not follow:
        for event in reversed(api.page(listed)):
            emit(event)
        return
    # the stream first: the page then holds everything stored before the stream's start, and what both
    # hold (stored in between) is printed once
    with api.stream(params) as stream:
        recent = api.page(listed)
        seen = {(e.get("source"), e.get("id")) for e in recent}
        for event in reversed(recent):
            emit(event)
        for event in stream:
            key = (event.get("source"), event.get("id"))
            if key in seen:
                seen.discard(key)
                continue
            emit(event)
    print(f"events tail: {api.shown} ended the stream (the server is stopping)", file=sys.stderr)


# -- reading a store file ----------------------------------------------------------------------------------


def _open_store(path: Path) -> EventStore:
    from sharedconfig.monitoring.events.channels.sqlite import EventStore, EventStoreError

    if not path.is_file():
        raise EventStoreError(
            f"no event store at {path}",
            hint="Give the path of a sqlite channel's store: its path setting in "
            "monitoring.events.exporters, relative to where the service runs.",
            component="cli",
            operation="events tail",
        )
    return EventStore(path)


def _tail_store(
    store: EventStore,
    filters: EventFilter,
    limit: int,
    follow: bool,
    emit: Callable[[Any], None],
) -> None:
    def shown(records: Iterable[Any]) -> None:
        for record in records:
            emit(json.loads(_structured(record.event)))

    start = store.last_cursor()
    # after=start + 1, newest first: the events up to start, so that following from start repeats none
    page = store.query(filters, limit=limit, after=start + 1, order="newest")
    shown(reversed(page.records))
    cursor = start
    while follow:
        step = store.follow(cursor, filters)
        shown(step.records)
        if step.next_cursor == cursor:
            _pause(_STORE_POLL)
        cursor = step.next_cursor or cursor


def _pause(seconds: float) -> None:
    """Wait between two reads of a store file (tests replace it: they never sleep)."""
    time.sleep(seconds)


def _structured(event: Event) -> bytes:
    from sharedconfig.monitoring.events.encoding import to_structured

    return to_structured(event)


# -- tail --------------------------------------------------------------------------------------------------


def _option(exc: ValidationError) -> ValidationError:
    """``exc`` with the option's name (``--since``) as its path instead of the parameter's (``since``)."""
    return ValidationError(
        exc.message, code=exc.code, path=f"--{exc.path.replace('_', '-')}", hint=exc.hint, component="cli"
    )


@app.command("tail")
def tail(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl+C.")
    ] = False,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type", "-t", metavar="TYPE", help="Event type, or a prefix as config.* (repeatable)."
        ),
    ] = None,
    severity: Annotated[
        str | None,
        typer.Option(
            "--severity", metavar="LEVEL", help="The least severity: info, low, medium, high, critical."
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", metavar="NAME", help="system, business, error, security or audit."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="GLOB", help="Subject, exact or a glob (orders/*).")
    ] = None,
    trace_id: Annotated[
        str | None, typer.Option("--trace-id", metavar="ID", help="Only events of this trace.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="WHEN", help="RFC 3339 time, or a duration ago (15m, 2h, 7d)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="Recent events shown first.")
    ] = 20,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", metavar="URL", help="The server; default http://<monitoring.server.host>:<port>."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="API token; default $SHAREDCONFIG_API_TOKEN, then monitoring.server.api_token.",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", metavar="PATH", help="Read this sqlite store file instead of a server."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One CloudEvent JSON object per line.")] = False,
    configs: Configs = None,
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    env_file: EnvFile = None,
    overrides: Overrides = None,
    secrets_dir: SecretsDir = None,
) -> None:
    """Print a service's recent events, oldest first; --follow keeps printing new ones until Ctrl+C.

    Reads a running `sharedconfig serve` through /api/v1/events (with the API token), or a store file
    with --store. Each line: time, severity, type, subject and the start of the data.
    """
    from sharedconfig.server.event_query import parse_filters

    params: dict[str, str | list[str]] = {}
    if types:
        params["type"] = list(types)
    for name, value in (
        ("severity", severity),
        ("category", category),
        ("subject", subject),
        ("trace_id", trace_id),
        ("since", since),
    ):
        if value is not None:
            params[name] = value
    try:  # the server applies the same rules; checked here too, so a typo is reported before connecting
        filters = parse_filters({k: v if isinstance(v, list) else [v] for k, v in params.items()}, _now())
    except ValidationError as exc:
        raise _option(exc) from None
    emit = _printer(as_json)

    def config() -> Config:
        return _load(
            configs,
            profile=profile,
            env_prefix=env_prefix,
            env_file=env_file,
            overrides=overrides,
            secrets_dir=secrets_dir,
        )

    try:
        if store is not None:
            with _open_store(store) as opened:
                _tail_store(opened, filters, limit, follow, emit)
        else:
            api = _connect(url, token, config)
            with api.client:
                _tail_api(api, params, limit, follow, emit)
    except KeyboardInterrupt:
        return  # Ctrl+C ends --follow: the normal way out


def _now() -> datetime:
    return datetime.now(UTC)


def _connect(url: str | None, token: str | None, config: Callable[[], Config]) -> _Api:
    """The API of the server at ``url`` (default: the configuration's ``monitoring.server``), with the token
    ``token`` (default: ``$SHAREDCONFIG_API_TOKEN``, then ``monitoring.server.api_token``)."""
    import httpx

    from sharedconfig.server.auth import configured_token

    setting = None
    if url is None or token is None:
        from sharedconfig.monitoring.settings import MonitoringSettings

        server = config().module("monitoring", MonitoringSettings).server
        url = url or f"http://{_url_host(server.host)}:{server.port}"
        setting = server.api_token
    if not url.startswith(("http://", "https://")):
        raise ValidationError(
            f"{_shown(url)!r} is not an http:// or https:// URL",
            path="--url",
            hint="Give the server's base URL, e.g. http://127.0.0.1:9464.",
            component="cli",
        )
    secret = configured_token(token, explicit=True) if token is not None else configured_token(setting)
    headers = {"Authorization": f"Bearer {secret.get_secret_value()}"} if secret is not None else {}
    base = url.rstrip("/")
    return _Api(base, httpx.Client(base_url=base, headers=headers, timeout=_TIMEOUT))


# -- replay ------------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What one channel did with the replayed events."""

    name: str
    delivered: int = 0
    failed: int = 0


def replay_path(file: Path, name: str, now: datetime) -> Path:
    """Where a replay's own dead letters go: beside ``file``, never ``file`` itself."""
    return file.with_name(f"{file.name}.replay-{now:%Y%m%dT%H%M%SZ}-{name}.jsonl")


def _selected(
    exporters: Sequence[EventChannelSettings], only: str | None
) -> list[tuple[int, EventChannelSettings]]:
    from sharedconfig.monitoring.settings import channel_name

    if not exporters:
        raise ValidationError(
            "no event channel is configured: nothing to replay to",
            code="VALIDATION_005",
            path="monitoring.events.exporters",
            hint="Give the service's configuration with --config, or add a channel to "
            "monitoring.events.exporters.",
            component="cli",
            operation="events replay",
        )
    if only is None:
        chosen = [(i, s) for i, s in enumerate(exporters) if s.enabled]
        if not chosen:
            raise ValidationError(
                "every configured event channel is disabled (enabled: false)",
                code="VALIDATION_006",
                path="monitoring.events.exporters",
                hint="Name the channel to replay to with --channel NAME.",
                component="cli",
                operation="events replay",
            )
        return chosen
    chosen = [(i, s) for i, s in enumerate(exporters) if channel_name(s) == only]
    if not chosen:
        names = ", ".join(channel_name(s) for s in exporters)
        raise ValidationError(
            f"{only!r} is not a channel of monitoring.events.exporters (channels: {names})",
            code="VALIDATION_006",
            path="--channel",
            hint="Give a channel's name (its name setting, else its type).",
            component="cli",
            operation="events replay",
        )
    return chosen


async def _deliver(channel: Channel, ctx: ChannelContext, events: Sequence[Event]) -> _Outcome:
    outcome = _Outcome(channel.name)
    try:
        for start in range(0, len(events), ctx.batch_size):
            batch = events[start : start + ctx.batch_size]
            try:
                delivered = await channel.deliver(batch)
            except Exception as exc:  # a channel must not raise; if one does, its batch counts as failed
                ctx.dead_letter.append(batch, f"{type(exc).__name__}: {exc}")
                delivered = 0
            outcome.delivered += delivered
            outcome.failed += len(batch) - delivered
    finally:
        await channel.aclose()
        # the sqlite channel keeps its store open for the API; in a replay nothing else reads it
        store = getattr(channel, "store", None)
        if store is not None and callable(getattr(store, "close", None)):
            store.close()
    return outcome


@app.command("replay")
def replay(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A dead-letter file a channel wrote (JSON lines).")
    ],
    channel: Annotated[
        str | None,
        typer.Option("--channel", metavar="NAME", help="Only this channel; default every enabled one."),
    ] = None,
    configs: Configs = None,
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    env_file: EnvFile = None,
    overrides: Overrides = None,
    secrets_dir: SecretsDir = None,
) -> None:
    """Deliver the events of a dead-letter file again, to the channels of monitoring.events.exporters.

    Events that fail again go to FILE.replay-<time>-<channel>.jsonl beside FILE (FILE is only read).
    Exit 0 when every event reached every channel, 1 otherwise.
    """
    from sharedconfig.clock import SYSTEM_CLOCK
    from sharedconfig.hooks import noop
    from sharedconfig.interfaces import MetricsRecorder
    from sharedconfig.monitoring.events import deadletter
    from sharedconfig.monitoring.events.channel import ChannelContext, build_channel
    from sharedconfig.monitoring.settings import MonitoringSettings, channel_name
    from sharedconfig.stdlog import StdlibLogger

    config = _load(
        configs,
        profile=profile,
        env_prefix=env_prefix,
        env_file=env_file,
        overrides=overrides,
        secrets_dir=secrets_dir,
    )
    settings = config.module("monitoring", MonitoringSettings).events
    chosen = _selected(settings.exporters, channel)
    events = list(deadletter.read(file))  # the whole file first: a bad line stops the replay before it starts
    if not events:
        print(f"{printable(str(file))} holds no events: nothing to replay")
        return
    now = SYSTEM_CLOCK.wall()
    built: list[tuple[Channel, ChannelContext]] = []
    for index, channel_settings in chosen:
        name = channel_name(channel_settings)
        ctx = ChannelContext(
            name=name,
            clock=SYSTEM_CLOCK,
            logger=StdlibLogger("sharedconfig.events.replay").bind(channel=name),
            metrics=noop(MetricsRecorder),
            dead_letter=deadletter.DeadLetterFile(replay_path(file, name, now)),
            batch_size=settings.batch_size,
        )
        built.append((build_channel(channel_settings, ctx, path=f"monitoring.events.exporters.{index}"), ctx))

    async def run() -> list[_Outcome]:
        return [await _deliver(c, ctx, events) for c, ctx in built]

    print(f"replaying {plural(len(events), 'event')} from {printable(str(file))}")
    failed = False
    for (_, ctx), outcome in zip(built, asyncio.run(run()), strict=True):
        line = f"{outcome.name}: {outcome.delivered} delivered, {outcome.failed} failed again"
        if outcome.failed:
            failed = True
            letters = ctx.dead_letter
            line += f" (dead letters: {printable(str(letters.path))})" if letters.written else ""
            if letters.lost:
                line += f"; {plural(letters.lost, 'event')} could not be written there"
        print(line)
    raise typer.Exit(1 if failed else 0)
