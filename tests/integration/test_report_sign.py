"""Signing and verifying reports with real crypto: pyHanko signs, pyHanko's validator checks."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import weasyprint
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from conftest import deployed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps import DummyTimeStamper

from auditml import AuditmlError, ConfigError, Ledger
from auditml.config import Settings
from auditml.report.identity import (
    CA_KEY_FILE,
    SIGNING_CERT_FILE,
    SIGNING_KEY_FILE,
    SigningIdentity,
    create_signing_identity,
    load_signing_identity,
    rotate_signing_certificate,
)
from auditml.report.sign import TimestampError, sign_report
from auditml.report.verify import verify_report

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Bank"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(**on: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(on)
    return x509.KeyUsage(**flags)


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    cn: str,
    key: Any = None,
    *,
    tsa: bool = False,
) -> tuple[Any, x509.Certificate]:
    # RSA, as auditml's own signing keys (ECDSA would make the report PDF 2.0: ADR 0006).
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=3072)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if tsa:
        builder = builder.add_extension(
            _usage(digital_signature=True, content_commitment=True), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    else:
        builder = builder.add_extension(
            _usage(digital_signature=True, content_commitment=True), critical=True
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def make_identity(ca_name: str) -> tuple[SigningIdentity, x509.Certificate, Any]:
    ca_key, ca = make_ca(ca_name)
    key, cert = issue(ca_key, ca, "Jane Roe")
    identity = SigningIdentity(
        key=key,
        certificate=cert,
        chain=(ca,),
        name="Jane Roe",
        role="Data Protection Officer",
        meaning="Reviewed and approved as a complete record",
    )
    return identity, ca, ca_key


@pytest.fixture(scope="module")
def pki() -> tuple[SigningIdentity, x509.Certificate, Any]:
    return make_identity("Example Bank Report CA")


def build_ledger(directory: Path, versions: list[str]) -> Ledger:
    ledger = Ledger.create(
        f"sqlite:///{directory / 'l.db'}", origin="test.example/l", key_dir=directory / "keys"
    )
    for version in versions:
        ledger.record("model.deployed", payload=deployed(version))
    return ledger


def render(
    path: Path,
    evidence: dict[str, Any],
    *,
    report_id: str = "r-2026-001",
    keywords: str | None = None,
    filler_kb: int = 0,
) -> Path:
    from auditml.ledger.evidence import checkpoint_from_document
    from auditml.ledger.note import Checkpoint, Note

    checkpoint = Checkpoint.from_text(Note.parse(checkpoint_from_document(evidence)).text)
    if keywords is None:
        keywords = (
            f"auditml report {report_id}; tree size {checkpoint.size}; root {checkpoint.root.hex()}"
        )
    filler = "".join(f"<p>Finding {i}: {'x' * 900}</p>" for i in range(filler_kb))
    html = (
        f'<html><head><title>Report {report_id}</title><meta name="keywords" content="{keywords}">'
        f"</head><body><h1>Compliance report {report_id}</h1>{filler}</body></html>"
    )
    weasyprint.HTML(string=html).write_pdf(
        path,
        pdf_variant="pdf/a-3b",
        attachments=[
            weasyprint.Attachment(
                string=json.dumps(evidence), name="evidence.json", relationship="Data"
            )
        ],
    )
    return path


@pytest.fixture
def world(tmp_path: Path, pki: Any) -> Iterator[dict[str, Any]]:
    identity, ca, _ = pki
    ledger = build_ledger(tmp_path / "a", ["1.0", "1.1", "1.2"])
    evidence = ledger.prove_many([0, 1, 2])
    unsigned = render(tmp_path / "unsigned.pdf", evidence)
    signed = tmp_path / "signed.pdf"
    sign_report(unsigned, signed, identity)
    yield {
        "ledger": ledger,
        "evidence": evidence,
        "unsigned": unsigned,
        "signed": signed,
        "identity": identity,
        "ca": ca,
        "tmp": tmp_path,
    }
    ledger.close()


def failed(result: Any) -> dict[str, str]:
    return {name: state for name, state in result.checks if state == "fail"}


def ledger_vkeys(world: dict[str, Any]) -> list[str]:
    """The ledger key as an auditor has it: the ledger.vkey sent out of band."""
    return (world["tmp"] / "a" / "keys" / "ledger.vkey").read_text().split()


def test_signed_report_verifies(world: dict[str, Any]) -> None:
    result = verify_report(
        world["signed"], trust=[world["ca"]], vkeys=ledger_vkeys(world), ledger=world["ledger"]
    )
    assert result.ok, result.problems
    assert result.verified and result.not_checked == ()
    assert result.problems == ()
    assert result.signer_name == "Jane Roe"
    assert result.signer_role == "Data Protection Officer"
    assert result.meaning == "Reviewed and approved as a complete record"
    assert result.trusted is True
    assert result.report_id == "r-2026-001"
    assert result.tree_size == 3 and result.events_proven == 3
    assert result.ledger_size == 3
    assert result.signed_at is None  # B-B: no timestamp
    fingerprint = world["identity"].certificate.fingerprint(hashes.SHA256()).hex()
    assert result.certificate_sha256 == fingerprint
    assert dict(result.checks) == {
        "signature": "pass",
        "coverage": "pass",
        "trust": "pass",
        "evidence": "pass",
        "keywords": "pass",
        "ledger": "pass",
    }
    assert result.evidence_keys == "the verifier keys given by the caller"


def test_without_trust_and_key_it_is_only_self_consistent(world: dict[str, Any]) -> None:
    result = verify_report(world["signed"])
    assert result.ok and not result.verified  # nothing wrong found, nothing tied to a key
    assert result.trusted is None
    assert dict(result.checks)["trust"] == "warning"
    assert dict(result.checks)["evidence"] == "warning"
    assert any("not checked against a trusted CA" in w for w in result.warnings)
    assert "evidence file" in (result.evidence_keys or "")
    assert [item.split(":")[0] for item in result.not_checked] == [
        "who signed it",
        "whose ledger it is",
    ]
    # Each missing key is named on its own; with both, the report is verified.
    only_ca = verify_report(world["signed"], trust=[world["ca"]])
    assert only_ca.ok and [i.split(":")[0] for i in only_ca.not_checked] == ["whose ledger it is"]
    only_key = verify_report(world["signed"], vkeys=ledger_vkeys(world))
    assert only_key.ok and [i.split(":")[0] for i in only_key.not_checked] == ["who signed it"]
    assert verify_report(world["signed"], trust=[world["ca"]], vkeys=ledger_vkeys(world)).verified


def test_the_ledger_check_uses_the_key_given_when_the_key_directory_has_none(
    world: dict[str, Any], tmp_path: Path
) -> None:
    url = f"sqlite:///{world['tmp'] / 'a' / 'l.db'}"
    with Ledger.open(url, key_dir=tmp_path / "empty") as ledger:
        with pytest.raises(AuditmlError, match="no ledger verifier key"):
            verify_report(world["signed"], ledger=ledger)  # exit 2, not a failed report
        result = verify_report(world["signed"], vkeys=ledger_vkeys(world), ledger=ledger)
    assert result.ok, result.problems
    assert dict(result.checks)["ledger"] == "pass"


def test_vkeys_restrict_the_checkpoint_keys(world: dict[str, Any], tmp_path: Path) -> None:
    own = world["evidence"]["verifier_keys"]
    assert verify_report(world["signed"], vkeys=own).evidence_keys == (
        "the verifier keys given by the caller"
    )
    other = build_ledger(tmp_path / "other", ["9"])
    try:
        result = verify_report(world["signed"], vkeys=other.prove(0)["verifier_keys"])
    finally:
        other.close()
    assert not result.ok
    assert "evidence" in failed(result)


def test_signed_file_keeps_pdfa_and_attachment(world: dict[str, Any]) -> None:
    signed: Path = world["signed"]
    unsigned: Path = world["unsigned"]
    assert signed.read_bytes().startswith(unsigned.read_bytes())  # incremental update
    with pikepdf.open(signed) as pdf:
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3"
        assert meta.get("pdfaid:conformance") == "B"
        assert str(pdf.docinfo["/Producer"]) == meta.get("pdf:Producer")
        assert "evidence.json" in pdf.attachments
        spec = pdf.attachments["evidence.json"]
        assert json.loads(spec.get_file().read_bytes()) == world["evidence"]
        assert str(pdf.docinfo["/Keywords"]).startswith("auditml report r-2026-001; tree size 3")
        sig = pdf.Root.AcroForm.Fields[0].V
        assert sig.SubFilter == "/ETSI.CAdES.detached"


def test_pyhanko_cli_validates(world: dict[str, Any]) -> None:
    # What a regulator runs (docs/VERIFYING.md); the dev extra installs pyhanko-cli.
    ca_pem = world["tmp"] / "ca.pem"
    ca_pem.write_bytes(world["ca"].public_bytes(serialization.Encoding.PEM))
    cli = Path(sys.executable).parent / "pyhanko"
    assert cli.exists(), "pyhanko-cli is missing: install the dev extra"
    done = subprocess.run(
        [
            str(cli),
            "sign",
            "validate",
            "--trust",
            str(ca_pem),
            "--trust-replace",
            str(world["signed"]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTACT:TRUSTED,UNTOUCHED" in done.stdout


def test_one_changed_byte_fails(world: dict[str, Any]) -> None:
    data = bytearray(world["signed"].read_bytes())
    middle = len(world["unsigned"].read_bytes()) // 2
    data[middle] ^= 0x01
    world["signed"].write_bytes(bytes(data))
    result = verify_report(world["signed"], trust=[world["ca"]])
    assert not result.ok
    assert "signature" in failed(result) or "coverage" in failed(result)
    assert any(p.startswith(("signature:", "coverage:")) for p in result.problems)


def test_appended_bytes_fail(world: dict[str, Any]) -> None:
    with world["signed"].open("ab") as out:
        out.write(b"\n% appended after signing\n")
    result = verify_report(world["signed"], trust=[world["ca"]])
    assert not result.ok
    assert failed(result).keys() == {"coverage"}


def test_replaced_evidence_fails(world: dict[str, Any], tmp_path: Path) -> None:
    forged = dict(world["evidence"])
    forged["events"] = forged["events"][:1]
    forged["findings"] = [{"rule": "none", "verdict": "pass"}]
    tampered = tmp_path / "tampered.pdf"
    with pikepdf.open(world["signed"]) as pdf:
        del pdf.attachments["evidence.json"]
        pdf.attachments["evidence.json"] = pikepdf.AttachedFileSpec(
            pdf, json.dumps(forged).encode(), filename="evidence.json"
        )
        pdf.save(tampered)
    result = verify_report(tampered, trust=[world["ca"]])
    assert not result.ok
    assert {"signature", "coverage"} & failed(result).keys()


def test_replaced_evidence_by_incremental_update_fails(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """An attacker who appends a new revision (keeping the signed bytes) is caught too."""
    bad = dict(world["evidence"])
    bad["events"] = [dict(e) for e in bad["events"]]
    bad["events"][0] = {**bad["events"][0], "envelope": {**bad["events"][0]["envelope"]}}
    bad["events"][0]["envelope"]["payload"] = deployed("6.6")
    writer = IncrementalPdfFileWriter(io.BytesIO(world["signed"].read_bytes()))
    tree = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    spec_ref = tree.raw_get(1)
    spec = spec_ref.get_object()
    spec["/EF"]["/F"] = writer.add_object(
        generic.StreamObject(
            {generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile")},
            stream_data=json.dumps(bad).encode(),
        )
    )
    writer.mark_update(spec_ref)
    out = io.BytesIO()
    writer.write(out)
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(out.getvalue())
    assert tampered.read_bytes().startswith(world["signed"].read_bytes())
    result = verify_report(tampered, trust=[world["ca"]])
    assert not result.ok
    assert {"signature", "coverage"} & failed(result).keys()
    assert "evidence" in failed(result)


def test_forged_evidence_signed_by_the_right_cert_still_fails_evidence(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Even a validly signed report fails when its evidence does not verify."""
    bad = json.loads(json.dumps(world["evidence"]))
    bad["events"][1]["envelope"]["payload"]["version"] = "6.6"
    unsigned = render(tmp_path / "u2.pdf", bad)
    signed = tmp_path / "s2.pdf"
    sign_report(unsigned, signed, world["identity"])
    result = verify_report(signed, trust=[world["ca"]])
    assert not result.ok
    assert failed(result).keys() == {"evidence"}
    assert any("seq 1" in p for p in result.problems)


def test_signature_by_another_ca_fails_trust(world: dict[str, Any], tmp_path: Path) -> None:
    stranger, _, _ = make_identity("Mallory CA")
    signed = tmp_path / "stranger.pdf"
    sign_report(world["unsigned"], signed, stranger)
    result = verify_report(signed, trust=[world["ca"]])
    assert not result.ok
    assert failed(result).keys() == {"trust"}
    assert result.trusted is False
    assert verify_report(signed).ok  # intact, only not trusted


def test_keywords_root_must_match_evidence(world: dict[str, Any], tmp_path: Path) -> None:
    keywords = f"auditml report r-2026-001; tree size 3; root {'ab' * 32}"
    unsigned = render(tmp_path / "u3.pdf", world["evidence"], keywords=keywords)
    signed = tmp_path / "s3.pdf"
    sign_report(unsigned, signed, world["identity"])
    result = verify_report(signed, trust=[world["ca"]])
    assert not result.ok
    assert failed(result).keys() == {"keywords"}


def test_rewritten_ledger_fails_consistency(world: dict[str, Any], tmp_path: Path) -> None:
    # Same origin and key directory (same checkpoint key), different history.
    shutil.copytree(world["tmp"] / "a" / "keys", tmp_path / "b" / "keys")
    rewritten = build_ledger(tmp_path / "b", ["1.0", "7.7", "1.2", "1.3"])
    try:
        rewritten.checkpoint()
        result = verify_report(world["signed"], trust=[world["ca"]], ledger=rewritten)
    finally:
        rewritten.close()
    assert not result.ok
    assert failed(result).keys() == {"ledger"}


def test_extended_ledger_is_consistent(world: dict[str, Any]) -> None:
    ledger = world["ledger"]
    ledger.record("model.deployed", payload=deployed("2.0"))
    ledger.checkpoint()
    result = verify_report(world["signed"], trust=[world["ca"]], ledger=ledger)
    assert result.ok, result.problems
    assert result.ledger_size == 4


def test_unusable_input_raises(tmp_path: Path, pki: Any) -> None:
    with pytest.raises(AuditmlError):
        verify_report(tmp_path / "missing.pdf")
    (tmp_path / "x.pdf").write_text("hello")
    with pytest.raises(AuditmlError):
        verify_report(tmp_path / "x.pdf")
    with pytest.raises(AuditmlError):
        sign_report(tmp_path / "x.pdf", tmp_path / "y.pdf", pki[0])
    assert not (tmp_path / "y.pdf").exists()
    assert list(tmp_path.glob(".y.pdf*")) == []


def test_unreachable_tsa_is_a_clear_error(world: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ts.pdf"
    with pytest.raises(TimestampError, match="timestamp"):
        sign_report(world["unsigned"], out, world["identity"], tsa_url="http://127.0.0.1:9/tsa")
    assert not out.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".ts.pdf")] == []


@pytest.fixture
def tsa_url(pki: Any) -> Iterator[str]:
    _, ca, ca_key = pki
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, tsa_cert = issue(ca_key, ca, "Example TSA", rsa_key, tsa=True)
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(tsa_cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            rsa_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()


def test_timestamped_signature_b_t(world: dict[str, Any], tsa_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bt.pdf"
    sign_report(world["unsigned"], out, world["identity"], tsa_url=tsa_url)
    result = verify_report(out, trust=[world["ca"]])
    assert result.ok, result.problems
    assert result.signed_at is not None
    assert abs((result.signed_at - dt.datetime.now(dt.UTC)).total_seconds()) < 300
    assert dict(result.checks)["timestamp"] == "pass"


# -- the signed file stays the PDF 1.7 that PDF/A-3b is (docs/adr/0004) ------------------


def extension_versions(pdf: pikepdf.Pdf) -> dict[str, list[str]]:
    """The catalog's developer extensions: prefix -> the BaseVersion of each."""
    found: dict[str, list[str]] = {}
    for prefix, value in pdf.Root.get("/Extensions", pikepdf.Dictionary()).items():
        entries = value if isinstance(value, pikepdf.Array) else [value]
        found[prefix] = [str(entry.BaseVersion) for entry in entries]
    return found


@pytest.fixture
def auditml_signed(world: dict[str, Any], tmp_path: Path) -> tuple[Path, SigningIdentity]:
    """The test report signed with an identity `auditml init` would make."""
    identity = create_signing_identity(
        tmp_path / "id", organisation="Example Bank", name="Jane Roe", role="DPO", meaning="Ok"
    )
    signed = tmp_path / "own.pdf"
    sign_report(world["unsigned"], signed, identity)
    return signed, identity


def test_the_signed_report_declares_pdf_1_7_and_no_iso_32002(
    world: dict[str, Any], auditml_signed: tuple[Path, SigningIdentity]
) -> None:
    signed, identity = auditml_signed
    assert world["unsigned"].read_bytes().startswith(b"%PDF-1.7\n")
    assert signed.read_bytes().startswith(b"%PDF-1.7\n")
    with pikepdf.open(signed) as pdf:
        # No catalog /Version above the header's (pyHanko sets /2.0 for ECDSA or EdDSA).
        assert str(pdf.Root.get("/Version", "/1.7")) == "/1.7"
        # Only ETSI's PAdES extension to PDF 1.7 (ESIC), not ISO/TS 32002's to PDF 2.0.
        assert extension_versions(pdf) == {"/ESIC": ["/1.7"]}
        meta = pdf.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
    # The CMS signature is RSA PKCS#1 v1.5 over SHA-256, as ISO 32000-1 lists.
    (sig,) = PdfFileReader(io.BytesIO(signed.read_bytes())).embedded_signatures
    algorithm = sig.signer_info["signature_algorithm"]["algorithm"].native
    assert algorithm in ("rsassa_pkcs1v15", "sha256_rsa")
    assert sig.signer_info["digest_algorithm"]["algorithm"].native == "sha256"
    result = verify_report(
        signed, trust=[identity.chain[-1]], vkeys=ledger_vkeys(world), ledger=world["ledger"]
    )
    assert result.verified, result.problems


def test_an_ecdsa_signing_key_is_refused_before_anything_is_written(
    world: dict[str, Any], tmp_path: Path
) -> None:
    ca_key, ca = make_ca("Example Bank Report CA")
    key, cert = issue(ca_key, ca, "Jane Roe", ec.generate_private_key(ec.SECP256R1()))
    identity = SigningIdentity(key, cert, (ca,), "Jane Roe", "DPO", "Ok")
    out = tmp_path / "ecdsa.pdf"
    with pytest.raises(
        ConfigError, match=r"ECDSA \(secp256r1\).*PDF 2\.0.*auditml keys rotate --report-signing"
    ):
        sign_report(world["unsigned"], out, identity)
    assert list(tmp_path.glob("*ecdsa.pdf*")) == []


def test_rotating_an_ecdsa_signing_key_gives_rsa_under_the_same_ca(
    world: dict[str, Any], tmp_path: Path
) -> None:
    key_dir = tmp_path / "keys"
    ca = create_signing_identity(
        key_dir, organisation="Example Bank", name="Jane Roe", role="DPO", meaning="Ok"
    ).chain[-1]
    # A key directory made before ADR 0006: the same CA, an ECDSA report-signing key.
    ca_key = serialization.load_pem_private_key((key_dir / CA_KEY_FILE).read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    old_key, old_cert = issue(ca_key, ca, "Jane Roe", ec.generate_private_key(ec.SECP256R1()))
    (key_dir / SIGNING_KEY_FILE).write_bytes(
        old_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (key_dir / SIGNING_CERT_FILE).write_bytes(old_cert.public_bytes(serialization.Encoding.PEM))
    settings = Settings(key_dir=key_dir)
    with pytest.raises(ConfigError, match="keys rotate --report-signing"):
        sign_report(world["unsigned"], tmp_path / "old.pdf", load_signing_identity(settings))
    new = rotate_signing_certificate(settings)
    assert isinstance(new.public_key(), rsa.RSAPublicKey)
    new.verify_directly_issued_by(ca)  # auditors keep trusting the CA they have
    signed = tmp_path / "new.pdf"
    sign_report(world["unsigned"], signed, load_signing_identity(settings))
    assert verify_report(signed, trust=[ca], vkeys=ledger_vkeys(world)).verified


PDFSIG = shutil.which("pdfsig")


def pdfsig(*args: str) -> str:
    assert PDFSIG is not None
    done = subprocess.run([PDFSIG, *args], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


@pytest.mark.skipif(PDFSIG is None, reason="pdfsig (poppler-utils) is not installed")
def test_pdfsig_finds_the_signature_valid_and_the_issuer_not_yet_trusted(
    auditml_signed: tuple[Path, SigningIdentity],
) -> None:
    out = pdfsig(str(auditml_signed[0]))
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Total document signed" in out
    # Not "Unknown issue with Certificate or corrupted data.", which is what NSS made of a
    # signing certificate whose only extended key usage was document signing.
    assert "Certificate Validation: Certificate issuer isn't Trusted." in out, out


@pytest.mark.skipif(
    PDFSIG is None or shutil.which("certutil") is None,
    reason="pdfsig (poppler-utils) or certutil (libnss3-tools) is not installed",
)
def test_pdfsig_trusts_the_signer_once_the_ca_is_imported(
    auditml_signed: tuple[Path, SigningIdentity], tmp_path: Path
) -> None:
    """docs/VERIFYING.md section 4, as written: an NSS database trusting the CA."""
    signed, identity = auditml_signed
    ca_pem = tmp_path / "report-ca.pem"
    ca_pem.write_bytes(identity.chain[-1].public_bytes(serialization.Encoding.PEM))
    nss = tmp_path / "nssdb"
    nss.mkdir()
    for command in (
        ["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"],
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "report CA", "-t", ",C,", "-i", str(ca_pem)],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    out = pdfsig("-nssdir", f"sql:{nss}", str(signed))
    assert "Signature Validation: Signature is Valid." in out, out
    assert "Certificate Validation: Certificate is Trusted." in out, out
