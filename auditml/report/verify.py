"""Verify a signed report offline: the PDF signature, the evidence inside, and the ledger.

Checks, each reported by name in `ReportVerification.checks` and, when it fails, in
`problems` as "<check>: what is wrong":

- `signature`: exactly one PDF signature; pyHanko finds it intact (the digest matches) and
  valid (the CMS signature verifies under the embedded signer certificate).
- `coverage`: the signature covers the entire file (pyHanko SignatureCoverageLevel
  ENTIRE_FILE), so a changed or appended byte anywhere fails.
- `trust`: with `trust` given, the signer certificate chains to one of those CAs
  (pyhanko-certvalidator, offline, no revocation fetching). Without `trust` this check is
  a warning ("not checked against a trusted CA") and does not make `ok` False: the caller
  who passes no CA asks only whether the report is intact and self-consistent, and
  `not_checked` says that who signed it was not checked.
- `timestamp`: when the signature carries an RFC 3161 timestamp (PAdES B-T), it is intact;
  `signed_at` is its time. A TSA that does not chain to `trust` is a warning.
- `evidence`: `evidence.json` is extracted from the embedded files and `verify_evidence`
  passes (inclusion proofs and the checkpoint signature). The checkpoint keys are `vkeys`
  when given (then only those are accepted), otherwise the keys listed inside the evidence
  file (`evidence_keys` says which). Those keys prove only that the file agrees with
  itself, so the check is then a warning and `not_checked` says that the checkpoint key
  was not checked against the ledger's.
- `keywords`: the document info Keywords `auditml report {id}; tree size {n}; root {hex}`
  state the same tree size and root as the evidence checkpoint.
- `ledger`: with `ledger` given, its latest checkpoint (verified with `vkeys` when given,
  else the key directory's ledger.vkey) is for the same origin and a consistency proof
  shows it extends the report's checkpoint; a rewritten or truncated ledger fails.

`ok` is True when no check failed; `verified` only when, besides, the signer was checked
against a CA and the checkpoint against a ledger key that the caller supplied.
`verify_report` never raises for an invalid report; it raises (ValidationError /
NotFoundError) only when the input is not a PDF or is missing, ConfigError when `ledger`
has no verifier key to check its checkpoints with.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from auditml.errors import (
    AuditmlError,
    ConfigError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)
from auditml.ledger import merkle
from auditml.ledger.evidence import EvidenceResult, verify_evidence
from auditml.ledger.note import Checkpoint, Verifier, open_checkpoint

if TYPE_CHECKING:
    from auditml.ledger.ledger import Ledger

EVIDENCE_NAME = "evidence.json"

# pyHanko logs an untrusted chain as an ERROR with a traceback; auditml reports it as a
# problem instead. A NullHandler keeps Python's last-resort handler from printing it to
# stderr when the application configured no logging (configured handlers still see it).
logging.getLogger("pyhanko").addHandler(logging.NullHandler())
KEYWORDS_PATTERN = re.compile(
    r"^auditml report (?P<id>\S+); tree size (?P<size>\d+); root (?P<root>[0-9a-f]{64})$"
)
PASS, FAIL, WARN, SKIP = "pass", "fail", "warning", "skipped"


@dataclass(frozen=True)
class ReportVerification:
    """What verifying a signed report established. `problems` is empty exactly when `ok`."""

    ok: bool
    signer_name: str | None
    signer_role: str | None
    meaning: str | None
    #: The RFC 3161 timestamp's time (PAdES B-T); None for a B-B signature.
    signed_at: datetime | None
    #: The signing time the signer claims (unverified without a timestamp).
    claimed_signing_time: datetime | None
    signature_status: str
    #: SHA-256 of the signer certificate (DER), lowercase hex.
    certificate_sha256: str | None
    signer_subject: str | None
    trusted: bool | None
    report_id: str | None
    tree_size: int | None
    root_hex: str | None
    origin: str | None
    events_proven: int | None
    evidence_sha256: str | None
    evidence_keys: str | None
    ledger_size: int | None
    #: (check name, "pass" | "fail" | "warning" | "skipped") in the order run.
    checks: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    #: What was not checked against a key the caller supplied (no `trust`, no `vkeys`).
    not_checked: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        """No check failed, and the signer and the checkpoint were checked against a CA
        and a ledger key the caller supplied (not only against what the file carries)."""
        return self.ok and not self.not_checked


#: `not_checked` entries, with the option of `auditml verify-report` that checks each.
NOT_CHECKED_SIGNER = (
    "who signed it: the signer certificate was not checked against a CA you trust "
    "(pass --trust with the organisation's report-ca.pem)"
)
NOT_CHECKED_LEDGER_KEY = (
    "whose ledger it is: the checkpoint signature was checked only with the keys listed in "
    "the report's own evidence.json, not with the ledger key you were given (pass --key "
    "with its ledger.vkey)"
)


class _Findings:
    def __init__(self) -> None:
        self.checks: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def passed(self, name: str) -> None:
        self.checks.setdefault(name, PASS)

    def fail(self, name: str, message: str) -> None:
        self.checks[name] = FAIL
        self.problems.append(f"{name}: {message}")

    def warn(self, name: str, message: str) -> None:
        if self.checks.get(name) != FAIL:
            self.checks[name] = WARN
        self.warnings.append(f"{name}: {message}")

    def skip(self, name: str, message: str) -> None:
        self.checks.setdefault(name, SKIP)
        self.warnings.append(f"{name}: not checked ({message})")


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _role(status: PdfSignatureStatus) -> str | None:
    attrs = status.cades_signer_attrs
    if attrs is None or "role" not in attrs.claimed_attrs:
        return None
    names: list[str] = []
    for value in attrs.claimed_attrs["role"].attr_values:
        try:
            chosen = value["role_name"].chosen
            native = chosen.native
        except (KeyError, ValueError, AttributeError):
            continue
        if isinstance(native, dict):
            names.extend(str(v) for v in native.values())
        elif native is not None:
            names.append(str(native))
    return ", ".join(names) or None


def _name_tree_items(node: object, depth: int = 0) -> list[tuple[str, Any]]:
    """Flatten a PDF name tree (ISO 32000 7.9.6) into (name, value) pairs."""
    if depth > 32 or not isinstance(node, generic.DictionaryObject):
        return []
    items: list[tuple[str, Any]] = []
    names = node.get("/Names")
    if isinstance(names, generic.ArrayObject):
        for i in range(0, len(names) - 1, 2):
            items.append((str(names[i]), names[i + 1]))
    kids = node.get("/Kids")
    if isinstance(kids, generic.ArrayObject):
        for kid in kids:
            items.extend(_name_tree_items(kid.get_object(), depth + 1))
    return items


def _embedded_evidence(reader: PdfFileReader) -> tuple[bytes, str | None]:
    """Return the bytes of the single embedded evidence.json and its AFRelationship.

    Raises IntegrityError if there is none or more than one.
    """
    root = reader.root
    found: list[tuple[bytes, str | None]] = []
    names = root.get("/Names")
    tree = names.get("/EmbeddedFiles") if isinstance(names, generic.DictionaryObject) else None
    for key, spec_obj in _name_tree_items(tree.get_object() if tree is not None else None):
        spec = spec_obj.get_object()
        if not isinstance(spec, generic.DictionaryObject):
            continue
        file_name = str(spec.get("/UF", spec.get("/F", key)))
        if file_name != EVIDENCE_NAME and key != EVIDENCE_NAME:
            continue
        ef = spec.get("/EF")
        stream = ef.get("/F") if isinstance(ef, generic.DictionaryObject) else None
        stream = stream.get_object() if stream is not None else None
        if not isinstance(stream, generic.StreamObject):
            raise IntegrityError(f"the {EVIDENCE_NAME} file specification has no embedded data")
        relationship = spec.get("/AFRelationship")
        found.append((stream.data, str(relationship) if relationship is not None else None))
    if not found:
        raise IntegrityError(f"the report has no embedded {EVIDENCE_NAME}")
    if len(found) > 1:
        raise IntegrityError(f"the report embeds {len(found)} files named {EVIDENCE_NAME}")
    return found[0]


def _trusted_keys(doc: Any, vkeys: Sequence[str]) -> tuple[list[Verifier], str]:
    if vkeys:
        return [Verifier.from_vkey(v) for v in vkeys], "the verifier keys given by the caller"
    listed = doc.get("verifier_keys") if isinstance(doc, dict) else None
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        raise ValidationError("the evidence file lists no verifier_keys")
    return (
        [Verifier.from_vkey(v) for v in listed],
        "the verifier keys listed in the evidence file (covered by the PDF signature)",
    )


def _check_signature(
    reader: PdfFileReader,
    trust: Sequence[x509.Certificate],
    f: _Findings,
) -> tuple[EmbeddedPdfSignature | None, PdfSignatureStatus | None]:
    sigs = list(reader.embedded_signatures)
    if len(sigs) != 1:
        f.fail("signature", f"expected exactly one signature, found {len(sigs)}")
        return None, None
    sig = sigs[0]
    # Without a trust list, the chain is still built (to the self-issued root the CMS
    # embeds) so a malformed chain shows, but that proves nothing about who signed.
    roots = (
        [_asn1(c) for c in trust]
        if trust
        else [c for c in sig.other_embedded_certs if c.subject == c.issuer]
    )
    context = ValidationContext(
        trust_roots=roots,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    usage = KeyUsageConstraints(
        key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
    )
    try:
        status = validate_pdf_signature(
            sig, signer_validation_context=context, key_usage_settings=usage, skip_diff=True
        )
    except Exception as exc:  # pyHanko raises many types for malformed CMS; all mean invalid
        f.fail("signature", f"the signature cannot be validated: {type(exc).__name__}: {exc}")
        return sig, None
    if not status.intact:
        f.fail("signature", "the signed bytes were changed (the document digest does not match)")
    elif not status.valid:
        f.fail("signature", "the CMS signature does not verify under the signer certificate")
    else:
        f.passed("signature")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        level = status.coverage.name if status.coverage is not None else "unknown"
        f.fail(
            "coverage",
            f"the signature does not cover the entire file (coverage {level}): "
            "bytes were added or changed outside the signed range",
        )
    else:
        f.passed("coverage")
    if not (status.intact and status.valid):
        f.skip("trust", "the signature itself does not verify")
    elif trust:
        if status.trusted:
            f.passed("trust")
        else:
            f.fail(
                "trust",
                f"the signer certificate ({status.signing_cert.subject.human_friendly}) does "
                "not chain to a trusted CA"
                + (f" ({status.trust_problem_indic})" if status.trust_problem_indic else ""),
            )
    else:
        f.warn("trust", "not checked against a trusted CA (pass the organisation CA)")
        if not status.trusted:
            f.warn("trust", "the embedded certificates do not form a chain to a root")
    ts = status.timestamp_validity
    if ts is not None:
        if not (ts.intact and ts.valid):
            f.fail("timestamp", "the signature timestamp token does not verify")
        elif trust and not ts.trusted:
            f.warn("timestamp", "the timestamp authority does not chain to a trusted CA")
        else:
            f.passed("timestamp")
    return sig, status


def _check_evidence(
    reader: PdfFileReader, vkeys: Sequence[str], f: _Findings
) -> tuple[bytes | None, EvidenceResult | None, str | None]:
    try:
        data, relationship = _embedded_evidence(reader)
    except (IntegrityError, ValueError, KeyError, TypeError, AttributeError) as exc:
        f.fail("evidence", str(exc) or f"cannot extract {EVIDENCE_NAME}")
        return None, None, None
    if relationship != "/Data":
        f.warn("evidence", f"{EVIDENCE_NAME} has AFRelationship {relationship}, not /Data")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        f.fail("evidence", f"{EVIDENCE_NAME} is not JSON: {exc}")
        return data, None, None
    try:
        keys, source = _trusted_keys(doc, vkeys)
    except AuditmlError as exc:
        if vkeys:
            raise
        f.fail("evidence", str(exc))
        return data, None, None
    try:
        result = verify_evidence(doc, keys)
    except AuditmlError as exc:
        f.fail("evidence", f"{type(exc).__name__}: {exc}")
        return data, None, source
    if vkeys:
        f.passed("evidence")
    else:
        f.warn(
            "evidence",
            "the checkpoint was checked only with keys listed in the same file, not with "
            "a ledger key you supplied (pass --key)",
        )
    return data, result, source


def _check_keywords(
    reader: PdfFileReader, checkpoint: Checkpoint | None, f: _Findings
) -> tuple[str | None, int | None, str | None]:
    info = reader.trailer_view.get("/Info")
    info = info.get_object() if info is not None else None
    keywords = info.get("/Keywords") if isinstance(info, generic.DictionaryObject) else None
    match = KEYWORDS_PATTERN.match(str(keywords)) if keywords is not None else None
    if match is None:
        f.fail("keywords", f"the document Keywords are not an auditml report line: {keywords!r}")
        return None, None, None
    report_id, size, root = match["id"], int(match["size"]), match["root"]
    if checkpoint is None:
        f.skip("keywords", "the evidence checkpoint did not verify")
    elif (size, root) != (checkpoint.size, checkpoint.root.hex()):
        f.fail(
            "keywords",
            f"the report states tree size {size} root {root} but the evidence checkpoint is "
            f"tree size {checkpoint.size} root {checkpoint.root.hex()}",
        )
    else:
        f.passed("keywords")
    return report_id, size, root


def _check_ledger(
    ledger: Ledger, checkpoint: Checkpoint, vkeys: Sequence[str], f: _Findings
) -> int | None:
    try:
        # The keys the caller gave, else the key directory's ledger.vkey, and the
        # rotations they vouch for.
        keys, _ = ledger.verifiers([Verifier.from_vkey(v) for v in vkeys])
        latest = ledger.latest_checkpoint()
        if latest is None:
            f.fail("ledger", "the ledger has no checkpoint")
            return None
        current = open_checkpoint(latest.note, keys)
        if current.origin != checkpoint.origin:
            f.fail(
                "ledger",
                f"the report is for ledger {checkpoint.origin!r}, not {current.origin!r}",
            )
            return current.size
        if current.size < checkpoint.size:
            f.fail(
                "ledger",
                f"the ledger's latest checkpoint (size {current.size}) is older than the "
                f"report's (size {checkpoint.size}): the ledger was truncated or rolled back",
            )
            return current.size
        proof = ledger.consistency_proof(checkpoint.size, current.size)
        merkle.verify_consistency(
            checkpoint.size, current.size, proof, checkpoint.root, current.root
        )
    except ConfigError:
        raise  # no key to check the ledger with: the caller's to fix, not a failed report
    except AuditmlError as exc:
        f.fail(
            "ledger",
            f"the live ledger does not extend the report's checkpoint (size "
            f"{checkpoint.size}): {type(exc).__name__}: {exc}",
        )
        return None
    f.passed("ledger")
    return current.size


def verify_report(
    path: Path,
    *,
    trust: Sequence[x509.Certificate] = (),
    vkeys: Sequence[str] = (),
    ledger: Ledger | None = None,
) -> ReportVerification:
    """Verify a signed report; see the module docstring for the checks.

    Raises NotFoundError if `path` does not exist, ValidationError if it is not a PDF or
    a vkey in `vkeys` is malformed. Every problem with the report itself is returned.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"no report at {path}") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read the report {path}: {exc.strerror}") from exc
    if not data.startswith(b"%PDF-"):
        raise ValidationError(f"{path} is not a PDF (it does not start with %PDF-)")
    for v in vkeys:
        Verifier.from_vkey(v)  # a malformed key is the caller's error: raise now

    f = _Findings()
    sig: EmbeddedPdfSignature | None = None
    status: PdfSignatureStatus | None = None
    reader: PdfFileReader | None = None
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sig, status = _check_signature(reader, trust, f)
    except Exception as exc:  # a damaged PDF is an invalid report, not unusable input
        f.fail("signature", f"the PDF cannot be read: {type(exc).__name__}: {exc}")

    evidence_bytes: bytes | None = None
    result: EvidenceResult | None = None
    key_source: str | None = None
    report_id = size = root = None
    ledger_size = None
    if reader is not None:
        try:
            evidence_bytes, result, key_source = _check_evidence(reader, vkeys, f)
        except AuditmlError:
            raise
        except Exception as exc:
            f.fail("evidence", f"cannot read the embedded files: {type(exc).__name__}: {exc}")
        checkpoint = result.checkpoint if result is not None else None
        try:
            report_id, size, root = _check_keywords(reader, checkpoint, f)
        except Exception as exc:
            f.fail("keywords", f"cannot read the document info: {type(exc).__name__}: {exc}")
        if ledger is not None:
            if checkpoint is None:
                f.fail("ledger", "not compared: the report's evidence checkpoint did not verify")
            else:
                ledger_size = _check_ledger(ledger, checkpoint, vkeys, f)
    else:
        f.fail("evidence", "not checked: the PDF cannot be read")

    sig_dict = sig.sig_object if sig is not None else None
    cert = status.signing_cert if status is not None else None
    ts = status.timestamp_validity if status is not None else None
    checkpoint = result.checkpoint if result is not None else None
    return ReportVerification(
        ok=not f.problems,
        signer_name=_text(sig_dict.get("/Name")) if sig_dict is not None else None,
        signer_role=_role(status) if status is not None else None,
        meaning=_text(sig_dict.get("/Reason")) if sig_dict is not None else None,
        signed_at=ts.timestamp if ts is not None else None,
        claimed_signing_time=status.signer_reported_dt if status is not None else None,
        signature_status=status.summary() if status is not None else "UNREADABLE",
        certificate_sha256=cert.sha256.hex() if cert is not None else None,
        signer_subject=cert.subject.human_friendly if cert is not None else None,
        trusted=(bool(status.trusted) if status is not None else False) if trust else None,
        report_id=report_id,
        tree_size=checkpoint.size if checkpoint is not None else size,
        root_hex=checkpoint.root.hex() if checkpoint is not None else root,
        origin=checkpoint.origin if checkpoint is not None else None,
        events_proven=result.events_verified if result is not None else None,
        evidence_sha256=hashlib.sha256(evidence_bytes).hexdigest()
        if evidence_bytes is not None
        else None,
        evidence_keys=key_source,
        ledger_size=ledger_size,
        checks=tuple(f.checks.items()),
        problems=tuple(f.problems),
        warnings=tuple(f.warnings),
        not_checked=tuple(
            what
            for what, given in ((NOT_CHECKED_SIGNER, trust), (NOT_CHECKED_LEDGER_KEY, vkeys))
            if not given
        ),
    )
