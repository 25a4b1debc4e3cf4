"""`auditml witness init|cosign`: an independent party cosigns checkpoints (C2SP).

A witness keeps its key and state in its own directory, away from the ledger's keys;
it cosigns a checkpoint only after checking the ledger grew from what it cosigned last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from auditml.cli.metavars import Typer
from auditml.cli.output import console
from auditml.cli.state import OPTIONS, cli_actor
from auditml.config import load_settings
from auditml.errors import ConfigError
from auditml.ledger.keys import load_vkey_file
from auditml.ledger.ledger import Ledger
from auditml.ledger.witness import WitnessPolicy, parse_policy
from auditml.ledger.witnessing import STATE_FILE, WITNESS_VKEY_FILE, cosign, init_witness

app = Typer(
    help="Witnesses: cosign checkpoints after checking the ledger only grew.",
    no_args_is_help=True,
)

StateDir = Annotated[
    Path,
    typer.Option(
        "--state", metavar="DIR", help="The witness's directory (key and state), not the ledger's."
    ),
]


@app.command()
def init(
    name: Annotated[str, typer.Argument(help="The witness's key name, e.g. dpo.example.com/w1.")],
    state: StateDir,
    ledger_key: Annotated[
        Path,
        typer.Option(
            "--ledger-key", metavar="FILE", help="The ledger's verifier key file (ledger.vkey)."
        ),
    ],
) -> None:
    """Create a witness: its Ed25519 key (0600), its vkey, and a state trusting the ledger key."""
    keys = load_vkey_file(ledger_key)
    key_dir = load_settings(url=OPTIONS.url, key_dir=OPTIONS.home).key_dir
    verifier = init_witness(state, name, keys, ledger_key_dir=key_dir)
    console.print(
        f"created witness {verifier.name} ({verifier.key_id}) in {state}; its public key is in "
        f"{state / WITNESS_VKEY_FILE}:\n  {verifier.to_vkey()}\nadd it to a witness policy as\n"
        f"  witness <label> {verifier.to_vkey()}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("cosign")
def cosign_command(
    state: StateDir,
    url: Annotated[
        str | None, typer.Option(help="Ledger database URL (default: as for every command).")
    ] = None,
) -> None:
    """Cosign the ledger's latest checkpoint if it extends the one this witness cosigned last.

    Exit 1 (state untouched) on a rollback, a split view or an inconsistent checkpoint.
    """
    with Ledger.open(url or OPTIONS.url, key_dir=OPTIONS.home, actor=cli_actor()) as ledger:
        done = cosign(ledger, state)
    if not done.new:
        console.print(f"already cosigned {done.origin} at size {done.size}; nothing new")
        return
    since = (
        "the first checkpoint this witness cosigns of it"
        if done.previous_size is None
        else f"consistent with size {done.previous_size}, proven"
    )
    console.print(
        f"[green]cosigned[/] {done.origin} at size {done.size} (root {done.root.hex()[:16]}...; "
        f"{since}); state saved in {state / STATE_FILE}"
    )


def load_policy(path: Path) -> WitnessPolicy:
    """Read and parse a witness policy file; ConfigError if it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the witness policy {path}: {exc.strerror}") from exc
    return parse_policy(text, where=str(path))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="witness")
