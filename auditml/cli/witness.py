"""`auditml witness init|cosign`: an independent party cosigns checkpoints (C2SP).

A witness keeps its key and state in its own directory, away from the ledger's keys;
it cosigns a checkpoint only after checking the ledger grew from what it cosigned last.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import indent
from typing import Annotated

import typer
from rich.markup import escape

from auditml.cli.metavars import Typer
from auditml.cli.output import console
from auditml.cli.state import OPTIONS, cli_actor
from auditml.config import load_settings
from auditml.errors import ConfigError
from auditml.ledger.keys import load_vkey_file, write_public
from auditml.ledger.ledger import Ledger
from auditml.ledger.witness import (
    WitnessPolicy,
    add_witness,
    check_new_witness_label,
    parse_policy,
)
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
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="FILE",
            help="Also add this witness to a witness policy file (e.g. witnesses.policy): "
            "created with `quorum 1` if absent, else the witness line goes before its quorum "
            "line.",
        ),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            metavar="LABEL",
            help="The witness's name in the policy file (default: its key name).",
        ),
    ] = None,
) -> None:
    """Create a witness: its Ed25519 key (0600), its vkey, and a state trusting the ledger key.

    Prints the lines a witness policy file needs for this witness (docs/FORMAT.md section
    16.4), which `auditml verify --witness-policy FILE` reads; --policy FILE writes them.
    """
    label = label or name
    policy_text = None if policy is None else _read_policy_text(policy)
    where = str(policy) if policy is not None else "the witness policy"
    check_new_witness_label(policy_text or "", label, where=where)
    keys = load_vkey_file(ledger_key)
    key_dir = load_settings(url=OPTIONS.url, key_dir=OPTIONS.home).key_dir
    verifier = init_witness(state, name, keys, ledger_key_dir=key_dir)
    console.print(
        f"created witness {verifier.name} ({verifier.key_id}) in {state}; its public key is in "
        f"{state / WITNESS_VKEY_FILE}:\n  {verifier.to_vkey()}",
        highlight=False,
        soft_wrap=True,
    )
    if policy is None:
        new_text, _ = add_witness("", label, verifier)
        console.print(
            "a witness policy file (docs/FORMAT.md section 16.4) in which this witness alone "
            "makes the quorum:",
            highlight=False,
            soft_wrap=True,
        )
        console.print(escape(indent(new_text, "  ")), end="", highlight=False, soft_wrap=True)
        console.print(
            "with more witnesses, list every `witness` line first, then one quorum line: "
            "`quorum K` for any K of them; or run init with --policy FILE to write the lines. "
            "Then `auditml witness cosign` and `auditml verify --witness-policy FILE`.",
            highlight=False,
            soft_wrap=True,
        )
        return
    new_text, parsed = add_witness(policy_text or "", label, verifier, where=where)
    write_public(policy, new_text)
    console.print(
        f"{'added it to' if policy_text else 'wrote'} {policy} as `witness {label}`; "
        f"quorum: {parsed.describe()}",
        highlight=False,
        soft_wrap=True,
    )
    if parsed.quorum is not None and label not in _counted(parsed, parsed.quorum):
        console.print(
            f"[yellow]note:[/] the quorum line names {escape(parsed.quorum)}, which does not "
            f"include {escape(label)}; edit it for this witness to count",
            highlight=False,
            soft_wrap=True,
        )


def _read_policy_text(path: Path) -> str | None:
    """The policy file's text, or None if there is none yet."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the witness policy {path}: {exc.strerror}") from exc


def _counted(policy: WitnessPolicy, name: str) -> set[str]:
    """The witnesses whose cosignatures count toward the witness or group `name`."""
    if name in policy.witnesses:
        return {name}
    return set().union(*(_counted(policy, member) for member in policy.groups[name].members))


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
