"""Tests that guard the public surface and the cost of importing the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sharedconfig


def test_public_names_are_exactly_the_documented_ones() -> None:
    """__all__ is the public surface: every name resolves, and nothing else is public by accident."""
    assert sorted(sharedconfig.__all__) == sorted(set(sharedconfig.__all__))
    for name in sharedconfig.__all__:
        assert getattr(sharedconfig, name) is not None
    assert set(dir(sharedconfig)) == set(sharedconfig.__all__)
    assert len(sharedconfig.__all__) <= 25


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A typo in an attribute name fails as AttributeError, naming it."""
    with pytest.raises(AttributeError, match="lod"):
        _ = sharedconfig.lod  # type: ignore[attr-defined]


def test_import_is_lazy() -> None:
    """`import sharedconfig` loads neither pydantic nor yaml nor typer until a name is used."""
    code = (
        "import sys, sharedconfig; "
        "print(sorted(m for m in ('pydantic', 'yaml', 'typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lazy_names_are_the_real_objects() -> None:
    """The lazily loaded names are the objects of their home modules."""
    from sharedconfig.config.loader import load
    from sharedconfig.config.root import RootSettings
    from sharedconfig.errors import SharedConfigError

    assert sharedconfig.load is load
    assert sharedconfig.SharedConfigError is SharedConfigError
    assert sharedconfig.RootSettings is RootSettings
