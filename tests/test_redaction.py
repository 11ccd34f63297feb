"""Tests for the one redaction rule: secret-looking keys, and the password of any URL in any output."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo

CANARY = "pw-canary-Q7x"
URL = f"redis://app:{CANARY}@cache:6379/0"


class TestMaskUserinfo:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (URL, f"redis://app:{REDACTED}@cache:6379/0"),
            (f"connect to {URL} failed", f"connect to redis://app:{REDACTED}@cache:6379/0 failed"),
            ("http://u:p%40ss%2Fw@h/x", f"http://u:{REDACTED}@h/x"),
            ("postgresql://:only-pw@db", f"postgresql://:{REDACTED}@db"),
            ("https://token@github.com/x", "https://token@github.com/x"),  # no password part
            ("mail me at a@b.c", "mail me at a@b.c"),
            ("http://host:8080/path?q=a@b", "http://host:8080/path?q=a@b"),
        ],
    )
    def test_the_password_of_every_url_is_masked(self, text: str, expected: str) -> None:
        """scheme://user:password@ loses its password, wherever it stands; other '@'s are left alone."""
        assert mask_userinfo(text) == expected

    def test_two_urls_in_one_text(self) -> None:
        """Every URL of a text is masked."""
        text = f"{URL} and amqp://x:{CANARY}2@mq"
        assert CANARY not in mask_userinfo(text)

    def test_secret_keys(self) -> None:
        """The key rule is unchanged."""
        assert looks_secret("db_password") and not looks_secret("password_file")


@pytest.fixture
def url_config(tmp_path: Path) -> Path:
    """A config whose plain-string exporter endpoint carries a password."""
    path = tmp_path / "app.yaml"
    path.write_text(
        "monitoring:\n  metrics:\n    exporters:\n"
        f"      - {{type: prometheus, endpoint: 'http://writer:{CANARY}@prom:9090', push_interval: 15s}}\n"
    )
    return path


class TestEveryOutput:
    def test_show_explain_diff_and_json(
        self, url_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show (yaml, json, --explain) and diff never print the URL's password."""
        from sharedconfig.cli.main import main

        other = tmp_path / "other.yaml"
        other.write_text(url_config.read_text().replace("prom:9090", "prom2:9090"))
        outputs = []
        for args in (
            ["show", str(url_config)],
            ["show", str(url_config), "--format", "json"],
            ["show", "--explain", str(url_config)],
            ["diff", str(url_config), str(other)],
        ):
            main(args)
            out, err = capsys.readouterr()
            outputs.append(out + err)
        joined = "\n".join(outputs)
        assert CANARY not in joined
        assert f"writer:{REDACTED}@prom" in joined

    def test_repr_of_settings_and_the_config_api(self, url_config: Path) -> None:
        """repr() of the settings and /api/v1/config mask the password."""
        from conftest import ASGIClient
        from sharedconfig import load
        from sharedconfig.monitoring import Monitoring
        from sharedconfig.monitoring.settings import MonitoringSettings
        from sharedconfig.server.app import create_app

        config = load([url_config], env_file=None, environ={})
        settings = config.module("monitoring", MonitoringSettings)
        assert CANARY not in repr(settings) and CANARY not in repr(settings.metrics.exporters[0])
        mon = Monitoring(settings, config=config, stream=io.StringIO())
        with ASGIClient(create_app(mon, api_token="t0k")) as client:
            response = client.get("/api/v1/config", headers={"Authorization": "Bearer t0k"})
        assert response.status_code == 200
        assert CANARY not in response.text

    def test_logs_of_both_loggers(self, caplog: pytest.LogCaptureFixture) -> None:
        """Structured and stdlib loggers mask URL passwords in messages and fields."""
        from sharedconfig.monitoring.logging import make_logger
        from sharedconfig.monitoring.settings import LoggingSettings
        from sharedconfig.stdlog import StdlibLogger

        stream = io.StringIO()
        logger = make_logger(LoggingSettings(format="json"), stream=stream)
        logger.warning(f"cannot reach {URL}", endpoint=URL, nested={"dsn": URL, "urls": [URL]})
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert CANARY not in json.dumps(line)
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            StdlibLogger("test.redaction").info(f"cannot reach {URL}", endpoint=URL)
        assert CANARY not in caplog.text and f"app:{REDACTED}@cache" in caplog.text


def test_values_interpolated_from_secret_looking_variables_are_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """${DB_PASSWORD} under a plain key is redacted in show whether env or .env supplied it."""
    from sharedconfig import load

    path = tmp_path / "app.yaml"
    path.write_text(
        "storage:\n  endpoint: minio:9000\n  bucket: 'b-${DB_PASSWORD}'\n  region: '${API_TOKEN}'\n"
    )
    env_file = tmp_path / ".env"
    env_file.write_text("API_TOKEN=tok-canary-E2\n")
    config = load([path], environ={"DB_PASSWORD": "pw-canary-E1"}, env_file=env_file)
    shown = json.dumps(config.to_dict())
    assert "canary" not in shown
    assert config.get("storage.bucket") == "b-pw-canary-E1"  # the real value is still there


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/health", "/health"),
        ("/api?token=abc", f"/api?token={REDACTED}"),
        ("/x?a=1&b=&c", f"/x?a={REDACTED}&b={REDACTED}&c"),
        ("/x?q=a%26b#frag", f"/x?q={REDACTED}#frag"),
    ],
)
def test_query_values_are_redacted_names_kept(target: str, expected: str) -> None:
    """Every query value of a request target is replaced; paths and names stay."""
    from sharedconfig.redaction import redact_query

    assert redact_query(target) == expected


class TestScrub:
    def test_both_rules_at_any_depth_containers_kept(self) -> None:
        """Secret-looking keys hidden and URL passwords masked inside maps, lists and tuples."""
        from sharedconfig.redaction import scrub

        value = {"a": [{"password": "x"}, (URL, 3)], "b": {"api_key": {"deep": 1}}, "n": None}
        assert scrub(value) == {
            "a": [{"password": REDACTED}, (f"redis://app:{REDACTED}@cache:6379/0", 3)],
            "b": {"api_key": REDACTED},
            "n": None,
        }
        assert scrub("plain", "session_token") == REDACTED

    def test_a_cycle_ends_at_the_depth_bound(self) -> None:
        """A container inside itself is cut off (shown as redacted) instead of recursing for ever."""
        from sharedconfig.redaction import scrub

        loop: list[object] = []
        loop.append(loop)
        depth, node = 0, scrub(loop)
        while isinstance(node, list):
            depth, node = depth + 1, node[0]
        assert node == REDACTED and depth == 32


def test_hide_replaces_each_secret_value_strings_and_secretstr_alike() -> None:
    from pydantic import SecretStr

    from sharedconfig.redaction import hide

    text = "user bob pw hunter2 token t0k, again hunter2"
    assert hide(text, ["hunter2", SecretStr("t0k"), "", SecretStr("")]) == (
        "user bob pw ********** token **********, again **********"
    )
