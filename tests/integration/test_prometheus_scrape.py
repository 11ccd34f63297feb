"""A real Prometheus scrapes our /metrics and answers a query for a counter we incremented."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from conftest import PrometheusServer
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MetricsSettings, MonitoringSettings
from sharedconfig.server.background import serve_in_background


@pytest.mark.integration
def test_prometheus_scrapes_our_counter(prometheus: Callable[..., PrometheusServer]) -> None:
    """Prometheus scraping serve_in_background's /metrics sees sharedconfig_scrape_test_total == 3."""
    # /metrics measured too (excluded by default), so the scrapes show up in the request counter
    settings = MonitoringSettings(metrics=MetricsSettings(exclude_paths=()))
    monitoring = Monitoring(settings, stream=io.StringIO())
    counter = monitoring.metrics.counter("sharedconfig_scrape_test_total", "Scrape test.", ("case",))
    counter.labels("scrape").inc(3)
    with serve_in_background(monitoring, port=0) as server:
        prom = prometheus(scrape=[f"127.0.0.1:{server.port}"])
        found = prom.wait_for('sharedconfig_scrape_test_total{case="scrape"}')
        assert float(found[0]["value"][1]) == 3.0
        assert found[0]["metric"]["job"] == "sharedconfig"
        requests = prom.wait_for('http_server_requests_total{route="/metrics"}')
        assert requests[0]["metric"]["status_class"] == "2xx"
        assert requests[0]["metric"]["status_code"] == "200"
    monitoring.stop()
