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


def test_readme_monitoring_example_runs() -> None:
    """The README's monitoring example runs as written against the demo config."""
    from sharedconfig import monitoring
    from sharedconfig.config import load

    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Monitoring", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    config = load([DOCS.parent / "deploy" / "config" / "demo.yaml"], environ={}, env_file=None)
    scope: dict[str, object] = {"config": config}
    try:
        exec(compile(code, "README.md", "exec"), scope)
        mon = scope["mon"]
        assert any(f.name == "orders" for f in mon.metrics.collect())  # type: ignore[attr-defined]
    finally:
        monitoring.reset()
