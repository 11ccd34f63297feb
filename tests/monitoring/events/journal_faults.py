"""A journal ``Opener`` whose files fail to write on demand: a full or read-only disk, without root tricks.

(Tests run as root, which ignores chmod; a tiny tmpfs needs privileges: so the journal's opener is the seam.)
"""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import BinaryIO

from sharedconfig.monitoring.events.journal import Opener


class _FailingFile(io.FileIO):
    """A real file whose writes fail with ``code`` while ``failing[0]`` is true, after writing half the data
    (as a disk filling up mid-write does)."""

    failing: list[bool]
    code: int

    def write(self, data: object) -> int:  # type: ignore[override]
        if self.failing[0]:
            data = bytes(data)  # type: ignore[call-overload]
            super().write(data[: len(data) // 2])
            raise OSError(self.code, "simulated")
        return super().write(data)  # type: ignore[arg-type]


def failing_opener(failing: list[bool], code: int = errno.ENOSPC) -> Opener:
    """An opener whose files raise ``OSError(code)`` on write while ``failing[0]`` is true."""

    def opener(path: Path, mode: str) -> BinaryIO:
        handle = _FailingFile(path, mode.replace("b", ""))
        handle.failing, handle.code = failing, code
        return handle  # type: ignore[return-value]

    return opener
