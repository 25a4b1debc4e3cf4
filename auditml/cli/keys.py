"""`auditml keys show`: the public keys to hand to auditors out of band."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS

app = typer.Typer(help="Show the ledger's public keys.", no_args_is_help=True)


@app.command()
def show(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Print the checkpoint verifier keys (C2SP vkeys) and where they come from."""
    with OPTIONS.open_ledger() as ledger:
        keys, source = ledger.verifiers()
    if json_out:
        print_json(
            {
                "source": source,
                "keys": [
                    {
                        "name": k.name,
                        "key_id": k.key_id,
                        "vkey": k.to_vkey(),
                        "purpose": "checkpoint",
                    }
                    for k in keys
                ],
            }
        )
        return
    table = Table(title=f"checkpoint verifier keys (from {source})", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("key id", no_wrap=True)
    for key in keys:
        table.add_row(key.name, key.key_id)
    console.print(table)
    for key in keys:
        console.print(key.to_vkey(), soft_wrap=True, highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
