"""Commands that used to write first and refuse after (issue 13): `init` made the database and
the keys before refusing an organisation too long for a certificate, so a corrected re-run
said the ledger existed; `report` signed a checkpoint before refusing a `file://` timestamp
authority. Now every refusal comes first: exit 2, a clear message, nothing written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import deployed
from test_input_refusals import auditml, refused

from auditml import Ledger
from auditml.config import write_config
from auditml.report.identity import create_signing_identity

#: The CA is named "<organisation> report signing CA": 64 bytes at most, so 46 for the name.
LONGEST_ORGANISATION = "O" * 46


def _everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--organisation", LONGEST_ORGANISATION + "O"], "47 bytes of UTF-8, at most 46"),
        # The organisation defaults to the origin's host.
        (["--origin", "h" * 47 + "/ledger"], "give a shorter `auditml init --organisation`"),
        (["--signer-name", "N" * 65], "the signer name is too long"),
    ],
)
def test_init_refuses_names_that_do_not_fit_a_certificate_before_writing(
    tmp_path: Path, args: list[str], says: str
) -> None:
    refused(auditml("init", *args, cwd=tmp_path), says)
    assert _everything(tmp_path) == []


def test_a_corrected_init_succeeds_after_a_refused_one(tmp_path: Path) -> None:
    too_long = ["--origin", "bank.example/l", "--organisation", LONGEST_ORGANISATION + "O"]
    refused(auditml("init", *too_long, cwd=tmp_path), "--organisation")
    done = auditml(
        "init", "--origin", "bank.example/l", "--organisation", LONGEST_ORGANISATION, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "auditml.db").exists() and (tmp_path / "auditml.toml").exists()


def test_init_refuses_a_settings_file_in_a_missing_folder_before_writing(tmp_path: Path) -> None:
    config = tmp_path / "no" / "auditml.toml"
    done = auditml("init", cwd=tmp_path, env={"AUDITML_CONFIG": str(config)})
    refused(done, f"the folder {config.parent} does not exist")
    assert _everything(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "content", "mode", "says"),
    [
        ("ledger.key", b"-----BEGIN PRIVATE KEY-----\n", 0o644, "chmod 600"),
        ("subjects.kek", b"short", 0o600, "is not a 32-byte key"),
    ],
)
def test_init_refuses_an_unusable_key_already_there_before_writing(
    tmp_path: Path, name: str, content: bytes, mode: int, says: str
) -> None:
    keys = tmp_path / ".auditml"
    keys.mkdir(mode=0o700)
    (keys / name).write_bytes(content)
    (keys / name).chmod(mode)
    refused(auditml("init", cwd=tmp_path), says)
    assert _everything(tmp_path) == [".auditml", f".auditml/{name}"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with a report-signing identity, and an event no checkpoint covers yet."""
    root = tmp_path_factory.mktemp("refusals")
    keys = root / ".auditml"
    with Ledger.create(
        f"sqlite:///{root / 'auditml.db'}", origin="t.example/r", key_dir=keys
    ) as ledger:
        ledger.record("model.deployed", payload=deployed())
        ledger.checkpoint()
        ledger.record("model.deployed", payload=deployed("2"))
    create_signing_identity(keys, organisation="Example", name="Jane Doe", role="DPO", meaning="m")
    write_config(root / "auditml.toml", url="sqlite:///auditml.db", key_dir=".auditml")
    (root / "out").mkdir()
    (root / "out" / "folder.pdf").mkdir()
    return root


def _checkpoints(project: Path) -> int:
    with sqlite3.connect(project / "auditml.db") as conn:
        return int(conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--tsa-url", "file:///etc/passwd"], "over http or https, not file"),
        (["-o", "out/folder.pdf"], "out/folder.pdf is a folder"),
        (["--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "is not before --to"),
    ],
)
def test_report_refuses_before_signing_a_checkpoint(
    project: Path, args: list[str], says: str
) -> None:
    before = _checkpoints(project)
    if "-o" not in args:
        args = [*args, "-o", "out/report.pdf"]
    refused(auditml("report", *args, cwd=project), says)
    assert _checkpoints(project) == before
    assert _everything(project / "out") == ["folder.pdf"]
