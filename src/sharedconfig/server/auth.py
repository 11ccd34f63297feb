"""Bearer-token auth for ``/api/*`` and the rule that a server reachable from other hosts needs a token.

Plain functions: the app turns a refusal into a 401, ``serve`` turns an unsafe bind into a SecurityError.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from sharedconfig.errors import SecurityError

__all__ = [
    "TOKEN_ENV",
    "AuthRefusal",
    "check_bearer",
    "check_bind",
    "configured_token",
    "is_loopback",
]

TOKEN_ENV = "SHAREDCONFIG_API_TOKEN"
"""Environment variable holding the API token; it wins over ``monitoring.server.api_token``."""

_HOW_TO_SET = (
    f"set the {TOKEN_ENV} environment variable (or monitoring.server.api_token, written as "
    f"${{{TOKEN_ENV}}}) and send it as 'Authorization: Bearer <token>'"
)


@dataclass(frozen=True, slots=True)
class AuthRefusal:
    """Why a request was refused: a message and hint for the body, the RFC 6750 error for the header."""

    message: str
    hint: str
    bearer_error: str | None = None

    @property
    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` header value of the 401."""
        if self.bearer_error is None:
            return 'Bearer realm="sharedconfig"'
        return f'Bearer realm="sharedconfig", error="{self.bearer_error}"'


def configured_token(
    setting: SecretStr | str | None, environ: Mapping[str, str] | None = None, *, explicit: bool = False
) -> SecretStr | None:
    """The API token: ``$SHAREDCONFIG_API_TOKEN`` when set, else the setting, else None.

    ``explicit`` means ``setting`` was passed in code (``create_app(api_token=...)``) and wins over the
    environment. Surrounding whitespace is not part of a token (HTTP trims header values, and a token read
    from a file often ends in a newline), so an empty or whitespace-only value counts as no token at all:
    it neither protects the API nor allows a bind beyond loopback.
    """
    given = _token(setting)
    if explicit and given is not None:
        return given
    env = os.environ if environ is None else environ
    return _token(env.get(TOKEN_ENV)) or given


def _token(value: SecretStr | str | None) -> SecretStr | None:
    """``value`` without surrounding whitespace, or None when nothing is left."""
    if value is None:
        return None
    text = (value.get_secret_value() if isinstance(value, SecretStr) else value).strip()
    return SecretStr(text) if text else None


def check_bearer(authorization: str | None, expected: SecretStr | None) -> AuthRefusal | None:
    """None when ``authorization`` carries the expected bearer token, else why not.

    The comparison is constant-time (``hmac.compare_digest`` on the UTF-8 bytes). With no token configured
    every request is refused, and the refusal says how to configure one.
    """
    if expected is None:
        return AuthRefusal("the API is disabled because no API token is configured", _HOW_TO_SET)
    if not authorization:
        return AuthRefusal("this endpoint needs a bearer token", _HOW_TO_SET)
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return AuthRefusal(
            "the Authorization header is not a bearer token", _HOW_TO_SET, bearer_error="invalid_request"
        )
    given = credentials.strip().encode("utf-8")
    if not hmac.compare_digest(given, expected.get_secret_value().encode("utf-8")):
        return AuthRefusal(
            "the bearer token is not valid",
            f"send the token configured in {TOKEN_ENV} or monitoring.server.api_token",
            bearer_error="invalid_token",
        )
    return None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: ``localhost``, 127.0.0.0/8 and ``::1``."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def check_bind(host: str, token: SecretStr | None) -> None:
    """Refuse to serve the API on an address other hosts can reach when no token protects it.

    Raises ``SecurityError`` (SECURITY_002) naming the address and how to set a token.
    """
    if token is not None or is_loopback(host):
        return
    raise SecurityError(
        f"refusing to listen on {host}: other hosts could reach the server and no API token is set",
        code="SECURITY_002",
        path="monitoring.server.host",
        hint=f"{_HOW_TO_SET}; or bind to 127.0.0.1",
        component="server",
        operation="serve",
    )
