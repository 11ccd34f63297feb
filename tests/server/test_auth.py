"""Tests of the API token rules: where the token comes from, bearer checks and the safe-bind rule."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from sharedconfig.errors import SecurityError
from sharedconfig.server.auth import (
    TOKEN_ENV,
    check_bearer,
    check_bind,
    configured_token,
    is_loopback,
)

TOKEN = SecretStr("s3cret-token")


class TestConfiguredToken:
    def test_environment_wins_over_setting(self) -> None:
        """$SHAREDCONFIG_API_TOKEN is used even when the setting has a token."""
        token = configured_token(SecretStr("from-config"), {TOKEN_ENV: "from-env"})
        assert token is not None and token.get_secret_value() == "from-env"

    def test_setting_is_used_without_environment(self) -> None:
        """Without the variable the setting's token is used."""
        token = configured_token(SecretStr("from-config"), {})
        assert token is not None and token.get_secret_value() == "from-config"

    @pytest.mark.parametrize("setting", [None, "", SecretStr("")])
    def test_empty_means_none(self, setting: SecretStr | str | None) -> None:
        """No token, an empty string and an empty variable all mean no token."""
        assert configured_token(setting, {TOKEN_ENV: ""}) is None

    @pytest.mark.parametrize("blank", [" ", "\t", "\n", "  \r\n "])
    def test_whitespace_only_means_none(self, blank: str) -> None:
        """A whitespace-only setting, variable or explicit token is no token: no public bind with it."""
        assert configured_token(blank, {TOKEN_ENV: blank}) is None
        assert configured_token(SecretStr(blank), {}) is None
        assert configured_token(blank, {}, explicit=True) is None
        with pytest.raises(SecurityError) as caught:
            check_bind("0.0.0.0", configured_token(blank, {TOKEN_ENV: blank}))
        assert caught.value.code == "SECURITY_002"

    def test_surrounding_whitespace_is_not_part_of_the_token(self) -> None:
        """A token read from a file with its newline compares as the token itself."""
        token = configured_token(SecretStr("s3cret-token\n"), {})
        assert token is not None and token.get_secret_value() == "s3cret-token"
        env = configured_token(None, {TOKEN_ENV: "  from-env  "})
        assert env is not None and env.get_secret_value() == "from-env"

    def test_plain_string_is_accepted(self) -> None:
        """A plain string (create_app's api_token argument) becomes a SecretStr."""
        token = configured_token("plain", {})
        assert isinstance(token, SecretStr) and token.get_secret_value() == "plain"


class TestCheckBearer:
    def test_right_token_passes(self) -> None:
        """The configured token in a Bearer header is accepted (scheme case-insensitive)."""
        assert check_bearer("Bearer s3cret-token", TOKEN) is None
        assert check_bearer("bearer s3cret-token", TOKEN) is None

    def test_missing_header(self) -> None:
        """No header is refused with a plain Bearer challenge and a hint naming the variable."""
        refusal = check_bearer(None, TOKEN)
        assert refusal is not None
        assert refusal.www_authenticate == 'Bearer realm="sharedconfig"'
        assert TOKEN_ENV in refusal.hint

    def test_wrong_token(self) -> None:
        """A wrong token is refused with error="invalid_token" (RFC 6750)."""
        refusal = check_bearer("Bearer nope", TOKEN)
        assert refusal is not None and 'error="invalid_token"' in refusal.www_authenticate

    @pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "s3cret-token"])
    def test_malformed_header(self, header: str) -> None:
        """Other schemes and empty credentials are invalid requests."""
        refusal = check_bearer(header, TOKEN)
        assert refusal is not None and 'error="invalid_request"' in refusal.www_authenticate

    def test_no_token_configured_refuses_everything(self) -> None:
        """Without a configured token even an empty-looking bearer is refused, and the body says why."""
        refusal = check_bearer("Bearer anything", None)
        assert refusal is not None
        assert "no API token is configured" in refusal.message
        assert TOKEN_ENV in refusal.hint

    def test_non_ascii_token_compares(self) -> None:
        """Tokens outside ASCII are compared as UTF-8 bytes instead of raising."""
        assert check_bearer("Bearer jeton-é", SecretStr("jeton-é")) is None
        assert check_bearer("Bearer jeton-e", SecretStr("jeton-é")) is not None


class TestBind:
    @pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "LOCALHOST"])
    def test_loopback(self, host: str) -> None:
        """Loopback addresses and localhost count as loopback."""
        assert is_loopback(host)

    @pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com", ""])
    def test_not_loopback(self, host: str) -> None:
        """Wildcards, LAN addresses and other host names do not."""
        assert not is_loopback(host)

    def test_public_bind_without_token_is_refused(self) -> None:
        """0.0.0.0 without a token raises SECURITY_002 with a hint on setting the token."""
        with pytest.raises(SecurityError) as caught:
            check_bind("0.0.0.0", None)
        assert caught.value.code == "SECURITY_002"
        assert "0.0.0.0" in caught.value.message
        assert TOKEN_ENV in caught.value.hint

    def test_public_bind_with_token_and_loopback_without_are_fine(self) -> None:
        """A token makes any address acceptable; loopback needs none."""
        check_bind("0.0.0.0", TOKEN)
        check_bind("127.0.0.1", None)
