"""The `auditml` entry point: command groups, and the one place that exits."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from auditml.cli import (
    check,
    db,
    demo,
    erasure,
    integrity,
    keys,
    lineage,
    policy,
    portability,
    recording,
    report,
    schema,
    witness,
)
from auditml.cli.metavars import Typer
from auditml.cli.output import errors
from auditml.cli.state import OPTIONS
from auditml.errors import AuditmlError

app = Typer(
    name="auditml",
    help="The evidence layer for machine learning under GDPR and the EU AI Act.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def main(
    url: Annotated[
        str | None,
        typer.Option(help="Ledger database URL (overrides AUDITML_URL and auditml.toml)."),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Key directory (overrides AUDITML_HOME)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    OPTIONS.url, OPTIONS.home, OPTIONS.debug = url, home, debug


recording.register(app)
integrity.register(app)
demo.register(app)
keys.register(app)
schema.register(app)
lineage.register(app)
policy.register(app)
check.register(app)
report.register(app)
db.register(app)
portability.register(app)
witness.register(app)
erasure.register(app)


def _stop(signum: int, _frame: object) -> None:
    # Raised rather than died of, as Ctrl-C is: every `with` and `finally` runs first, so
    # no temporary file or folder outlives a command that was told to stop.
    raise SystemExit(128 + signum)


def run() -> None:
    """Console-script entry: exit 0 ok, 1 a check found a problem, 2 usage/configuration.

    Typer handles usage errors itself (exit 2); every AuditmlError ends here as one
    line on stderr, with a traceback only under --debug. SIGTERM and SIGHUP stop a
    command as Ctrl-C does, cleaning up (exit 128 + the signal's number).
    """
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # one ignored (nohup) stays ignored
            signal.signal(signum, _stop)
    try:
        app()
    except AuditmlError as exc:
        if OPTIONS.debug:
            raise
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
