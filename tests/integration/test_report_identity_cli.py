"""`auditml init` creates the report-signing identity; `auditml keys show` prints its
fingerprints (run as a user runs them, in a subprocess)."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from auditml.config import Settings
from auditml.ledger.note import Verifier
from auditml.report.identity import fingerprint, load_certificate, load_signing_identity

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_init_creates_signing_identity_and_keys_show_prints_fingerprints(tmp_path: Path) -> None:
    done = auditml(
        "init", "--origin", "bank.example/credit", "--signer-name", "Jane Doe", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    key_dir = tmp_path / ".auditml"
    assert "report-signing.pem" in done.stdout
    for name in ("report-ca.key", "report-signing.key"):
        assert stat.S_IMODE((key_dir / name).stat().st_mode) == 0o600
    ca = load_certificate(key_dir / "report-ca.pem")
    cert = load_certificate(key_dir / "report-signing.pem")
    cert.verify_directly_issued_by(ca)
    assert ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "bank.example"
    identity = load_signing_identity(Settings(key_dir=key_dir))
    assert identity.name == "Jane Doe" and identity.role == "Compliance officer"

    shown = auditml("keys", "show", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    by_purpose = {c["purpose"]: c["sha256"] for c in data["report_signing"]}
    assert by_purpose == {"signing": fingerprint(cert), "ca": fingerprint(ca)}
    vkey = (key_dir / "ledger.vkey").read_text().strip()
    raw = Verifier.from_vkey(vkey).public_key
    assert data["keys"][0]["sha256"] == hashlib.sha256(raw).hexdigest()

    text = auditml("keys", "show", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    for value in (fingerprint(cert), fingerprint(ca), hashlib.sha256(raw).hexdigest()):
        # Printed in groups of four hex digits, eight a line, for reading aloud.
        groups = [value[i : i + 4] for i in range(0, 64, 4)]
        assert " ".join(groups[:8]) in text.stdout and " ".join(groups[8:]) in text.stdout


def test_init_organisation_option(tmp_path: Path) -> None:
    done = auditml("init", "--organisation", "Bank Example AG", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cert = load_certificate(tmp_path / ".auditml" / "report-signing.pem")
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "Bank Example AG"
    )
    assert isinstance(cert, x509.Certificate)


def test_init_keeps_an_existing_identity(tmp_path: Path) -> None:
    first = tmp_path
    assert auditml("init", "--origin", "bank.example/a", cwd=first).returncode == 0
    cert = (first / ".auditml" / "report-signing.pem").read_bytes()
    (first / "auditml.db").unlink()  # a new ledger, the same key directory
    again = auditml("init", "--origin", "bank.example/a", cwd=first)
    assert again.returncode == 0, again.stderr
    assert "existing" in again.stdout
    assert (first / ".auditml" / "report-signing.pem").read_bytes() == cert


def test_init_with_own_certificate_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "auditml.toml").write_text(
        '[auditml]\nurl = "sqlite:///auditml.db"\nkey_dir = ".auditml"\nsigner_pkcs12 = "me.p12"\n'
    )
    done = auditml("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "from auditml.toml" in done.stdout
    assert not (tmp_path / ".auditml" / "report-signing.pem").exists()
    shown = auditml("keys", "show", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["report_signing"] == [] and "me.p12" in data["report_signing_problem"]
