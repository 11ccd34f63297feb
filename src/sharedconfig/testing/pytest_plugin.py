"""The sharedconfig pytest plugin (entry point ``pytest11``): fresh, isolated monitoring per test.

Installed with the package; a test asks for ``monitoring`` and gets a ``Monitoring`` on a ``FakeClock``
with its logs in ``log_stream``, made process-wide for the test and reset afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

# nothing from sharedconfig is imported at module level: pytest loads plugins before coverage starts
if TYPE_CHECKING:
    from sharedconfig.monitoring.hub import Monitoring
    from sharedconfig.testing.clock import FakeClock

__all__ = ["fake_clock", "log_stream", "monitoring"]


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    from sharedconfig.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def log_stream() -> io.StringIO:
    """Where the ``monitoring`` fixture's logger writes its JSON lines."""
    return io.StringIO()


@pytest.fixture
def monitoring(fake_clock: FakeClock, log_stream: io.StringIO) -> Iterator[Monitoring]:
    """A fresh ``Monitoring`` with no exporters, process-wide (``monitoring.get()``) for the test.

    It is not started: drive health checks with ``asyncio.run(monitoring.health.run_due())`` and time
    with ``fake_clock.advance()``; call ``monitoring.start()`` when a test needs the runtime.
    """
    from sharedconfig.monitoring.hub import Monitoring, configure, reset
    from sharedconfig.monitoring.settings import LoggingSettings, MonitoringSettings

    settings = MonitoringSettings(logging=LoggingSettings(format="json", level="debug", capture_stdlib=False))
    instance = Monitoring(settings, clock=fake_clock, stream=log_stream)
    configure(instance, start=False)
    try:
        yield instance
    finally:
        instance.stop()
        reset()
