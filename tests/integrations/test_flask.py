"""Tests of ``init_app``: a Flask app's Monitoring is started and kept in ``app.extensions``."""

from __future__ import annotations

import io

from flask import Flask

from sharedconfig.integrations.flask import EXTENSION, init_app
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.testing import FakeClock


class TestInitApp:
    def test_starts_the_configured_monitoring_by_default(self, monitoring: Monitoring) -> None:
        """Without an instance, init_app starts the process-wide one and keeps it in app.extensions."""
        app = Flask(__name__)
        assert init_app(app) is monitoring
        assert monitoring.started
        assert app.extensions[EXTENSION] is monitoring

    def test_starts_the_instance_given(self) -> None:
        """An instance given is the one started and kept; calling init_app twice is harmless."""
        mon = Monitoring(MonitoringSettings(), clock=FakeClock(), stream=io.StringIO())
        app = Flask(__name__)
        try:
            init_app(app, mon)
            init_app(app, mon)
            assert mon.started
            assert app.extensions[EXTENSION] is mon
        finally:
            mon.stop()
