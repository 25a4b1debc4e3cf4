"""`auditml keys show`: the public keys and fingerprints to hand to auditors out of band."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from rich.markup import escape

from auditml.cli.metavars import Typer
from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS, cli_actor
from auditml.config import Settings, load_settings
from auditml.errors import ConfigError
from auditml.ledger.keys import LEDGER_VKEY_FILE, load_vkey_file
from auditml.ledger.note import Verifier
from auditml.report.identity import (
    CA_CERT_FILE,
    SIGNING_CERT_FILE,
    fingerprint,
    load_certificate,
    load_signing_certificates,
    rotate_signing_certificate,
)

app = Typer(help="The ledger's keys: show their fingerprints, rotate them.", no_args_is_help=True)

#: What each fingerprint is a hash of, and the standard command that reproduces it
#: (docs/VERIFYING.md section 6); {file} is the file it was read from.
#: Everything after the second "+" is the base64 (which may itself hold "+"): one algorithm
#: byte, then the 32-byte Ed25519 key.
LEDGER_KEY_RECIPE = "cut -d+ -f3- {file}| base64 -d | tail -c 32 | sha256sum"
CERTIFICATE_RECIPE = "openssl x509 -in {file} -outform DER | sha256sum"
CERTIFICATE_TITLES = {
    "ca": "report-signing CA",
    "intermediate": "intermediate CA",
    "signing": "report-signing certificate",
}


def grouped(hex_digest: str) -> list[str]:
    """A SHA-256 in groups of four hex digits, eight groups a line, for reading aloud."""
    groups = [hex_digest[i : i + 4] for i in range(0, len(hex_digest), 4)]
    return [" ".join(groups[i : i + 8]) for i in range(0, len(groups), 8)]


@app.command()
def show(
    vkey: Annotated[
        list[Path] | None,
        typer.Option(
            "--vkey", metavar="FILE", help="A ledger verifier key file (ledger.vkey); repeatable."
        ),
    ] = None,
    ca: Annotated[
        list[Path] | None,
        typer.Option("--ca", metavar="PEM", help="A CA certificate (report-ca.pem); repeatable."),
    ] = None,
    cert: Annotated[
        list[Path] | None,
        typer.Option("--cert", metavar="PEM", help="A report-signing certificate; repeatable."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the checkpoint verifier keys (C2SP vkeys), the report-signing certificates and
    their SHA-256 fingerprints, grouped for reading aloud.

    With --vkey, --ca or --cert, only those files are read (no ledger needed): what an
    auditor runs on the files received. Otherwise the ledger's keys (its key directory's
    ledger.vkey and the rotations it vouches for) and its report-signing certificates.
    """
    keys: list[tuple[Verifier, Path | None]]
    if vkey or ca or cert:
        source = "the files given"
        keys = [(key, path) for path in vkey or () for key in _vkeys(path)]
        certificates = [_describe(load_certificate(p), "ca", str(p)) for p in ca or ()]
        certificates += [_describe(load_certificate(p), "signing", str(p)) for p in cert or ()]
        problem = None
    else:
        with OPTIONS.open_ledger() as ledger:
            found, source = ledger.verifiers()
            vkey_file = ledger.settings.key_dir / LEDGER_VKEY_FILE
        in_file = load_vkey_file(vkey_file)
        # A key the rotations vouch for is not in the file: it is shown as its vkey alone.
        keys = [(key, vkey_file if key in in_file else None) for key in found]
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
                        "sha256": _key_sha256(k),
                        "file": None if file is None else str(file),
                    }
                    for k, file in keys
                ],
                "report_signing": certificates,
                **({"report_signing_problem": problem} if problem else {}),
            }
        )
        return
    for key, file in keys:
        _print_fingerprint(
            f"ledger key {key.name} (key id {key.key_id}, "
            f"{'from ' + str(file) if file else 'vouched for by a key rotation'})",
            _key_sha256(key),
            "the raw 32-byte Ed25519 public key",
            _key_recipe(key, file),
            vkey=key.to_vkey(),
        )
    if problem:
        console.print(f"report signing: {escape(problem)}", soft_wrap=True, highlight=False)
    for entry in certificates:
        _print_fingerprint(
            f"{CERTIFICATE_TITLES[entry['purpose']]} {entry['subject']} (valid until "
            f"{entry['not_after'][:10]}, from {entry['file'] or 'the configured files'})",
            entry["sha256"],
            "the certificate's DER form",
            CERTIFICATE_RECIPE.format(file=entry["file"] or "CERT.pem"),
        )


def _print_fingerprint(
    title: str, sha256: str, of_what: str, recipe: str, *, vkey: str | None = None
) -> None:
    out = console.print
    out(f"[bold]{escape(title)}[/]", soft_wrap=True, highlight=False)
    if vkey is not None:
        out(f"  vkey    {vkey}", soft_wrap=True, highlight=False)
    lines = grouped(sha256)
    out(f"  sha256  {lines[0]}", highlight=False)
    for line in lines[1:]:
        out(f"          {line}", highlight=False)
    out(f"  [dim]SHA-256 of {of_what}; reproduce: {escape(recipe)}[/]", soft_wrap=True)


def _key_recipe(key: Verifier, file: Path | None) -> str:
    """The shell pipeline that prints this key's fingerprint from its vkey line."""
    lines = [k.to_vkey() for k in load_vkey_file(file)] if file is not None else []
    if key.to_vkey() not in lines:
        return f"echo '{key.to_vkey()}' | {LEDGER_KEY_RECIPE.format(file='')}"
    if len(lines) == 1:
        return LEDGER_KEY_RECIPE.format(file=f"{file} ")
    line = lines.index(key.to_vkey()) + 1
    return f"sed -n {line}p {file} | {LEDGER_KEY_RECIPE.format(file='')}"


def _key_sha256(key: Verifier) -> str:
    return hashlib.sha256(key.public_key).hexdigest()


def _vkeys(path: Path) -> list[Verifier]:
    keys = load_vkey_file(path)
    if not keys:
        raise ConfigError(f"{path} holds no verifier key; expected lines like NAME+KEYID+BASE64")
    return keys


def _report_certificates() -> tuple[list[dict[str, Any]], str | None]:
    """The signing certificate and its issuers (the last is the CA), or a problem to show."""
    settings = load_settings(url=OPTIONS.url, key_dir=OPTIONS.home)
    try:
        cert, chain = load_signing_certificates(settings)
    except ConfigError as exc:
        return [], str(exc)
    own = _own_certificates(settings)
    rows = [_describe(cert, "signing", None if own else str(settings.key_dir / SIGNING_CERT_FILE))]
    for i, issuer in enumerate(chain):
        last = i == len(chain) - 1
        file = None if own or not last else str(settings.key_dir / CA_CERT_FILE)
        rows.append(_describe(issuer, "ca" if last else "intermediate", file))
    return rows, None


def _own_certificates(settings: Settings) -> bool:
    """Whether reports are signed with certificates from auditml.toml, not the key directory's."""
    return settings.signer_pkcs12 is not None or settings.signer_cert is not None


def _describe(cert: x509.Certificate, purpose: str, file: str | None) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "subject": cert.subject.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": fingerprint(cert),
        "file": file,
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
