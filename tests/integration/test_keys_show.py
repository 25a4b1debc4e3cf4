"""`auditml keys show` on the files an auditor received, and the standard commands
(openssl, base64, sha256sum) that reproduce every fingerprint it prints."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditml.ledger.note import Verifier
from auditml.report.identity import fingerprint, load_certificate

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
RECEIVED = ("ledger.vkey", "report-ca.pem", "report-signing.pem")


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}
    return subprocess.run(
        [*AUDITML, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "100"},
    )


@pytest.fixture
def received(tmp_path: Path) -> Path:
    """What the organisation sends an auditor, copied to a folder with no ledger in it."""
    org = tmp_path / "org"
    org.mkdir()
    done = auditml("init", "--origin", "bank.example/credit", cwd=org)
    assert done.returncode == 0, done.stderr
    auditor = tmp_path / "auditor"
    auditor.mkdir()
    for name in RECEIVED:
        shutil.copy(org / ".auditml" / name, auditor / name)
    return auditor


def fingerprints_and_recipes(stdout: str) -> list[tuple[str, str]]:
    """(the grouped SHA-256 as printed, the command printed to reproduce it), in order."""
    found: list[tuple[str, str]] = []
    groups: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("  sha256  ") or (groups and line.startswith(" " * 10)):
            groups.append(line.strip().removeprefix("sha256").strip())
        elif "reproduce: " in line:
            found.append((" ".join(groups), line.split("reproduce: ", 1)[1]))
            groups = []
    return found


def assert_the_recipes_reproduce(stdout: str, cwd: Path, count: int) -> None:
    pairs = fingerprints_and_recipes(stdout)
    assert len(pairs) == count, stdout
    for printed, recipe in pairs:
        # Groups of four hex digits, eight a line: 16 groups in all.
        assert re.fullmatch(r"([0-9a-f]{4} ){15}[0-9a-f]{4}", printed), printed
        ran = subprocess.run(
            ["bash", "-o", "pipefail", "-c", recipe], cwd=cwd, capture_output=True, text=True
        )
        assert ran.returncode == 0, recipe + ran.stderr
        assert ran.stdout.split()[0] == printed.replace(" ", ""), recipe


def test_keys_show_reads_the_received_files_without_a_ledger(received: Path) -> None:
    files = ("--vkey", "ledger.vkey", "--ca", "report-ca.pem", "--cert", "report-signing.pem")
    done = auditml("keys", "show", *files, "--json", cwd=received)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    vkey = (received / "ledger.vkey").read_text().strip()
    raw = Verifier.from_vkey(vkey).public_key
    assert shown["source"] == "the files given"
    assert [(k["vkey"], k["sha256"], k["file"]) for k in shown["keys"]] == [
        (vkey, hashlib.sha256(raw).hexdigest(), "ledger.vkey")
    ]
    ca, cert = (load_certificate(received / name) for name in RECEIVED[1:])
    assert [(c["purpose"], c["sha256"], c["file"]) for c in shown["report_signing"]] == [
        ("ca", fingerprint(ca), "report-ca.pem"),
        ("signing", fingerprint(cert), "report-signing.pem"),
    ]
    text = auditml("keys", "show", *files, cwd=received)
    assert text.returncode == 0, text.stderr
    assert_the_recipes_reproduce(text.stdout, received, count=3)


def test_the_commands_in_verifying_md_reproduce_the_fingerprints(received: Path) -> None:
    """docs/VERIFYING.md section 6, run as written, against what keys show prints."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "VERIFYING.md").read_text()
    section = doc.split("## 6.", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    commands = [
        line.split("  #")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if "| sha256sum" in line
    ]
    assert len(commands) >= 3, section
    shown = json.loads(
        auditml(
            "keys", "show", *("--vkey", "ledger.vkey", "--ca", "report-ca.pem"), "--json",
            *("--cert", "report-signing.pem"), cwd=received,
        ).stdout
    )  # fmt: skip
    expected = {shown["keys"][0]["sha256"]} | {c["sha256"] for c in shown["report_signing"]}
    for command in commands:
        ran = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command], cwd=received, capture_output=True, text=True
        )
        assert ran.returncode == 0, command + ran.stderr
        assert ran.stdout.split()[0] in expected, command


def test_after_a_rotation_each_key_has_its_own_recipe(tmp_path: Path) -> None:
    done = auditml("init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert auditml("keys", "rotate", cwd=tmp_path).returncode == 0
    assert len((tmp_path / ".auditml" / "ledger.vkey").read_text().split()) == 2
    for args in ([], ["--vkey", ".auditml/ledger.vkey"]):
        shown = auditml("keys", "show", *args, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        # Two ledger keys (sed picks each line), plus the certificates in ledger mode.
        assert_the_recipes_reproduce(shown.stdout, tmp_path, count=2 if args else 4)


def test_unreadable_files_are_usage_errors(received: Path) -> None:
    (received / "empty.vkey").write_text("\n")
    for args, message in (
        (["--vkey", "missing.vkey"], "cannot read verifier key file missing.vkey"),
        (["--vkey", "empty.vkey"], "empty.vkey holds no verifier key"),
        (["--ca", "ledger.vkey"], "ledger.vkey is not a PEM certificate file"),
    ):
        done = auditml("keys", "show", *args, cwd=received)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_vkey_whose_base64_holds_plus_signs_is_reproduced(tmp_path: Path) -> None:
    # "+" separates a vkey's fields and is also a base64 digit: the recipe keeps it.
    vkey = Verifier("bank.example/credit", bytes([0xFB] * 32)).to_vkey()
    assert vkey.count("+") > 2
    (tmp_path / "ledger.vkey").write_text(vkey + "\n")
    done = auditml("keys", "show", "--vkey", "ledger.vkey", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_the_recipes_reproduce(done.stdout, tmp_path, count=1)
    assert hashlib.sha256(bytes([0xFB] * 32)).hexdigest()[:4] in done.stdout
