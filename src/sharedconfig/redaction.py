"""What counts as a secret where no schema says so, and what a secret is replaced with.

Shared by the config tree (``show``, ``diff``, error messages) and the loggers, so both agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final, Protocol

__all__ = ["REDACTED", "SECRET_WORDS", "hide", "looks_secret", "mask_userinfo", "redact_query", "scrub"]

REDACTED: Final = "**********"

SECRET_WORDS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "webhook_url",
    "credential",
    "private_key",
    "access_key",
)


# keys that say where a secret is or how it is sent, not the secret itself (token_header, password_file)
_NOT_SECRET_SUFFIXES: Final = ("_header", "_file", "_path", "_dir", "_env", "_var", "_name")


def looks_secret(key: str) -> bool:
    """True when a key name usually holds a secret (``db_password``, ``X-Api-Key``, ``authToken``)."""
    normalised = key.lower().replace("-", "_")
    if normalised.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return any(word in normalised for word in SECRET_WORDS)


# scheme://user:password@ anywhere in a text; the password stops at the first "@", "/", "?", "#" or space
_USERINFO: Final = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):[^@/?#\s]*@")


def mask_userinfo(text: str) -> str:
    """``text`` with the password of every URL in it replaced: ``redis://app:**********@cache:6379``.

    Whatever the field's declared type: any value, log message or error shown to a person goes through
    this (Spring Boot Actuator masks URI userinfo the same way). The user name stays, to say which account.
    """
    if "@" not in text or "://" not in text:  # the common case: nothing to look for
        return text
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{REDACTED}@", text)


_MAX_DEPTH: Final = 32


def scrub(value: object, key: str = "", _depth: int = 0) -> object:
    """``value`` as it may be shown: both rules applied at any depth of plain data.

    A value under a secret-looking key (``key``, or a key of a mapping inside) becomes ``**********``;
    every string has its URL passwords masked; mappings become dicts, lists and tuples keep their type;
    anything else is returned as it is. Data nested deeper than 32 levels (a cycle, say) is not shown.
    """
    if key and looks_secret(key):
        return REDACTED
    if isinstance(value, str):
        return mask_userinfo(value)
    if _depth >= _MAX_DEPTH and isinstance(value, Mapping | list | tuple):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: scrub(v, str(k), _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [scrub(v, "", _depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


_QUERY_VALUE: Final = re.compile(r"(?P<name>[?&;][^=&;#]*)=[^&;#]*")


def redact_query(target: str) -> str:
    """A request target (``/path?token=abc&x=1``) with every query value replaced: ``?token=**********``.

    What a request log may show: the names say what was asked, any value may be a token.
    """
    if "?" not in target:
        return target
    path, _, rest = target.partition("?")
    return path + _QUERY_VALUE.sub(lambda m: f"{m.group('name')}={REDACTED}", "?" + rest)


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


def hide(text: str, secrets: Iterable[str | _Secret]) -> str:
    r"""``text`` with every non-empty value of ``secrets`` (strings or ``SecretStr``\ s) replaced by
    ``**********``: what a component's own credentials become in its messages and logs."""
    for secret in secrets:
        value = secret if isinstance(secret, str) else secret.get_secret_value()
        if value:
            text = text.replace(value, REDACTED)
    return text
