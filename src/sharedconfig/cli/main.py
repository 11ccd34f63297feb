"""The ``sharedconfig`` command: one typer app, one module per command group.

Errors a user can cause are printed as one line with code and hint, never as a traceback (exit 1;
usage errors exit 2). ``SHAREDCONFIG_DEBUG=1`` shows tracebacks of unexpected failures.
"""

from __future__ import annotations

import os
import sys

import typer

import sharedconfig
from sharedconfig.cli import config as config_cmds
from sharedconfig.cli import events as events_cmds
from sharedconfig.cli import serve as serve_cmd
from sharedconfig.cli import store as store_cmds
from sharedconfig.config.issues import ValidationReport
from sharedconfig.errors import ConfigValidationError, SharedConfigError

__all__ = ["app", "main"]

app = typer.Typer(
    name="sharedconfig",
    help="Load, validate and inspect configuration shared by Python services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"sharedconfig {sharedconfig.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Load, validate and inspect configuration shared by Python services."""


app.command("validate")(config_cmds.validate)
app.command("show")(config_cmds.show)
app.command("schema")(config_cmds.schema)
app.command("diff")(config_cmds.diff)
app.command("serve")(serve_cmd.serve)
app.command("push")(store_cmds.push)
app.command("pull")(store_cmds.pull)
app.command("watch")(store_cmds.watch)
app.add_typer(events_cmds.app, name="events")


def report_error(exc: SharedConfigError) -> None:
    """Print a user-caused error without traceback."""
    if isinstance(exc, ConfigValidationError) and exc.issues:
        for issue in exc.issues:
            config_cmds.print_issue(issue, sys.stderr)
        print(config_cmds.summary(ValidationReport(exc.issues)), file=sys.stderr)  # as validate ends
        return
    print(exc.format(), file=sys.stderr)
    if exc.hint:
        print(f"    hint: {exc.hint}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 usage error)."""
    try:
        app(args=argv, prog_name="sharedconfig", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SharedConfigError as exc:
        report_error(exc)
        return 1
    except Exception as exc:
        if os.environ.get("SHAREDCONFIG_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (set SHAREDCONFIG_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
