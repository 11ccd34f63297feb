"""``sharedconfig validate | show | schema | diff``: configuration from the command line.

Output is made for people and CI alike: compiler-style issue lines, JSON on request, secrets redacted.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sharedconfig.config.issues import Issue, ValidationReport
from sharedconfig.config.loader import LoadOptions, Outcome, check
from sharedconfig.config.snapshot import MISSING
from sharedconfig.config.stores import StoreSource
from sharedconfig.config.tree import REDACTED

__all__ = ["diff", "schema", "show", "validate"]


class IssueFormat(StrEnum):
    """Output formats of ``validate``."""

    text = "text"
    json = "json"


class DataFormat(StrEnum):
    """Output formats of ``show``."""

    yaml = "yaml"
    json = "json"


Files = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="FILE...", help="YAML, JSON or TOML files or globs, low to high.", show_default=False
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Profile overlay (app.<profile>.yaml); default $SHAREDCONFIG_PROFILE.",
    ),
]
EnvPrefix = Annotated[
    str, typer.Option("--env-prefix", metavar="PREFIX", help="Prefix of config environment variables.")
]
Require = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        metavar="MODULE",
        help="Module that must be valid even when its section is absent (repeatable).",
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY.PATH=VALUE", help="KEY.PATH=VALUE override (repeatable)."),
]
Ignore = Annotated[
    list[str] | None, typer.Option("--ignore", metavar="CODE", help="Issue code to ignore (repeatable).")
]
SecretsDir = Annotated[
    str | None,
    typer.Option(
        "--secrets-dir", metavar="DIR", help="Directory of secret files; default $SHAREDCONFIG_SECRETS_DIR."
    ),
]
EnvFile = Annotated[
    str | None,
    typer.Option(
        "--env-file",
        metavar="FILE",
        help='The .env file to read (an error when missing); default .env, read when it exists; "" for none.',
        show_default=False,
    ),
]


StoreSources = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        metavar="URL",
        help="A shared store, etcd://HOST:PORT/PREFIX or redis://[USER:PASSWORD@]HOST:PORT/DB/PREFIX "
        "(?cache=PATH keeps its last good snapshot): layered above the files, below .env, env and --set "
        "(repeatable).",
    ),
]


def _paths(files: list[Path] | None) -> list[str]:
    return [str(f) for f in files or ()]


def load_options(
    profile: str | None,
    env_prefix: str,
    env_file: str | None,
    *,
    require: list[str] | None = None,
    overrides: list[str] | None = None,
    ignore: list[str] | None = None,
    secrets_dir: str | None = None,
    stores: list[str] | None = None,
) -> LoadOptions:
    """The commands' options as ``LoadOptions``: an empty ``--env-file`` reads none, an unset list is ().

    Without ``--env-file`` the key is left out, so the default ``.env`` stays optional; a named file must
    exist.
    """
    options = LoadOptions(
        profile=profile,
        env_prefix=env_prefix,
        require=require or (),
        overrides=overrides or (),
        ignore=ignore or (),
        secrets_dir=secrets_dir,
        stores=[StoreSource.parse(url) for url in stores or ()],  # a bad URL fails before any reading
    )
    if env_file is not None:
        options["env_file"] = env_file or None
    return options


def print_issue(issue: Issue, stream: Any = None) -> None:
    """Compiler style: ``FILE:LINE:COL: error CODE key.path: message`` then an indented hint."""
    out = stream or sys.stdout
    print(issue, file=out)
    if issue.hint:
        print(f"    hint: {issue.hint}", file=out)


def plural(n: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def summary(report: ValidationReport) -> str:
    """The last line of ``validate``: ``invalid: 2 errors, 0 warnings`` or ``valid: 1 warning``."""
    errors, warnings = len(report.errors), len(report.warnings)
    if errors:
        return f"invalid: {plural(errors, 'error')}, {plural(warnings, 'warning')}"
    return f"valid: {plural(warnings, 'warning')}"


def validate(
    files: Files = None,
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    require: Require = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    output: Annotated[
        IssueFormat, typer.Option("--format", metavar="text|json", help="text or json.")
    ] = IssueFormat.text,
    overrides: Overrides = None,
    ignore: Ignore = None,
    secrets_dir: SecretsDir = None,
    env_file: EnvFile = None,
    stores: StoreSources = None,
) -> None:
    """Validate configuration: exit 0 when valid (warnings allowed unless --strict), 1 when not."""
    options = load_options(
        profile,
        env_prefix,
        env_file,
        require=require,
        overrides=overrides,
        ignore=ignore,
        secrets_dir=secrets_dir,
        stores=stores,
    )
    outcome = check(_paths(files), **options)
    if output is IssueFormat.json:
        print(json.dumps([i.to_dict() for i in outcome.report], indent=2))
    else:
        for issue in outcome.report:
            print_issue(issue)
        print(summary(outcome.report))
    failed = not outcome.report.ok or (strict and bool(outcome.report.warnings))
    raise typer.Exit(1 if failed else 0)


def _dump(data: Any, fmt: DataFormat) -> str:
    if fmt is DataFormat.json:
        return json.dumps(data, indent=2, default=str)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _loaded(outcome: Outcome, failure: int = 1) -> Any:
    if outcome.config is None:
        for issue in outcome.report.errors:
            print_issue(issue, sys.stderr)
        print(summary(outcome.report), file=sys.stderr)
        raise typer.Exit(failure)
    return outcome.config


def show(
    files: Files = None,
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    require: Require = None,
    explain: Annotated[bool, typer.Option("--explain", help="Say where every value came from.")] = False,
    output: Annotated[
        DataFormat, typer.Option("--format", metavar="yaml|json", help="yaml or json.")
    ] = DataFormat.yaml,
    overrides: Overrides = None,
    secrets_dir: SecretsDir = None,
    env_file: EnvFile = None,
    stores: StoreSources = None,
) -> None:
    """Print the effective configuration (sources plus defaults); secrets are shown as **********."""
    options = load_options(
        profile,
        env_prefix,
        env_file,
        require=require,
        overrides=overrides,
        secrets_dir=secrets_dir,
        stores=stores,
    )
    outcome = check(_paths(files), **options)
    config = _loaded(outcome)
    if not explain:
        print(_dump(config.to_dict(), output), end="")
        return
    rows = config.explain()
    if output is DataFormat.json:
        print(
            json.dumps(
                [{"path": p, "value": v, "origin": str(o) if o else "default"} for p, v, o in rows],
                indent=2,
                default=str,
            )
        )
        return
    width = max((len(p) for p, _, _ in rows), default=0)
    for path, value, origin in rows:
        shown = json.dumps(value, default=str)
        print(f"{path.ljust(width)} = {shown}  # {origin if origin else 'default'}")


def schema(
    module: Annotated[
        str | None, typer.Option("--module", "-m", metavar="MODULE", help="Only this module's schema.")
    ] = None,
) -> None:
    """Print the JSON Schema (draft 2020-12) of the configuration, for editors and CI."""
    from sharedconfig.config.schema import config_schema

    print(json.dumps(config_schema(module), indent=2))


def diff(
    a: Annotated[Path, typer.Argument(metavar="OLD", help="The old configuration file.")],
    b: Annotated[Path, typer.Argument(metavar="NEW", help="The new configuration file.")],
    profile: Profile = None,
    env_prefix: EnvPrefix = "SHAREDCONFIG_",
    env_file: EnvFile = None,
    stores: StoreSources = None,
) -> None:
    """Show the keys whose effective values differ (secrets redacted); --source layers a store into both.

    Exit codes follow diff(1): 0 no differences, 1 differences, 2 a file failed to load.
    """
    options = load_options(profile, env_prefix, env_file, stores=stores)
    old = _loaded(check([a], **options), failure=2)
    new = _loaded(check([b], **options), failure=2)
    rows = old.diff(new)
    for path, before, after in rows:
        if after is MISSING:
            print(f"- {path}: {_json(before)}")
        elif before is MISSING:
            print(f"+ {path}: {_json(after)}")
        elif REDACTED in (before, after):
            print(f"~ {path}: (secret changed)")
        else:
            print(f"~ {path}: {_json(before)} -> {_json(after)}")
    if not rows:
        print("no differences")
    raise typer.Exit(1 if rows else 0)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)
