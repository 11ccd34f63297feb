"""Tests of the gunicorn hooks: they start the configured Monitoring in a worker and stop it as it exits."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sharedconfig.integrations.gunicorn import post_worker_init, worker_exit
from sharedconfig.monitoring.hub import Monitoring


@dataclass
class Worker:
    """The part of a gunicorn worker the hooks read."""

    pid: int


class TestHooks:
    def test_post_worker_init_starts_the_configured_monitoring(self, monitoring: Monitoring) -> None:
        """In a worker, post_worker_init starts the instance the app configured process-wide."""
        post_worker_init(Worker(os.getpid()))
        assert monitoring.started

    def test_worker_exit_stops_it_in_the_worker(self, monitoring: Monitoring) -> None:
        """Called in the exiting worker itself, worker_exit stops the configured instance."""
        monitoring.start()
        worker_exit(object(), Worker(os.getpid()))
        assert not monitoring.started

    def test_worker_exit_in_the_arbiter_leaves_its_monitoring_alone(self, monitoring: Monitoring) -> None:
        """gunicorn calls worker_exit in the arbiter for a worker already gone: nothing stops there."""
        monitoring.start()
        worker_exit(object(), Worker(os.getpid() + 1))
        assert monitoring.started
