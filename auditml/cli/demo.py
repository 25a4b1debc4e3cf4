"""`auditml demo`: the story of a credit-scoring model, recorded, proven and verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from auditml.cli.output import console
from auditml.demo import run_demo


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to put the demo ledger.")] = Path(
        "auditml-demo"
    ),
    decisions: Annotated[int, typer.Option(help="How many credit decisions to simulate.")] = 5000,
) -> None:
    """Run the demo: record a model's life, sign a checkpoint, prove a decision, verify."""
    with console.status("recording the story") as status:
        result = run_demo(directory, decisions=decisions, on_step=lambda text: status.update(text))
    table = Table(title="What the ledger recorded", title_justify="left")
    for column in ("date", "event", "what"):
        table.add_column(column)
    for row in result.steps:
        table.add_row(*row)
    console.print(table)
    console.print(
        f"checkpoint: size {result.checkpoint_size}, root {result.checkpoint_root[:32]}..."
    )
    console.print(
        f"[green]verified[/] (deep): {result.verify.size} events, chain, tree and "
        f"{result.verify.checkpoints_verified} checkpoint signatures"
    )
    console.print(
        f"[green]evidence verified offline[/]: seq {result.proved_seq} in {result.evidence_path}, "
        "with only the ledger's verifier key:"
    )
    console.print(f"  {result.vkey}", soft_wrap=True, highlight=False)
    console.print(
        f"\nExplore it: cd {directory}, then `auditml log`, `auditml checkpoint --list`, "
        "`auditml verify --deep`"
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
