"""Tests that the documentation stays in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from sharedconfig.errors import REGISTRY

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_error_code_is_documented() -> None:
    """docs/errors.md has a `### CODE` section for every registered code, and none for unknown codes."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### ([A-Z]+_\d{3})\b", text, flags=re.MULTILINE))
    assert documented == set(REGISTRY)
