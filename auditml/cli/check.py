"""`auditml check`: evaluate the rules over the ledger and print the findings."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from auditml import __version__
from auditml.cli.metavars import ZONED_TIME
from auditml.cli.output import console, errors, print_json, shown
from auditml.cli.state import OPTIONS
from auditml.errors import ConfigError
from auditml.policy.engine import SEVERITY_ORDER, Evaluation, Finding, evaluate
from auditml.policy.formats import to_junit, to_sarif
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.policy.model import parse_ledger_time
from auditml.policy.stream import in_force, ledger_events
from auditml.policy.wording import when


class Format(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


_COLOURS = {
    "fail": "bold red",
    "pending": "yellow",
    "needs_human": "magenta",
    "pass": "green",
    "not_applicable": "dim",
}


def failing(evaluation: Evaluation, fail_on: str | None) -> list[Finding]:
    """The failing findings at or above `fail_on` (any failing finding for None)."""
    floor = 0 if fail_on is None else SEVERITY_ORDER.index(fail_on)
    return [
        finding
        for finding in evaluation.findings
        if finding.verdict == "fail" and SEVERITY_ORDER.index(finding.severity) >= floor
    ]


def _evidence(finding: Finding) -> str:
    return ", ".join(f"{ref.role} seq {ref.seq}" for ref in finding.evidence)


def _print_table(evaluation: Evaluation, directory: Path) -> None:
    out = console.print
    out(
        f"Checked {evaluation.events} events against {len(evaluation.rules)} rules "
        f"as of {when(evaluation.as_of)}",
        highlight=False,
    )
    out(
        f"[dim]{shown(str(directory))}, rule set sha256 {evaluation.rule_set_sha256}[/]",
        highlight=False,
    )
    # Passes are counted in the rules table; listing them would bury the problems.
    for verdict in ("fail", "pending", "needs_human"):
        findings = [f for f in evaluation.findings if f.verdict == verdict]
        if not findings:
            continue
        table = Table(
            title=f"[{_COLOURS[verdict]}]{verdict}[/] ({len(findings)})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
            show_lines=True,
        )
        table.add_column("rule", overflow="fold", max_width=40)
        table.add_column("severity", no_wrap=True)
        table.add_column("finding", overflow="fold")
        for finding in findings:
            table.add_row(
                f"[bold]{shown(finding.rule_id)}[/]\n{shown(', '.join(finding.references))}",
                finding.severity,
                shown(finding.message) + f"\n[dim]{shown(_evidence(finding))}[/]",
            )
        out(table)
    rules = Table(title="Rules", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    rules.add_column("rule", overflow="fold")
    rules.add_column("severity", no_wrap=True)
    rules.add_column("verdict", no_wrap=True)
    rules.add_column("findings", overflow="fold")
    for summary in evaluation.rules:
        counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(summary.counts.items()))
        if summary.condition_errors:
            counts += f" ({summary.condition_errors} condition errors)"
        rules.add_row(
            shown(summary.rule_id),
            summary.severity,
            f"[{_COLOURS[summary.verdict]}]{summary.verdict}[/]",
            counts or "-",
        )
    out(rules)


def check(
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            metavar="DIR",
            help="A policies folder (default: the rules shipped with auditml).",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="TIME",
            help=f"Evaluate the ledger as it stood at this time, {ZONED_TIME} (default: now).",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option("--system", metavar="NAME", help="Only this AI system's events."),
    ] = None,
    output_format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="table for people, json for machines, sarif (code scanning) or junit (CI "
            "test reports).",
        ),
    ] = Format.table,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the findings as JSON (same as --format json).")
    ] = False,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            help="Exit 1 only for failing findings of this severity or higher "
            "(critical, high, medium, low; default: any failing finding).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Evaluate the rules over the ledger: pass, fail, pending, needs_human findings.

    Exit 1 when a failing finding at or above --fail-on exists, else 0.
    """
    if json_out and output_format not in (Format.table, Format.json):
        raise ConfigError(f"give --json or --format {output_format.value}, not both")
    if json_out:
        output_format = Format.json
    moment = datetime.now(UTC) if as_of is None else parse_ledger_time(as_of, where="--as-of")
    directory = policies if policies is not None else default_policies_dir()
    rule_set = load_rules(directory)
    with OPTIONS.open_ledger() as ledger:
        evaluation = evaluate(
            rule_set, ledger_events(ledger, as_of=moment, system=system), as_of=moment
        )
        adopted = in_force(ledger, moment)
    in_force_sha = None if adopted is None else adopted.payload["policy_set_sha256"]
    if in_force_sha != rule_set.sha256:
        errors.print(
            "[yellow]note:[/] "
            + (
                "no rule set has been adopted in this ledger (auditml policy adopt)"
                if adopted is None
                else f"the rules evaluated are not the set in force (sha256 {in_force_sha}, "
                f"adopted at seq {adopted.seq})"
            ),
            highlight=False,
        )
    if output_format is Format.json:
        print_json(
            {"directory": str(directory), "rule_set_in_force": in_force_sha, **evaluation.to_json()}
        )
    elif output_format is Format.sarif:
        print_json(
            to_sarif(evaluation, rule_set.rules, version=__version__, policies=str(directory))
        )
    elif output_format is Format.junit:
        sys.stdout.write(to_junit(evaluation))
    else:
        _print_table(evaluation, directory)
    if failing(evaluation, None if fail_on is None else fail_on.value):
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add the top-level `check` command to the root app."""
    root.command("check")(check)
