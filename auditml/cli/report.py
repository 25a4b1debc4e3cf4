"""`auditml report` and `auditml verify-report`: the signed PDF a regulator checks offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from auditml.cli.metavars import ZONED_TIME
from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS
from auditml.errors import ConfigError
from auditml.ledger.keys import trusted_verifiers
from auditml.ledger.ledger import Ledger
from auditml.policy.model import parse_ledger_time
from auditml.report.identity import load_certificate

if TYPE_CHECKING:
    from auditml.report.verify import ReportVerification


def _time(value: str | None, option: str) -> datetime | None:
    return None if value is None else parse_ledger_time(value, where=option)


def report(
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the PDF.")
    ],
    system: Annotated[
        str | None, typer.Option("--system", metavar="NAME", help="Only this AI system.")
    ] = None,
    period_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="TIME",
            help=f"Findings whose trigger occurred at or after this time, {ZONED_TIME}.",
        ),
    ] = None,
    period_to: Annotated[
        str | None,
        typer.Option("--to", metavar="TIME", help=f"... and before this time, {ZONED_TIME}."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIME",
            help=f"Evaluate the ledger as it stood at this time, {ZONED_TIME} (default: now).",
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option("--policies", metavar="DIR", help="A policies folder (default: shipped)."),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            metavar="FILE",
            help="An earlier report to prove consistency from (default: the last one "
            "recorded in the ledger).",
        ),
    ] = None,
    tsa_url: Annotated[
        str | None,
        typer.Option("--tsa-url", metavar="URL", help="RFC 3161 timestamp authority (PAdES B-T)."),
    ] = None,
) -> None:
    """Write a signed PDF/A-3b report with evidence.json attached, and record it."""
    # pyHanko (signing, checking) is a fifth of a CLI start: only these commands load it.
    from auditml.report.issue import issue_report
    from auditml.report.verify import verify_report

    moment = _time(as_of, "--as-of") or datetime.now(UTC)
    start, end = _time(period_from, "--from"), _time(period_to, "--to")
    if start is not None and end is not None and start >= end:
        raise ConfigError(f"--from {period_from} is not before --to {period_to}: no period")
    with OPTIONS.open_ledger() as ledger:
        previous_size = None
        if previous is not None:
            earlier = verify_report(previous, ledger=ledger)
            if not earlier.ok or earlier.tree_size is None:
                raise ConfigError(
                    f"--previous {previous}: not a valid report ({'; '.join(earlier.problems)})"
                )
            previous_size = earlier.tree_size
        # No refresh thread: deep verification forks workers only from a single-threaded
        # process (forking beside other threads can deadlock the children).
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            auto_refresh=False,
        ) as progress:
            task = progress.add_task("assembling", total=None)

            def step(what: str) -> None:
                progress.update(task, description=what, refresh=True)

            issued = issue_report(
                ledger,
                output,
                as_of=moment,
                policies=policies,
                system=system,
                period_from=start,
                period_to=end,
                previous_size=previous_size,
                tsa_url=tsa_url,
                step=step,
            )
    took = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in issued.seconds.items())
    console.print(
        f"wrote {escape(str(output))}: report {issued.report_id}, {issued.pages} pages, "
        f"{issued.size:,} bytes, signed; recorded as report.issued ({took})",
        highlight=False,
    )


def show_verification(result: ReportVerification, path: Path) -> None:
    """Print each check and the verdict, as `verify-report` does."""
    marks = {"pass": ("ok", "green"), "fail": ("FAIL", "bold red"), "warning": ("warn", "yellow")}
    for name, state in result.checks:
        mark, style = marks.get(state, ("skip", "dim"))
        console.print(f"  [{style}]{mark:<4}[/]  {name}", highlight=False)
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    for problem in result.problems:
        console.print(f"  [bold red]problem:[/] {escape(problem)}", highlight=False)
    if not result.ok:
        console.print(f"[bold red]invalid[/]: {escape(str(path))}", highlight=False)
        return
    if result.not_checked:
        # Only what the file carries was used: never call that valid.
        console.print(
            f"[bold yellow]NOT VERIFIED[/], only self-consistent: {escape(str(path))}, report "
            f"{result.report_id} is intact and agrees with itself ({result.events_proven} "
            f"events proven against the checkpoint of size {result.tree_size}), but it was "
            "not checked against keys you hold.",
            highlight=False,
        )
        for what in result.not_checked:
            console.print(f"  [yellow]not checked:[/] {escape(what)}", highlight=False)
        return
    console.print(
        f"[green]valid[/]: {escape(str(path))}, report {result.report_id}, signed by "
        f"{escape(result.signer_name or '?')} ({escape(result.signer_role or '?')}) under "
        f"the CA you trust; {result.events_proven} events proven against the checkpoint of "
        f"size {result.tree_size}, signed by the ledger key you gave",
        highlight=False,
    )


def verify_report_command(
    path: Annotated[Path, typer.Argument(metavar="REPORT", help="The signed PDF.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option("--trust", metavar="CA.pem", help="Trusted CA certificate (repeatable)."),
    ] = None,
    vkey: Annotated[
        list[Path] | None,
        typer.Option("--key", metavar="VKEY", help="Trusted ledger verifier key file."),
    ] = None,
    ledger_url: Annotated[
        str | None,
        typer.Option(
            "--ledger", metavar="URL", help="Also prove the live ledger extends the report."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Verify a report offline: signature, evidence proofs, checkpoint (exit 1 if invalid).

    Without --trust and --key only self-consistency is shown: the output says what was
    not checked, and the exit code is 0 (nothing wrong was found) but `verified` is false.
    """
    from auditml.report.verify import verify_report

    certificates = [load_certificate(p) for p in trust or ()]
    vkeys = [v.to_vkey() for v in trusted_verifiers([str(p) for p in vkey or ()])]
    if ledger_url is not None:
        with Ledger.open(ledger_url, key_dir=OPTIONS.home) as ledger:
            result = verify_report(path, trust=certificates, vkeys=vkeys, ledger=ledger)
    else:
        result = verify_report(path, trust=certificates, vkeys=vkeys)
    if json_out:
        print_json(
            {
                "ok": result.ok,
                "verified": result.verified,
                "not_checked": list(result.not_checked),
                "report_id": result.report_id,
                "signer": result.signer_name,
                "role": result.signer_role,
                "meaning": result.meaning,
                "certificate_sha256": result.certificate_sha256,
                "tree_size": result.tree_size,
                "root": result.root_hex,
                "events_proven": result.events_proven,
                "checks": dict(result.checks),
                "problems": list(result.problems),
                "warnings": list(result.warnings),
            }
        )
    else:
        show_verification(result, path)
    if not result.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add `report` and `verify-report` to the root app."""
    root.command("report")(report)
    root.command("verify-report")(verify_report_command)
