"""`auditml report` and `auditml verify-report` as a user runs them (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from pg_server import fresh_schema, server_url

FIXTURES = Path(__file__).resolve().parents[2] / "policies" / "fixtures"


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}
    return subprocess.run(
        [sys.executable, "-c", "from auditml.cli.main import run; run()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "COLUMNS": "200"},
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The ledger's URL: a SQLite file in the project, or a schema on a PostgreSQL server."""
    if request.param == "sqlite":
        yield "sqlite:///auditml.db"
        return
    with fresh_schema(server_url()) as url:
        yield url


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Path:
    root = tmp_path_factory.mktemp("report-cli")
    # `init` writes the URL into auditml.toml; every later command reads it from there.
    created = auditml("--url", backend, "init", "--origin", "bank.example/credit", cwd=root)
    assert created.returncode == 0, created.stderr
    lines = [
        (FIXTURES / name).read_text()
        for name in (
            "gdpr-33-breach-notification/fail.jsonl",
            "internal-four-eyes-deployment/pass.jsonl",
        )
    ]
    (root / "events.jsonl").write_text("".join(lines))
    assert auditml("import", "events.jsonl", cwd=root).returncode == 0
    done = auditml("report", "-o", "report.pdf", "--as-of", "2026-12-01T00:00:00Z", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "signed; recorded as report.issued" in done.stdout
    return root


def test_report_is_a_signed_pdfa_with_evidence_and_is_recorded(project: Path) -> None:
    with pikepdf.open(project / "report.pdf") as pdf:
        assert "evidence.json" in pdf.attachments
        meta = pdf.open_metadata()
        assert meta.get("pdfaid:part") == "3" and meta.get("pdfaid:conformance") == "B"
        assert str(pdf.docinfo["/Keywords"]).startswith("auditml report ")
        # Signed, it is still the PDF 1.7 that PDF/A-3b is (docs/adr/0004).
        assert str(pdf.Root.get("/Version", "/1.7")) == "/1.7"
        assert "/ISO_" not in pdf.Root.get("/Extensions", pikepdf.Dictionary())
    assert (project / "report.pdf").read_bytes().startswith(b"%PDF-1.7\n")
    logged = json.loads(auditml("log", "--json", "--type", "report.issued", cwd=project).stdout)
    (issued,) = logged
    assert issued["payload"]["checkpoint_size"] == 7


def test_verify_report_accepts_the_report_and_names_each_check(project: Path, backend: str) -> None:
    done = auditml(
        "verify-report",
        "report.pdf",
        "--trust",
        ".auditml/report-ca.pem",
        "--key",
        ".auditml/ledger.vkey",
        "--ledger",
        backend,
        "--json",
        cwd=project,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["verified"] and result["problems"] == []
    assert result["checks"] == {
        "signature": "pass",
        "coverage": "pass",
        "trust": "pass",
        "evidence": "pass",
        "keywords": "pass",
        "ledger": "pass",
    }


def test_one_changed_byte_or_another_ca_fails_with_exit_1(project: Path, tmp_path: Path) -> None:
    data = bytearray((project / "report.pdf").read_bytes())
    data[len(data) // 3] ^= 0x01
    (tmp_path / "tampered.pdf").write_bytes(bytes(data))
    done = auditml("verify-report", str(tmp_path / "tampered.pdf"), cwd=project)
    assert done.returncode == 1 and "invalid" in done.stdout and "Traceback" not in done.stderr
    # Trusting some other CA: the signature is intact but not from a trusted signer.
    other = tmp_path / "other"
    other.mkdir()
    assert auditml("init", "--origin", "other.example/x", cwd=other).returncode == 0
    foreign = auditml(
        "verify-report",
        str(project / "report.pdf"),
        "--trust",
        str(other / ".auditml" / "report-ca.pem"),
        "--json",
        cwd=project,
    )
    assert foreign.returncode == 1 and json.loads(foreign.stdout)["checks"]["trust"] == "fail"


def test_a_second_report_proves_consistency_with_the_first(project: Path) -> None:
    done = auditml("report", "-o", "second.pdf", "--previous", "report.pdf", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    with pikepdf.open(project / "second.pdf") as pdf:
        evidence = json.loads(bytes(pdf.attachments["evidence.json"].get_file().read_bytes()))
    # The first report was signed over the 7 imported events; the second covers them and
    # the first report.issued, and proves the one tree extends the other.
    previous = evidence["previous"]
    assert previous["checkpoint"].split("\n")[1] == "7"
    assert int(evidence["checkpoint"].split("\n")[1]) > 7
    assert previous["consistency_proof"]  # a non-empty list of hashes
    checked = auditml(
        "verify-report", "second.pdf", "--key", ".auditml/ledger.vkey", "--json", cwd=project
    )
    assert checked.returncode == 0 and json.loads(checked.stdout)["checks"]["evidence"] == "pass"


def test_without_trust_or_key_the_report_is_not_called_valid(project: Path) -> None:
    done = auditml("verify-report", "report.pdf", cwd=project)
    # Nothing wrong was found (exit 0), but nothing was checked against a key you hold.
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" not in done.stdout
    assert "NOT VERIFIED, only self-consistent" in done.stdout
    assert "not checked: who signed it" in done.stdout
    assert "not checked: whose ledger it is" in done.stdout
    result = json.loads(auditml("verify-report", "report.pdf", "--json", cwd=project).stdout)
    assert result["ok"] is True and result["verified"] is False
    assert len(result["not_checked"]) == 2
    assert result["checks"]["trust"] == "warning" and result["checks"]["evidence"] == "warning"
    full = auditml(
        "verify-report",
        "report.pdf",
        "--trust",
        ".auditml/report-ca.pem",
        "--key",
        ".auditml/ledger.vkey",
        cwd=project,
    )
    assert full.returncode == 0 and "valid: report.pdf" in full.stdout
    assert "not checked" not in full.stdout
