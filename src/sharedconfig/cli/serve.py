"""``sharedconfig serve``: load configuration, start monitoring and serve /metrics, /health and the API.

Runs uvicorn until SIGINT or SIGTERM, then shuts down gracefully and stops monitoring (exit 0). The
configuration is live meanwhile: a ``ConfigWatcher`` reloads it when a file or a ``--source`` store changes.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from importlib.util import find_spec
from types import FrameType
from typing import Annotated

import typer

from sharedconfig.cli.config import (
    EnvFile,
    EnvPrefix,
    Files,
    Overrides,
    Profile,
    SecretsDir,
    StoreSources,
    load_options,
    print_issue,
)

__all__ = ["serve"]

SERVER_EXTRA_HINT = "sharedconfig serve needs FastAPI and uvicorn: pip install 'sharedconfig[server]'"


def _require_server_extra() -> None:
    missing = [name for name in ("fastapi", "uvicorn") if find_spec(name) is None]
    if missing:
        print(f"error: {SERVER_EXTRA_HINT} (missing: {', '.join(missing)})", file=sys.stderr)
        raise typer.Exit(1)


def _print_urls(url: str, listening: str, has_token: bool) -> None:
    auth = "Authorization: Bearer <token>" if has_token else "401 until SHAREDCONFIG_API_TOKEN is set"
    lines = [
        f"sharedconfig serve: listening on {listening}",
        f"  metrics   {url}/metrics",
        f"  health    {url}/health  ({url}/health/live, {url}/health/ready)",
        f"  config    {url}/api/v1/config  ({auth})",
        f"  openapi   {url}/openapi.json",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """While active, SIGINT and SIGTERM set the yielded event instead of ending the process."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(
    files: Files = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to bind; default monitoring.server.host (127.0.0.1)."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=0,
            max=65535,
            help="TCP port; default monitoring.server.port (9464).",
        ),
    ] = None,
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    overrides: Overrides = None,
    secrets_dir: SecretsDir = None,
    env_file: EnvFile = None,
    stores: StoreSources = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = False,
) -> None:
    """Serve /metrics, /health and /api/v1/config for a configuration until SIGINT or SIGTERM.

    The configuration is reloaded when a file (or a --source store) changes; an invalid change is
    rejected and the last good configuration stays. Binding to an address other than loopback needs an
    API token (SHAREDCONFIG_API_TOKEN).
    """
    _require_server_extra()
    from sharedconfig.config.loader import load
    from sharedconfig.config.watcher import ConfigWatcher
    from sharedconfig.monitoring.hub import Monitoring
    from sharedconfig.monitoring.settings import MonitoringSettings
    from sharedconfig.server.app import create_app
    from sharedconfig.server.auth import check_bind, configured_token
    from sharedconfig.server.background import BackgroundServer

    # Monitoring.from_config tells its hooks about this load, with the load's own durations
    paths = [str(f) for f in files or ()]
    options = load_options(
        profile, env_prefix, env_file, overrides=overrides, secrets_dir=secrets_dir, stores=stores
    )
    config = load(paths, **options)
    for issue in config.report.warnings:
        print_issue(issue, sys.stderr)
    server_settings = config.module("monitoring", MonitoringSettings).server
    host = host if host is not None else server_settings.host
    port = port if port is not None else server_settings.port
    token = configured_token(server_settings.api_token)
    check_bind(host, token)

    monitoring = Monitoring.from_config(config)
    # hot reload: the files' directories and the --source stores are watched on Monitoring's runtime; each
    # valid snapshot is followed (monitoring settings applied live, /api/v1/config, one config_changed),
    # an invalid one is rejected through the config hooks (config_loader degraded, the last good in force)
    watcher = ConfigWatcher(
        paths,
        options=options,
        current=config,
        hooks=monitoring.config_hooks,
        clock=monitoring.clock,
        scheduler=monitoring.runtime,
    )
    unfollow = monitoring.follow(watcher)  # the first subscriber starts the watcher with the runtime
    # serve starts Monitoring before the server and stops it after, so uvicorn's last log lines still go
    # through the structured logger: the app's lifespan is left out of it
    # /api/v1/config shows monitoring.config: the snapshot in force, which follow() keeps current
    app = create_app(monitoring, api_token=token, manage_monitoring=False)
    try:
        # the connection limits come from monitoring.settings.server, the same section as host and port
        server = BackgroundServer(app, host, port, access_log=access_log, monitoring=monitoring)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        print("    hint: choose another --port, or stop the process that uses it", file=sys.stderr)
        raise typer.Exit(1) from None
    # handlers first: a signal during startup must stop us gracefully too
    with _stop_signals() as stop:
        monitoring.start()
        try:
            try:
                server.start()
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                raise typer.Exit(1) from None
            _print_urls(server.url, f"{host}:{server.port}", token is not None)
            while server.running and not stop.wait(0.2):
                pass
        finally:
            server.stop()
            unfollow()  # the last subscriber out stops the watcher: no reload while monitoring stops
            monitoring.stop()
        signalled = stop.is_set()
    if not signalled:
        print("error: the server stopped unexpectedly; see the log above", file=sys.stderr)
        raise typer.Exit(1)
