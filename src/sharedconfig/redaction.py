"""What counts as a secret where no schema says so, and what a secret is replaced with.

Shared by the config tree (``show``, ``diff``, error messages) and the loggers, so both agree.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REDACTED", "SECRET_WORDS", "looks_secret"]

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


def looks_secret(key: str) -> bool:
    """True when a key name usually holds a secret (``db_password``, ``X-Api-Key``, ``authToken``)."""
    normalised = key.lower().replace("-", "_")
    return any(word in normalised for word in SECRET_WORDS)
