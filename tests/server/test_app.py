"""Tests of ``create_app``: /metrics, the health endpoints, the config API, auth, errors and OpenAPI."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from conftest import ASGIClient as Client
from sharedconfig.config.loader import load
from sharedconfig.config.snapshot import Config
from sharedconfig.interfaces import CheckResult, HealthStatus
from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.health.wire import wire_fields
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MetricsSettings, MonitoringSettings
from sharedconfig.server.app import CheckBody, HealthBody, create_app
from sharedconfig.server.auth import TOKEN_ENV
from sharedconfig.testing import FakeClock

CANARY_TOKEN = "canary-token-4e2b"
CANARY_SLACK = "https://hooks.slack.com/services/canary-slack-9d1f"
CONFIG_YAML = """\
monitoring:
  sample_rate: 0.5
  server:
    api_token: "${CANARY_TOKEN}"
  alerts:
    notifications:
      - type: slack
        webhook_url: "${CANARY_SLACK}"
"""
Promtool = Callable[[bytes], subprocess.CompletedProcess[bytes]]


def sample(monitoring: Monitoring, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels``, or None."""
    return monitoring.metrics.sample_value(name, labels)


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API token from the outer environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """A loaded configuration holding two canary secrets (the API token and a Slack webhook URL)."""
    path = tmp_path / "app.yaml"
    path.write_text(CONFIG_YAML)
    return load([path], env_file=None, environ={"CANARY_TOKEN": CANARY_TOKEN, "CANARY_SLACK": CANARY_SLACK})


@pytest.fixture
def monitoring() -> Iterator[Monitoring]:
    """A fresh Monitoring with default settings, logging into a buffer."""
    m = Monitoring(MonitoringSettings(), stream=io.StringIO())
    yield m
    m.stop()


@pytest.fixture
def configured(config: Config) -> Iterator[Monitoring]:
    """A Monitoring built from the canary configuration (its token comes from the config)."""
    m = Monitoring.from_config(config, stream=io.StringIO())
    yield m
    m.stop()


@pytest.fixture
def client(monitoring: Monitoring) -> Iterator[Client]:
    """A test client of the app serving ``monitoring``."""
    with Client(create_app(monitoring)) as c:
        yield c


class TestMetrics:
    def test_text_format_passes_promtool(
        self, monitoring: Monitoring, client: Client, promtool: Promtool
    ) -> None:
        """/metrics serves Prometheus text 0.0.4 that promtool accepts, including the request metrics."""
        monitoring.metrics.counter("app_orders_total", "Orders taken.", ("kind",)).labels("web").inc()
        client.get("/api/v1/config")  # 401: no token
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "app_orders_total" in response.text
        labels = 'method="GET",route="/api/v1/config",status_class="4xx",status_code="401"'
        line = f"http_server_requests_total{{{labels}}}"
        assert line in response.text
        checked = promtool(response.content)
        assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()

    def test_openmetrics_negotiation(
        self, monitoring: Monitoring, client: Client, promtool: Promtool
    ) -> None:
        """Accept: application/openmetrics-text gets OpenMetrics, ending in # EOF."""
        monitoring.metrics.counter("app_orders_total", "Orders taken.").inc()
        response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.endswith("# EOF\n")
        assert "Accept" in response.headers["vary"]

    def test_large_bodies_are_gzipped_on_request(self, monitoring: Monitoring, client: Client) -> None:
        """With Accept-Encoding: gzip a large exposition is compressed (and decodes to the same text)."""
        counter = monitoring.metrics.counter("app_items_total", "Items.", ("item",))
        for i in range(100):
            counter.labels(f"item-{i}").inc()
        response = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert 'app_items_total{item="item-99"} 1' in response.text

    def test_head_is_answered_like_get_without_a_body(self, client: Client) -> None:
        """HEAD /metrics is 200 with GET's content type and no body (it was 405)."""
        head = client.request("HEAD", "/metrics")
        assert head.status_code == 200
        assert head.headers["content-type"] == client.get("/metrics").headers["content-type"]
        assert head.content == b""

    def test_requests_are_labelled_by_route(self, monitoring: Monitoring, client: Client) -> None:
        """The app's own middleware counts its requests under the route template, probes and /metrics not."""
        client.get("/api/v1/config")
        client.get("/health")
        client.get("/health/live")
        client.get("/metrics")
        client.get("/api/v1/config")
        labels = {"method": "GET", "route": "/api/v1/config", "status_class": "4xx", "status_code": "401"}
        assert sample(monitoring, "http_server_requests_total", **labels) == 2
        routes = {
            dict(s.labels)["route"]
            for f in monitoring.metrics.collect()
            for s in f.samples
            if s.name == "http_server_requests_total"
        }
        assert routes == {"/api/v1/config"}


class TestHealth:
    def test_healthy_with_checks_and_details(self, configured: Monitoring) -> None:
        """After one run /health is 200 with the aggregate and each check's state and details."""
        asyncio.run(configured.health.run_all())
        with Client(create_app(configured)) as client:
            response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] in ("healthy", "degraded")
        assert body["scope"] == "all"
        assert body["checks"]["config_loader"]["state"] == "healthy"
        assert body["checks"]["config_loader"]["critical"] is True
        assert "rss_bytes" in body["checks"]["process"]["details"]
        assert response.headers["cache-control"] == "no-store"
        HealthBody.model_validate(body)  # the documented schema matches what is served

    def test_failing_critical_check_gives_503(self, monitoring: Monitoring) -> None:
        """A critical check that fails makes /health and /health/ready 503; /health/live stays 200."""
        monitoring.health.register(
            HealthCheck("database", lambda: False, critical=True, description="the orders database")
        )
        asyncio.run(monitoring.health.run_all())
        with Client(create_app(monitoring)) as client:
            whole = client.get("/health")
            ready, live = client.get("/health/ready"), client.get("/health/live")
        assert whole.status_code == 503
        assert whole.json()["status"] == "unhealthy"
        assert whole.json()["checks"]["database"]["state"] == "unhealthy"
        assert ready.status_code == 503
        assert live.status_code == 200

    def test_scopes_select_checks(self, monitoring: Monitoring) -> None:
        """live shows the process check only; ready shows the critical checks only."""
        monitoring.health.register(HealthCheck("cache", lambda: True))
        monitoring.health.register(HealthCheck("database", lambda: True, critical=True))
        asyncio.run(monitoring.health.run_all())
        with Client(create_app(monitoring)) as client:
            live = client.get("/health/live").json()
            ready = client.get("/health/ready").json()
        assert live["scope"] == "live" and set(live["checks"]) == {"process"}
        assert ready["scope"] == "ready"
        assert "database" in ready["checks"] and "cache" not in ready["checks"]
        assert all(check["critical"] for check in ready["checks"].values())

    def test_body_schemas_are_derived_from_the_health_values(self, monitoring: Monitoring) -> None:
        """CheckBody's fields are the keys a served check has: its name, the result's fields, the entry's."""
        asyncio.run(monitoring.health.run_all())
        with Client(create_app(monitoring)) as client:
            body = client.get("/health").json()
        keys = [w.key for w in wire_fields(HealthStatus)]
        assert list(CheckBody.model_fields) == keys
        assert [f.name for f in fields(CheckResult)] == keys[1:6]  # name, then the result, then the entry
        assert all(list(check) == keys for check in body["checks"].values())
        assert list(HealthBody.model_fields) == list(body)  # http_status is the response's code, not a key
        HealthBody.model_validate(body)


class TestConfigAPI:
    def test_missing_token_is_401_with_challenge(self, configured: Monitoring) -> None:
        """No Authorization header: 401, WWW-Authenticate: Bearer and a JSON error with a code."""
        with Client(create_app(configured)) as client:
            response = client.get("/api/v1/config")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == "unauthorized"

    def test_wrong_token_is_401(self, configured: Monitoring) -> None:
        """A wrong bearer token: 401 with error="invalid_token"."""
        with Client(create_app(configured)) as client:
            response = client.get("/api/v1/config", headers={"Authorization": "Bearer not-it"})
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    def test_right_token_shows_redacted_config_with_provenance(
        self, configured: Monitoring, tmp_path: Path
    ) -> None:
        """The token from the config gets 200: effective values, origins, and no canary secret anywhere."""
        with Client(create_app(configured)) as client:
            response = client.get("/api/v1/config", headers={"Authorization": f"Bearer {CANARY_TOKEN}"})
        assert response.status_code == 200
        assert CANARY_TOKEN not in response.text
        assert "canary-slack-9d1f" not in response.text
        body = response.json()
        assert body["config"]["monitoring"]["sample_rate"] == 0.5
        assert body["config"]["monitoring"]["server"]["api_token"] == "**********"
        rows = {row["path"]: row for row in body["provenance"]}
        assert rows["monitoring.sample_rate"]["origin"] == f"{tmp_path / 'app.yaml'}:2:3"
        assert rows["monitoring.sample_rate"]["source"] == "file"
        assert rows["monitoring.metrics.enabled"]["origin"] == "default"

    def test_environment_token_wins(self, configured: Monitoring, monkeypatch: pytest.MonkeyPatch) -> None:
        """$SHAREDCONFIG_API_TOKEN replaces the configured token."""
        monkeypatch.setenv(TOKEN_ENV, "from-env-token")
        with Client(create_app(configured)) as client:
            from_env = client.get("/api/v1/config", headers={"Authorization": "Bearer from-env-token"})
            from_config = client.get("/api/v1/config", headers={"Authorization": f"Bearer {CANARY_TOKEN}"})
        assert from_env.status_code == 200
        assert from_config.status_code == 401

    def test_token_passed_in_code_wins_over_the_environment(
        self, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """create_app(api_token=...) is used even when $SHAREDCONFIG_API_TOKEN is set."""
        monkeypatch.setenv(TOKEN_ENV, "from-env-token")
        with Client(create_app(monitoring, api_token="in-code")) as client:
            in_code = client.get("/api/v1/config", headers={"Authorization": "Bearer in-code"})
            from_env = client.get("/api/v1/config", headers={"Authorization": "Bearer from-env-token"})
        assert in_code.status_code == 404  # authorised; this monitoring has no config
        assert from_env.status_code == 401

    def test_no_token_configured_explains_how_to_set_one(self, client: Client) -> None:
        """Without any token the API is 401 and the body says how to configure one."""
        response = client.get("/api/v1/config", headers={"Authorization": "Bearer guess"})
        assert response.status_code == 401
        error = response.json()["error"]
        assert "no API token is configured" in error["message"]
        assert TOKEN_ENV in error["hint"]

    def test_no_config_is_a_clear_404(self, monitoring: Monitoring) -> None:
        """A server without a configuration answers 404 with code config_not_loaded (after auth)."""
        with Client(create_app(monitoring, api_token="t0ken")) as client:
            response = client.get("/api/v1/config", headers={"Authorization": "Bearer t0ken"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "config_not_loaded"

    def test_explicit_config_argument_is_shown(self, monitoring: Monitoring, config: Config) -> None:
        """create_app(monitoring, config) serves that config even when monitoring has none."""
        with Client(create_app(monitoring, config, api_token="t0ken")) as client:
            response = client.get("/api/v1/config", headers={"Authorization": "Bearer t0ken"})
        assert response.status_code == 200
        assert response.json()["config"]["monitoring"]["sample_rate"] == 0.5


class TestProbeFront:
    """The health probes are answered ahead of FastAPI's stack, with what the route itself would send."""

    @pytest.fixture
    def frozen(self) -> Iterator[Monitoring]:
        """A Monitoring on a FakeClock, so two reports of the same results are the same bytes."""
        m = Monitoring(MonitoringSettings(), stream=io.StringIO(), clock=FakeClock())
        m.health.register(HealthCheck("db", lambda: CheckResult.healthy("ok", {"pool": "ré", "free": 3})))
        asyncio.run(m.health.run_all())
        yield m
        m.stop()

    @pytest.mark.parametrize(("path", "scope"), [("/health", "all"), ("/health/live", "live")])
    def test_the_body_and_headers_are_the_routes(self, frozen: Monitoring, path: str, scope: str) -> None:
        """Status, body bytes and headers equal a JSONResponse of the report with Cache-Control: no-store."""
        report = frozen.health.report(scope)  # type: ignore[arg-type]
        expected = JSONResponse(report.to_dict(), report.http_status, headers={"Cache-Control": "no-store"})
        with Client(create_app(frozen)) as client:
            response = client.get(path)
        assert response.status_code == expected.status_code
        assert response.content == expected.body
        assert dict(response.headers) == {k.decode(): v.decode() for k, v in expected.raw_headers}

    def test_head_is_answered_with_the_length_and_no_body(self, frozen: Monitoring) -> None:
        """HEAD gets GET's status and Content-Length, and no body."""
        with Client(create_app(frozen)) as client:
            get, head = client.get("/health/ready"), client.request("HEAD", "/health/ready")
        assert head.status_code == get.status_code
        assert head.headers["content-length"] == str(len(get.content))
        assert head.content == b""

    def test_probes_are_answered_before_the_apps_middleware(self) -> None:
        """Middleware added to the app runs for /metrics, not for the probes, measured when not excluded."""
        settings = MonitoringSettings(metrics=MetricsSettings(exclude_paths=()))
        monitoring = Monitoring(settings, stream=io.StringIO())
        seen: list[str] = []

        class Spy:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                seen.append(scope.get("path", ""))
                await self.app(scope, receive, send)

        app = create_app(monitoring)
        app.add_middleware(Spy)
        with Client(app) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/metrics").status_code == 200
            assert client.post("/health").status_code == 405  # not a probe: FastAPI answers
        assert seen == ["/metrics", "/health"]
        labels = {"method": "GET", "route": "/health", "status_class": "2xx", "status_code": "200"}
        assert sample(monitoring, "http_server_requests_total", **labels) == 1
        monitoring.stop()

    def test_excluded_probes_are_not_measured_by_the_front(self, monitoring: Monitoring) -> None:
        """With the default exclude_paths the probe front records nothing for /health, /live and /ready."""
        with Client(create_app(monitoring)) as client:
            for path in ("/health", "/health/live", "/health/ready"):
                assert client.get(path).status_code in (200, 503)
        names = {s.name for f in monitoring.metrics.collect() for s in f.samples}
        assert not names & {"http_server_requests_total", "http_server_request_duration_seconds_count"}
        assert monitoring.metrics.sample_value("http_server_requests_in_flight") in (None, 0.0)

    def test_an_app_with_a_root_path_is_served_by_its_routes(self, monitoring: Monitoring) -> None:
        """With a root_path the front stands aside and the routes answer, with the same body."""
        app = create_app(monitoring)
        app.root_path = "/ops"
        with Client(app) as client:
            response = client.get("/ops/health")
        assert response.status_code == 200
        assert response.json()["scope"] == "all"


class TestErrorsAndOpenAPI:
    def test_unexpected_failure_is_a_json_500(
        self, monitoring: Monitoring, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An exception in an endpoint becomes a 500 with code internal_error and no details leaked."""

        def broken(scope: str = "all") -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(monitoring.health, "report", broken)
        with Client(create_app(monitoring), raise_app_exceptions=False) as client:
            response = client.get("/health")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "secret internals" not in response.text

    def test_invalid_parameters_on_added_routes(self, monitoring: Monitoring) -> None:
        """Routes a user adds to the app get the same error body for invalid parameters (422)."""
        app = create_app(monitoring)

        @app.get("/double")
        async def double(n: int) -> int:
            return 2 * n

        with Client(app) as client:
            assert client.get("/double", params={"n": "4"}).json() == 8
            response = client.get("/double", params={"n": "four"})
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert "query.n" in error["message"]

    def test_unknown_path_and_method_are_json_errors(self, client: Client) -> None:
        """404 and 405 come back as the shared error body with their codes."""
        missing = client.get("/nope")
        wrong_method = client.post("/health")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"

    def test_openapi_lists_routes_and_bearer_scheme(self, client: Client) -> None:
        """/openapi.json documents every endpoint and the bearer security scheme of the API."""
        spec = client.get("/openapi.json").json()
        routes = {"/metrics", "/health", "/health/live", "/health/ready", "/api/v1/config"}
        assert routes <= set(spec["paths"])
        assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert spec["paths"]["/health/ready"]["get"]["responses"]["503"]["content"]
        schemas = spec["components"]["schemas"]
        assert {"HealthBody", "CheckBody", "HealthState"} <= set(schemas)
        assert schemas["HealthBody"]["properties"]["checks"]["additionalProperties"] == {
            "$ref": "#/components/schemas/CheckBody"
        }
        assert schemas["HealthState"]["enum"] == ["healthy", "degraded", "unhealthy", "unknown"]
        assert "checked_at" in schemas["CheckBody"]["required"]
        config_get = spec["paths"]["/api/v1/config"]["get"]
        assert "401" in config_get["responses"]
        assert config_get["security"] == [{"HTTPBearer": []}]


class TestMounting:
    def test_mounted_in_a_user_app(self, monitoring: Monitoring) -> None:
        """Mounted under /monitoring the endpoints answer there; routes are labelled inside the mount."""
        user_app = FastAPI()
        user_app.mount("/monitoring", create_app(monitoring))
        with Client(user_app) as client:
            assert client.get("/monitoring/health").status_code == 200
            assert client.get("/monitoring/metrics").status_code == 200
            assert client.get("/monitoring/api/v1/config").status_code == 401
        labels = {"method": "GET", "route": "/api/v1/config", "status_class": "4xx", "status_code": "401"}
        assert sample(monitoring, "http_server_requests_total", **labels) == 1
        routes = {
            dict(s.labels)["route"]
            for f in monitoring.metrics.collect()
            for s in f.samples
            if s.name == "http_server_requests_total"
        }
        assert routes == {"/api/v1/config"}  # /health and /metrics are excluded inside the mount too


class TestPackage:
    def test_lazy_exports(self) -> None:
        """sharedconfig.server exports create_app and serve_in_background lazily, and nothing else."""
        from sharedconfig import server
        from sharedconfig.server.background import serve_in_background

        assert server.create_app is create_app
        assert server.serve_in_background is serve_in_background
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            _ = server.nope
