"""`auditml demo`: six months of a credit-scoring system, recorded, proven and verified."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.padding import Padding
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from auditml.cli.output import console, print_json
from auditml.demo import MIN_DECISIONS, DemoResult, StoryStep, run_demo

PROBLEM = "bold yellow"
GOOD = "bold green"
COMMAND = "bold cyan"
HEADING = "bold"


def demo(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", metavar="DIR", help="Where to put the demo ledger (replaced if it exists)."
        ),
    ] = Path("auditml-demo"),
    decisions: Annotated[
        int, typer.Option(min=MIN_DECISIONS, help="How many credit decisions to simulate.")
    ] = 5000,
    seed: Annotated[int, typer.Option(help="The same seed tells the same story.")] = 7,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print what was recorded and checked as JSON.")
    ] = False,
) -> None:
    """Record six months of a credit-scoring system, with planted problems; prove, verify."""
    if json_out:
        print_json(_as_json(run_demo(directory, decisions=decisions, seed=seed)))
        return
    with Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        TaskProgressColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("creating the ledger", total=None)

        def advance(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=what)

        result = run_demo(directory, decisions=decisions, seed=seed, on_progress=advance)
    _print_intro(result)
    _print_story(result)
    _print_problems(result)
    _print_integrity(result)
    _print_next(result)


def _as_json(result: DemoResult) -> dict[str, Any]:
    """The story, the planted problems and the checks (not the applicants' identifiers)."""
    return {
        "directory": str(result.directory),
        "seed": result.seed,
        "events": result.events,
        "counts": dict(result.counts),
        "decisions": result.decisions,
        "story": {"start": result.story_start.isoformat(), "end": result.story_end.isoformat()},
        "steps": [asdict(step) for step in result.steps],
        "problems": [asdict(problem) for problem in result.problems],
        "checkpoints": result.checkpoints,
        "checkpoint": {"size": result.checkpoint_size, "root": result.checkpoint_root},
        "verify": asdict(result.verify),
        "approvals_verified": result.approvals_verified,
        "evidence": {"path": str(result.evidence_path), "seq": result.proved_seq},
        "report": {
            "path": str(result.report_path),
            "id": result.report_id,
            "pages": result.report_pages,
        },
        "vkey": result.vkey,
        "vkey_path": str(result.vkey_path),
        "seconds": result.seconds,
    }


def _print_intro(result: DemoResult) -> None:
    start, end = result.story_start, result.story_end
    text = Text()
    text.append("bank.example", style=HEADING)
    text.append(
        " scores applicants for credit with a high-risk AI system (EU AI Act Annex III "
        f"5(b)). This is its ledger from {start.day} {start:%B} to {end.day} {end:%B %Y}, "
        "recorded as it happened on a simulated clock: "
    )
    text.append(f"{result.events:,} events", style=HEADING)
    text.append(
        f" in {result.seconds:.1f} s, all through the auditml SDK (auditml/demo.py is the "
        "script).\n"
    )
    text.append(f"{_number(len(result.problems))} compliance problems", style=PROBLEM)
    text.append(" were planted on purpose: numbered (#) in the story, listed after it.\n")
    text.append(
        f"Seed {result.seed}. Ledger {result.directory / 'auditml.db'}, keys in "
        f"{result.directory / 'keys'}."
    )
    console.print(Panel(text, title="auditml demo", title_align="left", padding=(0, 1)))


def _print_story(result: DemoResult) -> None:
    table = Table(
        title="The story, as the ledger recorded it",
        title_justify="left",
        title_style=HEADING,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("date", justify="right", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("what")
    table.add_column("#", justify="right", style=PROBLEM, no_wrap=True)
    shown = None
    for position, step in enumerate(result.steps):
        monthly = _is_month(step)
        following = result.steps[position + 1] if position + 1 < len(result.steps) else None
        table.add_row(
            "" if step.date == shown else _date(step),
            step.event,
            Text(step.what, style="italic" if monthly else ""),
            "" if step.problem is None else str(step.problem),
            end_section=monthly and (following is None or not _is_month(following)),
        )
        shown = step.date
    console.print(Padding(table, (1, 0, 0, 1)))


def _print_problems(result: DemoResult) -> None:
    table = Table(
        title="Planted problems a policy check should find",
        title_justify="left",
        title_style=HEADING,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    table.add_column("#", style=PROBLEM, justify="right", no_wrap=True)
    table.add_column("problem")
    table.add_column("law", width=23)
    for problem in result.problems:
        cell = Text(problem.title, style=HEADING)
        cell.append(f"\n{problem.detail}")
        seqs = ", ".join(f"{seq:,}" for seq in problem.seqs)
        cell.append(f"\nevidence: seq {seqs}", style="dim")
        table.add_row(str(problem.number), cell, problem.law, end_section=True)
    console.print(Padding(table, (1, 0, 0, 1)))


def _print_integrity(result: DemoResult) -> None:
    verify = result.verify
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(
        "ledger",
        f"{result.events:,} events under {result.checkpoints:,} signed checkpoints; the "
        f"latest, at size {result.checkpoint_size:,}, has root "
        f"{result.checkpoint_root[:16]}…",
    )
    grid.add_row(
        Text("verified (deep)", style=GOOD),
        f"every event re-hashed, the hash chain and the Merkle tree rebuilt, "
        f"{verify.checkpoints_verified:,} checkpoint signatures checked ({verify.seconds:.1f} s)",
    )
    grid.add_row(
        Text("approvals verified", style=GOOD),
        f"{result.approvals_verified} of {result.counts.get('approval.granted', 0)} approver "
        "signatures, each under the approver's own Ed25519 key",
    )
    grid.add_row(
        Text("evidence verified offline", style=GOOD),
        f"decision seq {result.proved_seq:,} is in the signed checkpoint, checked with "
        f"nothing but {result.evidence_path.name} and the ledger's public key "
        f"({result.vkey_path.relative_to(result.directory)})",
    )
    grid.add_row(
        Text("signed report verified", style=GOOD),
        f"{result.report_path.name}: PDF/A-3b, {result.report_pages} pages, signed (PAdES) by "
        "the DPO; signature, evidence proofs and checkpoint checked offline against the CA "
        "and the ledger key",
    )
    console.print()
    console.print(Text("Integrity", style=HEADING))
    console.print(Padding(grid, (0, 0, 1, 1)), highlight=False)


def _print_next(result: DemoResult) -> None:
    evidence = result.evidence_path.name
    vkey = result.vkey_path.relative_to(result.directory)
    commands = [
        (f"cd {result.directory}", ""),
        ("auditml log", "the latest events, newest first"),
        ("auditml log --type approval.granted", "who approved what"),
        ("auditml lineage credit@3.2", "the data behind a model version"),
        ("auditml verify --deep", "check every event yourself"),
        (
            "auditml verify --witness-policy witnesses.policy",
            "extends what the DPO's witness cosigned?",
        ),
        (f"auditml verify-evidence {evidence} --key {vkey}", "what an auditor runs, offline"),
        ("auditml check", "the GDPR and AI Act rules over the ledger"),
        (
            # Two lines, so that the demo's output fits 80 columns.
            f"auditml verify-report {result.report_path.name} \\\n"
            f"    --trust keys/report-ca.pem --key {vkey}",
            "what a regulator runs on the report",
        ),
    ]
    column = 38
    console.print(Text("What to run next", style=HEADING))
    for command, purpose in commands:
        line = Text(" ")
        line.append(command, style=COMMAND)
        if purpose and len(command) < column - 1:
            line.append(" " * (column - len(command)) + purpose)
        elif purpose:
            line.append("\n" + " " * (column + 1) + purpose)
        console.print(line, no_wrap=True, overflow="ignore", crop=False)


def _is_month(step: StoryStep) -> bool:
    return len(step.date) == len("2026-03")


def _date(step: StoryStep) -> str:
    """``2 Mar`` for a day, ``March`` for a month's summary."""
    if _is_month(step):
        return date.fromisoformat(f"{step.date}-01").strftime("%B")
    day = date.fromisoformat(step.date)
    return f"{day.day} {day:%b}"


def _number(count: int) -> str:
    words = ["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
    return words[count] if count < len(words) else str(count)


def register(app: typer.Typer) -> None:
    app.command()(demo)
