"""Issue a report: assemble, render, sign, and record `report.issued`."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from auditml.errors import ConfigError
from auditml.ledger.ledger import Ledger
from auditml.ledger.note import Note, Verifier
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.assemble import assemble
from auditml.report.identity import SigningIdentity, fingerprint, load_signing_identity
from auditml.report.model import KeyItem, SignerInfo
from auditml.report.render import render_pdf


@dataclass(frozen=True)
class IssuedReport:
    """A report written and recorded: its id, pages, bytes and seconds per stage."""

    report_id: str
    pages: int
    size: int
    seconds: dict[str, float]


def ledger_key_fingerprint(key: Verifier) -> str:
    """SHA-256 of the raw Ed25519 public key, as `auditml keys show` prints it."""
    return hashlib.sha256(key.public_key).hexdigest()


def checkpoint_key_fingerprint(note: str, keys: list[Verifier]) -> str:
    """The fingerprint of the key that signed this checkpoint note ("" if none of `keys`).

    After a rotation the ledger trusts several keys; the cover must name the one that
    signed its checkpoint, not simply the first.
    """
    signed_by = Note.parse(note).verified_by(keys)
    return ledger_key_fingerprint(signed_by[0]) if signed_by else ""


def _key_algorithm(cert: x509.Certificate) -> str:
    """The certificate's key, as a reader of the appendix would name it."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {key.curve.name}"
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey")


def _check_output(out: Path) -> None:
    """Raise ConfigError unless `out` can become the report file: an existing folder, and
    not itself a folder."""
    if not out.parent.is_dir():
        raise ConfigError(f"--output {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise ConfigError(f"--output {out} is a folder; name the PDF file to write")


def issue_report(
    ledger: Ledger,
    out: Path,
    *,
    as_of: datetime,
    policies: Path | None = None,
    system: str | None = None,
    period_from: datetime | None = None,
    period_to: datetime | None = None,
    previous_size: int | None = None,
    tsa_url: str | None = None,
    step: Callable[[str], None] | None = None,
    identity: SigningIdentity | None = None,
) -> IssuedReport:
    """Assemble, render, sign and record one report; say what was issued.

    The signer is `identity`, or the one the ledger's settings name (`auditml init`'s).
    Raises ConfigError or ValidationError before anything is signed or recorded when
    `out` cannot be a report file, `tsa_url` is not an http(s) URL, or the signer is
    unusable. A report stopped part way (an error, SIGTERM, Ctrl-C) leaves nothing in
    `out`'s folder; its work files live in the system's temporary folder.
    """
    # pyHanko takes a fifth of a CLI start: only commands that sign load it.
    from auditml.report.sign import check_signing_key, check_tsa_url, sign_report

    _check_output(out)
    if tsa_url is not None:
        check_tsa_url(tsa_url)
    if identity is None:
        identity = load_signing_identity(ledger.settings)
    check_signing_key(identity)  # before anything is assembled or recorded
    ca = identity.chain[-1] if identity.chain else identity.certificate
    signer: SignerInfo = {
        "name": identity.name,
        "role": identity.role,
        "meaning": identity.meaning,
        "certificate_sha256": fingerprint(identity.certificate),
        "ca_sha256": fingerprint(ca),
    }
    ledger_keys, _ = ledger.verifiers()
    keys: list[KeyItem] = [
        {
            "purpose": "ledger checkpoints"
            + (f" (key id {key.key_id})" if len(ledger_keys) > 1 else ""),
            "algorithm": "Ed25519 (C2SP signed note)",
            "fingerprint": ledger_key_fingerprint(key),
        }
        for key in ledger_keys
    ]
    keys += [
        {
            "purpose": "report signing CA",
            "algorithm": _key_algorithm(ca),
            "fingerprint": fingerprint(ca),
        },
        {
            "purpose": "report signing certificate",
            "algorithm": f"{_key_algorithm(identity.certificate)}, PKCS#1 v1.5 with SHA-256",
            "fingerprint": fingerprint(identity.certificate),
        },
    ]
    rules = load_rules(policies if policies is not None else default_policies_dir())
    started = time.perf_counter()
    assembled = assemble(
        ledger,
        rules,
        as_of=as_of,
        signer=signer,
        keys=keys,
        system=system,
        period_from=period_from,
        period_to=period_to,
        previous_size=previous_size,
        step=step,
    )
    report = assembled.report
    cover = report["checkpoint"]
    cover["key_fingerprint"] = checkpoint_key_fingerprint(cover["note"], ledger_keys)
    seconds = {"assemble": time.perf_counter() - started}
    if step is not None:
        step("rendering the PDF/A-3b")
    # Not in out's folder: a process killed with SIGKILL, which no cleanup survives,
    # leaves its work where the system cleans temporary files, not beside the reports.
    with tempfile.TemporaryDirectory(prefix="auditml-report-") as work:
        unsigned = Path(work) / "unsigned.pdf"
        started = time.perf_counter()
        rendered = render_pdf(report, assembled.evidence, unsigned)
        seconds["render"] = time.perf_counter() - started
        if step is not None:
            step("signing")
        started = time.perf_counter()
        sign_report(unsigned, out, identity, tsa_url=tsa_url)
        seconds["sign"] = time.perf_counter() - started
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    ledger.record(
        "report.issued",
        payload={
            "report_id": report["report_id"],
            "checkpoint_size": report["checkpoint"]["size"],
            "checkpoint_root": report["checkpoint"]["root_hex"],
            "sha256": digest,
        },
    )
    return IssuedReport(report["report_id"], rendered.pages, out.stat().st_size, seconds)
