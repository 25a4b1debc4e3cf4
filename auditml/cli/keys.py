"""`auditml keys show`: the public keys and fingerprints to hand to auditors out of band."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import typer
from cryptography import x509
from rich.table import Table

from auditml.cli.metavars import Typer
from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS, cli_actor
from auditml.config import load_settings
from auditml.errors import ConfigError
from auditml.report.identity import (
    fingerprint,
    load_signing_certificates,
    rotate_signing_certificate,
)

app = Typer(help="The ledger's keys: show their fingerprints, rotate them.", no_args_is_help=True)


@app.command()
def show(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Print the checkpoint verifier keys (C2SP vkeys), the report-signing certificates and
    their SHA-256 fingerprints."""
    with OPTIONS.open_ledger() as ledger:
        keys, source = ledger.verifiers()
    certificates, problem = _report_certificates()
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
                        # SHA-256 of the raw 32-byte Ed25519 public key.
                        "sha256": hashlib.sha256(k.public_key).hexdigest(),
                    }
                    for k in keys
                ],
                "report_signing": certificates,
                **({"report_signing_problem": problem} if problem else {}),
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
    for key in keys:
        console.print(
            f"ledger key {key.name} sha256 {hashlib.sha256(key.public_key).hexdigest()}",
            soft_wrap=True,
            highlight=False,
        )
    if problem:
        console.print(f"report signing: {problem}", soft_wrap=True, highlight=False)
        return
    certs = Table(title="report-signing certificates", title_justify="left")
    certs.add_column("purpose", no_wrap=True)
    certs.add_column("subject")
    certs.add_column("valid until", no_wrap=True)
    for entry in certificates:
        certs.add_row(entry["purpose"], entry["subject"], entry["not_after"][:10])
    console.print(certs)
    for entry in certificates:
        console.print(
            f"{entry['purpose']} certificate sha256 {entry['sha256']}",
            soft_wrap=True,
            highlight=False,
        )


def _report_certificates() -> tuple[list[dict[str, Any]], str | None]:
    """The signing certificate and its issuers (the last is the CA), or a problem to show."""
    settings = load_settings(url=OPTIONS.url, key_dir=OPTIONS.home)
    try:
        cert, chain = load_signing_certificates(settings)
    except ConfigError as exc:
        return [], str(exc)
    rows = [_describe(cert, "signing")]
    rows += [
        _describe(c, "ca" if i == len(chain) - 1 else "intermediate") for i, c in enumerate(chain)
    ]
    return rows, None


def _describe(cert: x509.Certificate, purpose: str) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "subject": cert.subject.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": fingerprint(cert),
    }


@app.command()
def rotate(
    report_signing: Annotated[
        bool,
        typer.Option(
            "--report-signing",
            help="Rotate the report-signing certificate instead of the ledger key.",
        ),
    ] = False,
) -> None:
    """Replace the ledger key (or the report-signing certificate) and record key.rotated.

    The ledger key: the old key signs a checkpoint covering key.rotated, vouching for the
    new one; older checkpoints stay verifiable, and the old key can sign nothing new.
    Give auditors the new vkey (ledger.vkey lists both).
    """
    with OPTIONS.open_ledger() as ledger:
        if report_signing:
            cert = rotate_signing_certificate(ledger.settings)
            receipt = ledger.record(
                "key.rotated",
                payload={"key_id": fingerprint(cert), "purpose": "report signing certificate"},
                actor=cli_actor(),
            )
            console.print(
                f"[green]rotated[/] the report-signing certificate; key.rotated seq {receipt.seq}"
            )
            console.print(f"  new certificate sha256 {fingerprint(cert)}", highlight=False)
            return
        receipt, verifier = ledger.rotate_key(actor=cli_actor())
    console.print(
        f"[green]rotated[/] the ledger key: key.rotated seq {receipt.seq}, vouched for by a "
        "checkpoint signed with the old key"
    )
    console.print(f"  new verifier key {verifier.to_vkey()}", soft_wrap=True, highlight=False)
    console.print("Give the new verifier key to your auditors out of band, as with the first.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
