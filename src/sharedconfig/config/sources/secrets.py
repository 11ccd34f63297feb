"""A secrets directory (Kubernetes / Docker style): one file per key, the file's content is the value.

``monitoring__metrics__exporters__1__api_key`` sets that key; a file named like a variable, such as
``DATADOG_API_KEY``, feeds ``${DATADOG_API_KEY}`` interpolation instead; other files are left alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sharedconfig.config.issues import Issue, KeyPath, key_path
from sharedconfig.config.tree import Layer, ReadContext, set_path
from sharedconfig.errors import Location

__all__ = ["SecretsSource", "read_secret_files", "secret_path"]

MAX_SECRET_SIZE = 1024 * 1024


def secret_path(filename: str, prefix: str) -> KeyPath | None:
    """The key path a secret file sets, or None for a plain variable file."""
    name = filename
    if name.upper().startswith(prefix.upper()):
        name = name[len(prefix) :]
    if "__" not in name:
        return None
    parts = name.lower().split("__")
    if any(not p for p in parts):
        return None
    return key_path(parts)


def read_secret_files(directory: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The files of ``directory`` as ``{name: content}``, and (name, problem) for unreadable ones.

    Hidden entries (Kubernetes' ``..data`` links) and sub-directories are skipped; one trailing newline
    is stripped, as ``echo secret > file`` adds it.
    """
    values: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        return {}, [(directory, exc.strerror or str(exc))]
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_file():  # follows links: a link loop raises here, and is reported below
                continue
            if entry.stat().st_size > MAX_SECRET_SIZE:
                problems.append((entry.path, f"over {MAX_SECRET_SIZE} bytes"))
                continue
            with open(entry.path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((entry.path, getattr(exc, "strerror", None) or type(exc).__name__))
            continue
        values[entry.name] = text.removesuffix("\n").removesuffix("\r")
    return values, problems


@dataclass(frozen=True, slots=True)
class SecretsSource:
    """Keys set from the files of a secrets directory; every value it sets is treated as secret."""

    directory: str | None
    prefix: str = "SHAREDCONFIG_"

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer; an unreadable directory or file is an issue, never a crash."""
        if not self.directory:
            return []
        layer = Layer("secret", self.directory)
        directory = self.directory
        if not os.path.isdir(directory):  # named (option or $SHAREDCONFIG_SECRETS_DIR), so an error
            layer.issues.append(_not_a_directory(directory))
            return [layer]
        values, problems = ctx.once("secrets", directory, lambda: read_secret_files(directory))
        for name, problem in problems:
            layer.issues.append(_issue(name, problem))
        for filename, value in values.items():
            path = secret_path(filename, self.prefix)
            if path is None:
                continue
            set_path(layer.data, path, value)
            layer.spots[path] = os.path.join(self.directory, filename)
            layer.secret.add(path)
        return [layer]


def _issue(name: str, problem: str) -> Issue:
    return Issue("CONFIG_021", "", f"cannot read secret {name}: {problem}", location=Location("secret", name))


def _not_a_directory(directory: str) -> Issue:
    what = "is not a directory" if os.path.exists(directory) else "does not exist"
    return Issue(
        "CONFIG_021",
        "",
        f"the path named as the secrets directory {what}",
        hint="Check the directory named by secrets_dir= / --secrets-dir / $SHAREDCONFIG_SECRETS_DIR "
        "(relative paths are taken from the working directory), or unset it.",
        location=Location("secret", directory),
    )
