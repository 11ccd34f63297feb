"""``init_app(app, monitoring)``: run Monitoring for a Flask app, from the first import to the process's exit.

WSGI has no shutdown hook: the stop is the one ``Monitoring.start`` registers with ``atexit``, which runs
when a gunicorn worker exits; under gunicorn add the hooks of ``sharedconfig.integrations.gunicorn`` too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig.monitoring.hub import Monitoring, get

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["EXTENSION", "init_app"]

EXTENSION = "sharedconfig"
"""The key of the app's Monitoring in ``app.extensions``."""


def init_app(app: Flask, monitoring: Monitoring | None = None) -> Monitoring:
    """Start ``monitoring`` (default: the configured one, ``sharedconfig.monitoring.get()``) for ``app``.

    It is kept in ``app.extensions["sharedconfig"]``. The stop (flushes, the exporters' last push) runs
    at interpreter exit: when a gunicorn worker exits on SIGTERM or SIGINT, and when ``flask run`` ends
    on Ctrl+C; a process killed by a signal that Python does not handle (SIGTERM to ``flask run``) never
    runs it. Request metrics are ``monitoring.middleware.WSGIMetricsMiddleware``'s job.
    """
    monitoring = monitoring if monitoring is not None else get()
    app.extensions[EXTENSION] = monitoring
    return monitoring.start()
