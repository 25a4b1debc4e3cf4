"""`auditml checkpoint`, `prove`, `verify`, `verify-evidence`: sign, prove and check."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from auditml.cli.output import console, errors, json_on_failure, print_json
from auditml.cli.state import OPTIONS
from auditml.errors import ConfigError, NotFoundError, ValidationError
from auditml.ledger.canonical import parse_json
from auditml.ledger.evidence import verify_evidence as check_evidence
from auditml.ledger.keys import trusted_verifiers, write_public
from auditml.ledger.ledger import VerifyResult


def checkpoint(
    list_all: Annotated[
        bool, typer.Option("--list", help="List checkpoints instead of signing one.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Sign a checkpoint of the ledger as it stands now (C2SP tlog-checkpoint)."""
    with OPTIONS.open_ledger() as ledger:
        rows = ledger.checkpoints() if list_all else [ledger.checkpoint()]
    if json_out:
        print_json([asdict(row) for row in rows] if list_all else asdict(rows[0]))
    elif list_all:
        table = Table(title=f"{len(rows)} checkpoint(s)", title_justify="left")
        for column in ("size", "root", "signed at"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row.size), row.root, row.created_at)
        console.print(table)
    else:
        # Verbatim: a signed note must survive `> file` (rich would wrap its long lines).
        sys.stdout.write(rows[0].note)


def prove(
    event: Annotated[str, typer.Argument(metavar="SEQ|ID", help="The event to prove.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the evidence file.")
    ],
    size: Annotated[
        int | None, typer.Option(help="Prove against the checkpoint of this size.")
    ] = None,
) -> None:
    """Write an evidence file proving that an event is in the signed ledger."""
    with OPTIONS.open_ledger() as ledger:
        ref: int | str = event
        if event.isdigit():  # a seq, unless an event carries these digits as its id
            try:
                ledger.get(event)
            except NotFoundError:
                ref = int(event)
        evidence = ledger.prove(ref, size=size)
    write_public(output, json.dumps(evidence, indent=2, ensure_ascii=False) + "\n")
    item = evidence["events"][0]
    console.print(
        f"wrote {output}: seq {item['seq']} ({item['envelope']['type']}) with a "
        f"{len(item['inclusion_proof'])}-hash inclusion proof; check it with\n"
        f"  auditml verify-evidence {output} --key <ledger verifier key>"
    )


@json_on_failure
def verify(
    deep: Annotated[bool, typer.Option(help="Re-hash every entry and rebuild the tree.")] = False,
    trusted_checkpoint: Annotated[
        Path | None,
        typer.Option(help="Evidence file or signed checkpoint held outside the database."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    witness_policy: Annotated[
        Path | None,
        typer.Option(help="Require a checkpoint cosigned by this policy's witness quorum."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="DIR",
            help="Verify an export directory (auditml export) instead, with no database.",
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(help="With --export: trusted verifier key (vkey or file); repeatable."),
    ] = None,
    trust_database_keys: Annotated[
        bool,
        typer.Option(
            "--trust-database-keys",
            help="With no ledger.vkey in the key directory, check checkpoints with the keys "
            "the database lists (whoever controls the database controls them).",
        ),
    ] = False,
) -> None:
    """Verify the ledger's integrity; exit 1 naming the first bad seq if it is broken.

    Checkpoint keys come from ledger.vkey in the key directory; without it, exit 2
    unless --trust-database-keys is given.
    """
    if export is not None:
        from auditml.cli.portability import verify_export_command

        if trust_database_keys:
            raise ConfigError(
                "--trust-database-keys is for a ledger's database; an export is checked "
                "with --key or the key directory's ledger.vkey"
            )

        verify_export_command(export, key, json_out)
        return
    if key:
        raise ConfigError(
            "--key is for --export DIR; the ledger's keys come from its key directory"
        )
    if witness_policy is not None:
        if trusted_checkpoint is not None:
            raise ConfigError(
                "give --witness-policy or --trusted-checkpoint, not both; run verify once for each"
            )
        _verify_witnessed(
            witness_policy, deep=deep, json_out=json_out, trust_database_keys=trust_database_keys
        )
        return
    with OPTIONS.open_ledger(trust_database_keys=trust_database_keys) as ledger:
        if deep and not json_out:
            with _progress() as bar:
                task = bar.add_task("verifying", total=len(ledger))
                result = ledger.verify(
                    deep=True,
                    trusted_checkpoint=trusted_checkpoint,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = ledger.verify(deep=deep, trusted_checkpoint=trusted_checkpoint)
    _warn_database_keys(result)
    if json_out:
        print_json(
            {
                "ok": True,
                **asdict(result),
                "uncovered": result.uncovered,
                **_database_keys_warning(result),
            }
        )
        return
    console.print(
        f"{_verified(result)} ({result.depth}): {result.size} events, "
        f"{result.checkpoints_verified} checkpoint signature(s) valid, in {result.seconds:.2f} s"
    )
    if result.trusted_checkpoint_size is not None:
        console.print(f"  extends the trusted checkpoint of size {result.trusted_checkpoint_size}")
    if result.uncovered:
        console.print(
            f"  [yellow]{result.uncovered} event(s) after the latest checkpoint are not yet "
            "signed over[/]; run `auditml checkpoint`"
        )
    if result.keys_withheld:
        console.print(
            "  [yellow]restored without its subjects and class keys[/] (export --no-subjects): "
            "whether keys were shredded on the record was not checked"
        )
    console.print(f"  trusted keys from {result.key_source}")


def _verified(result: VerifyResult) -> str:
    if result.keys_from_database:
        return "[bold yellow]verified only against the database's own keys[/]"
    return "[green]verified[/]"


def _database_keys_warning(result: VerifyResult) -> dict[str, str]:
    if not result.keys_from_database:
        return {}
    return {
        "warning": "checkpoint keys were taken from the database (--trust-database-keys), "
        "not from a ledger.vkey held elsewhere: whoever controls the database could have "
        "replaced them and re-signed a rewritten history"
    }


def _warn_database_keys(result: VerifyResult) -> None:
    """Say loudly, on stderr, that the keys checked against came from the database."""
    warning = _database_keys_warning(result).get("warning")
    if warning is not None:
        errors.print(
            f"[bold yellow]WARNING:[/] {warning}. Verify with the ledger.vkey you were given "
            "(--home or AUDITML_HOME naming its directory) to rule that out.",
            highlight=False,
            soft_wrap=True,
        )


def _verify_witnessed(
    policy_file: Path, *, deep: bool, json_out: bool, trust_database_keys: bool
) -> None:
    from auditml.cli.witness import load_policy
    from auditml.ledger.witnessing import verify_with_policy

    policy = load_policy(policy_file)
    with OPTIONS.open_ledger(trust_database_keys=trust_database_keys) as ledger:
        result, found = verify_with_policy(ledger, policy, deep=deep)
    _warn_database_keys(result)
    if json_out:
        witnessed = None if found is None else {"size": found.size, "witnesses": found.witnesses}
        print_json(
            {"ok": True, **asdict(result), "witnessed": witnessed, **_database_keys_warning(result)}
        )
        return
    console.print(
        f"{_verified(result)} ({result.depth}): {result.size} events, "
        f"{result.checkpoints_verified} checkpoint signature(s) valid, in {result.seconds:.2f} s"
    )
    if found is not None:
        console.print(
            f"  extends the checkpoint of size {found.size} cosigned by "
            f"{', '.join(found.witnesses)} (quorum: {policy.describe()})"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


@json_on_failure
def verify_evidence(
    file: Annotated[Path, typer.Argument(help="An auditml.evidence/v1 file.")],
    key: Annotated[
        list[str],
        typer.Option(help="Trusted verifier key (vkey text) or a file of vkeys; repeatable."),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Verify an evidence file offline, with only the ledger's verifier key."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror}") from exc
    document = parse_json(text, where=str(file))
    if not isinstance(document, dict):
        raise ValidationError(f"{file} is not an evidence file (expected a JSON object)")
    result = check_evidence(document, trusted_verifiers(key))
    if json_out:
        print_json(
            {
                "ok": True,
                "origin": result.checkpoint.origin,
                "size": result.checkpoint.size,
                "root": result.checkpoint.root.hex(),
                "signed_by": list(result.signed_by),
                "events_verified": result.events_verified,
                "previous_size": result.previous_size,
            }
        )
        return
    console.print(
        f"[green]valid[/]: {result.events_verified} event(s) included in {result.checkpoint.origin} "
        f"at size {result.checkpoint.size}, checkpoint signed by {', '.join(result.signed_by)}"
    )


def register(app: typer.Typer) -> None:
    app.command()(checkpoint)
    app.command()(prove)
    app.command()(verify)
    app.command("verify-evidence")(verify_evidence)
