"""``sharedconfig push | pull | watch``: configuration in a shared store (etcd, Redis).

``push`` validates the files, then stores them as written (``${VAR}`` placeholders included, so a secret
never leaves the environment of the services that read it) with a compare-and-swap on the revision it
read. Every value printed goes through the same rule: secrets as ``**********``, URL passwords masked.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from sharedconfig.cli.config import (
    DataFormat,
    EnvFile,
    EnvPrefix,
    Files,
    Ignore,
    Require,
    SecretsDir,
    load_options,
    plural,
    print_issue,
)
from sharedconfig.clock import SYSTEM_CLOCK
from sharedconfig.config.loader import check
from sharedconfig.config.sources import FileSource
from sharedconfig.config.sources.files import expand
from sharedconfig.config.stores import (
    Snapshot,
    StoreConflict,
    StoreSource,
    StoreURL,
    changes,
    open_store,
    parse_store_url,
    read_snapshot,
    stored_tree,
)
from sharedconfig.config.stores.layers import MISSING, entry_kind, shown
from sharedconfig.errors import ConfigError, ConfigFileError, Location
from sharedconfig.redaction import REDACTED

__all__ = ["pull", "push", "watch"]

UNRESOLVED = "CONFIG_015"
"""A ``${VAR}`` not set here: left for the service's own environment, where the store is read."""

To = Annotated[
    str,
    typer.Option(
        "--to",
        metavar="URL",
        help="The store: etcd://HOST:PORT/PREFIX or redis://[USER:PASSWORD@]HOST:PORT/DB/PREFIX.",
        show_default=False,
    ),
]
From = Annotated[
    str,
    typer.Option(
        "--from",
        metavar="URL",
        help="The store: etcd://HOST:PORT/PREFIX or redis://[USER:PASSWORD@]HOST:PORT/DB/PREFIX.",
        show_default=False,
    ),
]


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def diff_lines(rows: Sequence[tuple[str, Any, Any]]) -> list[str]:
    """``+ path: new``, ``- path: old``, ``~ path: old -> new`` (``(secret changed)`` for a secret)."""
    lines = []
    for path, before, after in rows:
        if after is MISSING:
            lines.append(f"- {path}: {_json(before)}")
        elif before is MISSING:
            lines.append(f"+ {path}: {_json(after)}")
        elif REDACTED in (before, after):
            lines.append(f"~ {path}: (secret changed)")
        else:
            lines.append(f"~ {path}: {_json(before)} -> {_json(after)}")
    return lines


def entry_names(paths: Sequence[str]) -> list[str]:
    """Entry names for files given low to high: their base names when those sort in the given order
    (the store merges in name order), else ``01-app.yaml``, ``02-local.yaml``, ..."""
    names = [Path(p).name for p in paths]
    for name, path in zip(names, paths, strict=True):
        if entry_kind(name) is None:
            raise ConfigFileError(
                f"cannot tell the format of {name!r} from its extension",
                code="CONFIG_014",
                location=Location("file", path),
            )
    if len(set(names)) == len(names) and names == sorted(names):
        return names
    width = max(2, len(str(len(names))))
    return [f"{i:0{width}d}-{name}" for i, name in enumerate(names, 1)]


def _documents(files: list[Path] | None) -> dict[str, str]:
    paths = expand(str(f) for f in files or ())
    if not paths:
        raise ConfigError("push needs at least one configuration file", code="CONFIG_003")
    texts: dict[str, str] = {}
    for name, path in zip(entry_names(paths), paths, strict=True):
        texts[name] = Path(path).read_text(encoding="utf-8-sig")  # validated just before: readable
    return texts


def _validate(files: list[Path] | None, options: dict[str, Any]) -> None:
    """Refuse invalid files as ``validate`` would; a variable not set here is only noted."""
    paths = [str(f) for f in files or ()]
    outcome = check(paths, sources=[FileSource(tuple(paths))], **options)
    errors = [i for i in outcome.report.errors if i.code != UNRESOLVED]
    for issue in outcome.report:
        if issue.code == UNRESOLVED:
            print(f"{issue.location}: note: {issue.message}: stored as written", file=sys.stderr)
        else:
            print_issue(issue, sys.stderr)
    if errors:
        print(f"invalid: {plural(len(errors), 'error')}: nothing pushed", file=sys.stderr)
        raise typer.Exit(1)


async def _push(url: StoreURL, texts: dict[str, str], expect: int | None) -> tuple[Snapshot, int]:
    store = open_store(url)
    try:
        base = await store.read()
        if expect is not None and base.revision != expect:
            raise StoreConflict(
                f"the store is at revision {base.revision}, not {expect} (--if-revision): "
                f"lost to revision {base.revision}",
                expected=expect,
                revision=base.revision,
                location=url.location,
            )
        if base.texts == texts:
            return base, base.revision
        return base, await store.save(texts, base)
    finally:
        await store.aclose()


def push(
    to: To,
    files: Files = None,
    if_revision: Annotated[
        int | None,
        typer.Option(
            "--if-revision",
            metavar="N",
            help="Push only if the store is still at revision N (the one you pulled and reviewed).",
        ),
    ] = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    require: Require = None,
    ignore: Ignore = None,
    secrets_dir: SecretsDir = None,
    env_file: EnvFile = None,
) -> None:
    """Validate files and store them as written (${VAR} kept) under a store's prefix, replacing what it
    held; print the difference and the new revision. Refused when invalid, or when the store changed
    after it was read (exit 1)."""
    url = parse_store_url(to)
    options = load_options("", env_prefix, env_file, require=require, ignore=ignore, secrets_dir=secrets_dir)
    _validate(files, dict(options))
    texts = _documents(files)
    base, revision = asyncio.run(_push(url, texts, if_revision))
    old, _ = stored_tree(base.texts)
    new, _ = stored_tree(texts)
    for line in diff_lines(changes(old, new)):
        print(line)
    if revision == base.revision:
        print(f"no changes: {url.name} stays at revision {revision}")
    else:
        print(f"pushed {plural(len(texts), 'document')} to {url.name}: revision {revision}")


def pull(
    source: From,
    output: Annotated[
        DataFormat, typer.Option("--format", metavar="yaml|json", help="yaml or json.")
    ] = DataFormat.yaml,
) -> None:
    """Print the configuration a store holds, merged as written (${VAR} kept, secrets redacted); the
    revision goes to stderr."""
    url = parse_store_url(source)
    snapshot = asyncio.run(read_snapshot(open_store, url))
    tree, unreadable = stored_tree(snapshot.texts)
    print(f"# {url.name} @ revision {snapshot.revision}", file=sys.stderr)
    for name in unreadable:
        print(f"# {url.entry(name)}: cannot be read (validate it with --source)", file=sys.stderr)
    data = shown((), tree)
    if output is DataFormat.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False), end="")


async def _watch(url: StoreURL) -> None:
    snapshot = await read_snapshot(open_store, url)
    tree, _ = stored_tree(snapshot.texts)
    print(f"watching {url.name} at revision {snapshot.revision} (Ctrl+C stops)", flush=True)
    async for change in StoreSource(url).changes(SYSTEM_CLOCK):
        if change.kind != "changed":
            print(f"{change.kind}: {change.message}", file=sys.stderr, flush=True)
            continue
        try:
            snapshot = await read_snapshot(open_store, url)
        except ConfigError as exc:
            print(f"lost: {exc.message}", file=sys.stderr, flush=True)
            continue
        new, unreadable = stored_tree(snapshot.texts)
        print(f"revision {snapshot.revision}:", flush=True)
        for line in diff_lines(changes(tree, new)):
            print(f"  {line}", flush=True)
        for name in unreadable:
            print(f"  ! {name}: cannot be read", flush=True)
        tree = new


def watch(source: From) -> None:
    """Print every change of a store as a difference (secrets redacted) until Ctrl+C."""
    url = parse_store_url(source)
    try:
        asyncio.run(_watch(url))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
