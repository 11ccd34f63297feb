"""Fuzz the HTTP API from its own OpenAPI document with schemathesis: no 500, only documented statuses.

Every operation of ``create_app``'s ``/openapi.json`` gets generated requests, valid and invalid, with and
without the API token, against four apps (token and config; token, no config; no token configured),
in process (ASGI, no network). All of schemathesis' checks run: status codes, content types and bodies
as documented, invalid input rejected, auth not ignored. A 5xx counts as a failure except the 503 the
health routes document. ``SHAREDCONFIG_FUZZ_EXAMPLES`` (default 20 per operation) raises the count for
a longer run, e.g. ``SHAREDCONFIG_FUZZ_EXAMPLES=2000 pytest tests/server/test_api_fuzz.py``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from conftest import ASGIClient
from sharedconfig.config.loader import load
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.names import HTTP_SERVER_REQUESTS
from sharedconfig.monitoring.settings import MetricsSettings, MonitoringSettings
from sharedconfig.server.app import create_app
from sharedconfig.server.auth import TOKEN_ENV

EXAMPLES = int(os.environ.get("SHAREDCONFIG_FUZZ_EXAMPLES", "20"))
"""Generated requests per operation and app; raise it for a longer run."""
TOKEN = "fuzz-token-7c1e"


@dataclass(frozen=True)
class Variant:
    """One app to fuzz and the headers every request to it carries."""

    token_configured: bool
    config_loaded: bool
    send_token: bool

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"} if self.send_token else {}


VARIANTS = {
    "token-sent": Variant(token_configured=True, config_loaded=True, send_token=True),
    "token-not-sent": Variant(token_configured=True, config_loaded=True, send_token=False),
    "token-sent-no-config": Variant(token_configured=True, config_loaded=False, send_token=True),
    "no-token-configured": Variant(token_configured=False, config_loaded=True, send_token=False),
}

# The health routes answer 503 by design (unhealthy, or ready before its first check): documented, so
# not a server error there. Anywhere else any 5xx fails, and status_code_conformance fails any status
# an operation does not document.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": EXAMPLES},
        "operations": [
            {
                "include-tag": "health",
                "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
            }
        ],
    }
)


@pytest.fixture(autouse=True)
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API token from the outer environment."""
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture(autouse=True)
def stop_asgi_portal() -> Iterator[None]:
    """Stop the event-loop thread schemathesis shares between ASGI calls, so no test leaves it running.

    schemathesis keeps it until interpreter exit; ``_shutdown`` is what its atexit hook calls (private:
    should it go, this fixture fails loudly and the thread-leak guard says why).
    """
    yield
    asgi._shutdown()


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    """Which app and headers: every combination of token configured, config loaded and token sent."""
    return VARIANTS[request.param]


def make_app(variant: Variant, monitoring: Monitoring, tmp_path: Path) -> FastAPI:
    """The app ``variant`` names."""
    config = None
    if variant.config_loaded:
        path = tmp_path / "app.yaml"
        path.write_text("monitoring:\n  sample_rate: 0.5\n")
        config = load([path], env_file=None, environ={})
    return create_app(monitoring, config, api_token=TOKEN if variant.token_configured else None)


@dataclass(frozen=True)
class Served:
    """The app under test and the Monitoring it serves (which counts the requests it got)."""

    app: FastAPI
    monitoring: Monitoring

    def requests(self) -> float:
        """Requests this app has answered so far."""
        return sum(
            sample.value
            for family in self.monitoring.metrics.collect()
            for sample in family.samples
            if sample.name == HTTP_SERVER_REQUESTS
        )


@pytest.fixture
def served(variant: Variant, tmp_path: Path) -> Iterator[Served]:
    """The app under test, serving a fresh Monitoring."""
    # every path measured (probes and /metrics are excluded by default): requests() shows each one arrived
    settings = MonitoringSettings(metrics=MetricsSettings(exclude_paths=()))
    monitoring = Monitoring(settings, stream=io.StringIO())
    yield Served(make_app(variant, monitoring, tmp_path), monitoring)
    monitoring.stop()


def _document_app() -> FastAPI:
    return create_app(Monitoring(MonitoringSettings(), stream=io.StringIO()), api_token=TOKEN)


def _document() -> dict[str, Any]:
    return _document_app().openapi()


# Every variant serves the same document (test_every_app_serves_the_same_document), so one is loaded,
# from a dict at import: schemathesis' pytest integration needs the schema then (its fixture-based loader
# does not run under pytest 9). Its ``app`` makes schemathesis use its ASGI transport, for the requests
# its checks send too (auth probes); each test passes its own app, which wins.
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)
schema.app = _document_app()


@schema.parametrize()
# the app is read-only for these requests (only its request metrics grow), so one per test is enough
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_honours_its_openapi_document(case: schemathesis.Case, variant: Variant, served: Served) -> None:
    """Generated requests get only documented statuses, bodies and content types, and never a 500."""
    before = served.requests()
    response = case.call_and_validate(app=served.app, headers=variant.headers)
    assert response.status_code != 500, response.text
    assert served.requests() > before  # the request reached this variant's app, not the document's


def test_every_app_serves_the_same_document(tmp_path: Path) -> None:
    """Token or not, config or not, /openapi.json is the same: fuzzing one document covers every app."""
    monitoring = Monitoring(MonitoringSettings(), stream=io.StringIO())
    documents = {
        name: ASGIClient(make_app(v, monitoring, tmp_path)).get("/openapi.json").json()
        for name, v in VARIANTS.items()
    }
    assert all(doc == _document() for doc in documents.values())
    assert {"/metrics", "/health", "/health/live", "/health/ready", "/api/v1/config"} <= set(
        _document()["paths"]
    )
