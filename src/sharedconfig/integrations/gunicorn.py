"""gunicorn server hooks that run the process-wide Monitoring in each worker and stop it as the worker exits.

In ``gunicorn.conf.py``: ``from sharedconfig.integrations.gunicorn import post_worker_init, worker_exit``.
gunicorn is not imported: it calls these.
"""

from __future__ import annotations

import os
from typing import Protocol

from sharedconfig.monitoring.hub import get

__all__ = ["post_worker_init", "worker_exit"]


class Worker(Protocol):
    """What the hooks read of a gunicorn worker."""

    pid: int


def post_worker_init(worker: Worker) -> None:
    """Start the configured Monitoring (``sharedconfig.monitoring.configure``) in a worker that has the app.

    gunicorn calls it in each worker after the app module was imported there, so it finds the instance
    the app configured, with ``--preload`` (configured in the arbiter, inherited by the fork) or without.
    Starting an already started instance does nothing.
    """
    get().start()


def worker_exit(server: object, worker: Worker) -> None:
    """Stop the configured Monitoring as the worker exits: parts flush, exporters push a last time.

    gunicorn calls it in the worker after its loop ended, whatever ended it: SIGTERM (graceful, from the
    arbiter's own SIGTERM), SIGINT/SIGQUIT (after ``worker_int``), SIGABRT on a timeout, or ``max_requests``.
    The stop is bounded by ``monitoring.shutdown_timeout``: keep it below gunicorn's ``graceful_timeout``.
    gunicorn also calls this hook in the arbiter for a worker that was already gone; there it does nothing.
    """
    if worker.pid == os.getpid():
        get().stop()
