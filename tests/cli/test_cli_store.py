"""push, pull and watch without a server: what they refuse before touching a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from sharedconfig.cli.main import main
from sharedconfig.cli.store import entry_names


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class TestEntryNames:
    def test_base_names_when_they_sort_in_the_order_given(self) -> None:
        """a.yaml then b.json keep their names: the store merges in name order, the same precedence."""
        assert entry_names(["conf/a.yaml", "other/b.json"]) == ["a.yaml", "b.json"]

    def test_numbered_when_names_would_reorder_or_clash(self) -> None:
        """local.yaml given after base.yaml... but app.yaml after base.yaml would sort first: numbered."""
        assert entry_names(["base.yaml", "app.yaml"]) == ["01-base.yaml", "02-app.yaml"]
        assert entry_names(["x/app.yaml", "y/app.yaml"]) == ["01-app.yaml", "02-app.yaml"]


class TestRefusals:
    def test_a_bad_url_is_a_clean_error(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """An invalid --to is CONFIG_041 with its hint, exit 1, no traceback, password masked."""
        f = tmp_path / "a.yaml"
        f.write_text("monitoring:\n  sample_rate: 0.5\n")
        code, _, err = cli(capsys, "push", str(f), "--to", "mysql://u:pw@h/app")
        assert code == 1
        assert "CONFIG_041" in err and "hint:" in err and "Traceback" not in err
        assert ":pw@" not in err

    def test_an_invalid_file_is_refused_before_the_store_is_read(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """Validation comes first: an out-of-range value is refused even with no store running."""
        f = tmp_path / "a.yaml"
        f.write_text("monitoring:\n  sample_rate: 7\n")
        code, _, err = cli(capsys, "push", str(f), "--to", "etcd://127.0.0.1:1/app?timeout=0.5")
        assert code == 1
        assert "VALIDATION_003" in err and "nothing pushed" in err and "CONFIG_040" not in err

    def test_a_file_of_unknown_format_is_refused(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """push stores documents the store can read: a .ini file is CONFIG_014."""
        f = tmp_path / "a.ini"
        f.write_text("[x]\n")
        code, _, err = cli(capsys, "push", str(f), "--to", "etcd://127.0.0.1:1/app")
        assert code == 1
        assert "CONFIG_014" in err
