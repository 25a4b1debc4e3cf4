"""Input a first-time user can get wrong (issue 12, item 4): refused with an error that
says what and where, exit 2, no traceback, nothing written.

Each test is named after what broke: a traceback (exit 1) or a quiet acceptance.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pytest
from conftest import deployed

from auditml import Ledger, NotFoundError, ValidationError
from auditml.policy.engine import run_rule_tests
from auditml.policy.loader import lint_rules, load_rules
from auditml.policy.model import parse_ledger_time
from auditml.sdk import grant_consents, report_incident

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
SHIPPED = Path(__file__).resolve().parents[2] / "policies"
DEPLOYED = json.dumps(deployed())
#: Two times that exist where they are written but not in UTC (year 10000, year 0).
BEYOND_UTC = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


def auditml(
    *args: str | bytes, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITML, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def refused(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, each fragment in the message, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


def count(project: Path) -> int:
    with sqlite3.connect(project / "auditml.db") as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def _copy_rules(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SHIPPED, tmp_path / "rules"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    done = auditml("init", "--origin", "bank.example/credit", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert auditml("record", "model.deployed", "--payload", DEPLOYED, cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Ledger:
    return Ledger.create(
        f"sqlite:///{tmp_path / 'sdk.db'}", origin="sdk.example/l", key_dir=tmp_path / "sdk-keys"
    )


# -- times that overflow when moved to UTC ---------------------------------------------------


@pytest.mark.parametrize("moment", BEYOND_UTC)
def test_time_beyond_utc_range_is_refused_by_every_command_not_a_traceback(
    project: Path, moment: str
) -> None:
    line = {"type": "model.deployed", "payload": deployed(), "occurred_at": moment}
    (project / "events.jsonl").write_text(json.dumps(line) + "\n")
    cases = [
        (["record", "model.deployed", "--payload", DEPLOYED, "--occurred-at", moment], ""),
        (["import", "events.jsonl"], "line 1 of events.jsonl: occurred_at"),
        (["check", "--as-of", moment], "--as-of"),
        (["log", "--since", moment], "since"),
        (["purge", "--before", moment, "--reason", "retention"], "purge --before"),
        (["report", "--as-of", moment, "-o", "report.pdf"], "--as-of"),
    ]
    for args, where in cases:
        done = auditml(*args, cwd=project)
        refused(done, where, repr(moment), "outside years 0001-9999 once moved to UTC")
    assert count(project) == 1 and not (project / "report.pdf").exists()


class FailingZone(tzinfo):
    """A tzinfo whose utcoffset raises (a broken timezone database, a buggy class)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("no timezone data")

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "broken"


def test_sdk_time_beyond_utc_range_or_with_a_failing_tzinfo_is_a_validation_error(
    sqlite_ledger: Ledger,
) -> None:
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
    broken = datetime(2026, 1, 5, 9, 0, tzinfo=FailingZone())
    with sqlite_ledger as ledger:
        for value, reason in [
            (late, "outside years 0001-9999 once moved to UTC"),
            (BEYOND_UTC[1], "outside years 0001-9999 once moved to UTC"),
            (broken, "the timezone of '2026-01-05T09:00:00' failed (RuntimeError: no timezone"),
        ]:
            with pytest.raises(ValidationError, match=r"^the event: occurred_at: ") as caught:
                ledger.record("model.deployed", payload=deployed(), occurred_at=value)
            assert reason in str(caught.value)
            with pytest.raises(ValidationError, match=r"report_incident: aware_at: ") as caught:
                report_incident(
                    ledger, "inc-1", "breach", aware_at=value, severity="high", widespread=False
                )
            assert reason in str(caught.value)
        with pytest.raises(ValidationError, match="payload.aware_at: .*outside years 0001-9999"):
            ledger.record(
                "incident.reported",
                payload={
                    "incident_id": "inc-1",
                    "kind": "breach",
                    "aware_at": BEYOND_UTC[0],
                    "severity": "high",
                    "widespread": False,
                },
            )
        with pytest.raises(ValidationError, match="since: .*outside years"):
            list(ledger.events(since=late))
        assert len(ledger) == 0
        # The edges themselves are times: they are kept, not refused.
        ledger.record(
            "model.deployed",
            payload=deployed(),
            occurred_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        )
        assert ledger.get(0).occurred_at == "9999-12-31T23:59:59.000000Z"
    with pytest.raises(ValidationError, match="^--as-of: .*outside years"):
        parse_ledger_time(BEYOND_UTC[0], where="--as-of")


# -- subjects that are not valid text ---------------------------------------------------------


def test_subject_with_a_lone_surrogate_or_invalid_utf8_is_refused_not_a_traceback(
    project: Path,
) -> None:
    consent = json.dumps({"purpose": "credit scoring", "explicit": True})
    # Bytes that are not UTF-8 on the command line reach Python as lone surrogates.
    for raw in (b"\xff\xfe", b"ana\xed\xa0\x80"):
        done = auditml(
            "record", "consent.granted", "--payload", consent, "--subject", raw, cwd=project
        )
        refused(done, "the event: subject is not valid text", "lone surrogate")
    done = auditml("erase", "--subject", b"\xff", "--reason", "request", cwd=project)
    refused(done, "subject is not valid text")
    # json.dumps would escape the surrogate the same way; written out to be plain.
    line = '{"type": "consent.granted", "payload": ' + consent + ', "subject": "ana\\ud800"}\n'
    (project / "events.jsonl").write_text(line)
    refused(
        auditml("import", "events.jsonl", cwd=project),
        "line 1 of events.jsonl: subject is not valid text: character 4 is U+D800",
    )
    assert count(project) == 1
    # The identifier is personal data: the message never repeats it.
    assert "ana" not in auditml("import", "events.jsonl", cwd=project).stderr


def test_sdk_subject_with_a_lone_surrogate_is_a_validation_error(sqlite_ledger: Ledger) -> None:
    consent = {"purpose": "credit scoring", "explicit": True}
    with sqlite_ledger as ledger:
        with pytest.raises(ValidationError, match="^the event: subject is not valid text"):
            ledger.record("consent.granted", payload=consent, subject="ana\udcff")
        with pytest.raises(ValidationError, match="^event 2 of the batch: subject is not valid"):
            ledger.record_many(
                [
                    {"type": "consent.granted", "payload": consent, "subject": "bo"},
                    {"type": "consent.granted", "payload": consent, "subject": "\ud800"},
                ]
            )
        with pytest.raises(ValidationError, match=r"subject is not valid text"):
            grant_consents(ledger, ["bo", "\ud800"], "credit scoring")
        with pytest.raises(ValidationError, match="subject is not valid text"):
            ledger.erase("\ud800", reason="request")
        with pytest.raises(ValidationError, match="subject is not valid text"):
            list(ledger.events(subject="\ud800"))
        assert len(ledger) == 0


def test_rule_fixture_with_a_lone_surrogate_subject_is_a_problem_not_a_traceback(
    tmp_path: Path,
) -> None:
    rules = _copy_rules(tmp_path)
    fixture = rules / "fixtures" / "gdpr-12-3-access-request-deadline" / "pass.jsonl"
    lines = fixture.read_text().splitlines()
    first = json.loads(lines[0])
    assert "subject" in first
    lines[0] = json.dumps(first).replace(json.dumps(first["subject"]), '"x\\udc80"')
    fixture.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError, match=r"pass\.jsonl:1: .*subject is not valid text"):
        lint_rules(rules)
    results = run_rule_tests(load_rules(rules), rule_id="gdpr-12-3-access-request-deadline")
    broken = [r for r in results if r.fixture.endswith("pass.jsonl")]
    assert broken and all(r.got == "error" and "not valid text" in r.error for r in broken)


# -- seq beyond the database's integers -------------------------------------------------------


def test_prove_a_seq_beyond_any_integer_says_what_the_ledger_holds(ledger: Ledger) -> None:
    # SQLite and PostgreSQL fail differently on an integer they cannot hold: both paths.
    ledger.record("model.deployed", payload=deployed())
    for seq in (10**30, 2**63, 2**63 - 1, 1, -1):
        with pytest.raises(NotFoundError, match=rf"^no event at seq {seq}; the ledger holds 1 "):
            ledger.prove(seq)
    with pytest.raises(NotFoundError, match=f"no checkpoint at size {10**30}"):
        ledger.prove(0, size=10**30)


def test_cli_prove_a_seq_beyond_any_integer_exits_2(project: Path) -> None:
    done = auditml("prove", str(10**30), "-o", "evidence.json", cwd=project)
    refused(done, f"no event at seq {10**30}; the ledger holds 1 event(s) (seq 0 to 0)")
    assert not (project / "evidence.json").exists()


# -- files that are not what they claim -------------------------------------------------------


def test_binary_or_broken_trusted_checkpoint_is_refused_not_a_traceback(project: Path) -> None:
    (project / "binary.ckpt").write_bytes(b"bank.example/credit\n1\n\xd0\xff\x00\n")
    refused(
        auditml("verify", "--trusted-checkpoint", "binary.ckpt", cwd=project),
        "trusted checkpoint binary.ckpt is neither an evidence file",
        "byte 22 (0xd0) is not UTF-8",
    )
    (project / "cut.json").write_text('{"format": "auditml.evidence/v1", ')
    refused(
        auditml("verify", "--trusted-checkpoint", "cut.json", cwd=project),
        "trusted checkpoint cut.json: malformed JSON at line 1",
    )
    assert auditml("prove", "0", "-o", "evidence.json", cwd=project).returncode == 0
    evidence = json.loads((project / "evidence.json").read_text())
    (project / "odd.json").write_text(json.dumps({**evidence, "events": [1]}))
    refused(
        auditml("verify", "--trusted-checkpoint", "odd.json", cwd=project),
        "events must be a list of objects with an envelope",
    )


def test_verify_evidence_with_a_missing_key_file_says_no_such_file(project: Path) -> None:
    assert auditml("prove", "0", "-o", "evidence.json", cwd=project).returncode == 0
    refused(
        auditml("verify-evidence", "evidence.json", "--key", "nosuch.vkey", cwd=project),
        "--key nosuch.vkey: no such file",
    )
    refused(
        auditml("verify-evidence", "evidence.json", "--key", ".auditml", cwd=project),
        "--key .auditml: is not a file",
    )
    (project / "binary.vkey").write_bytes(b"\xff\xfe")
    refused(
        auditml("verify-evidence", "evidence.json", "--key", "binary.vkey", cwd=project),
        "binary.vkey is not a verifier key file",
    )
    refused(
        auditml("verify-report", "report.pdf", "--key", "nosuch.vkey", cwd=project),
        "--key nosuch.vkey: no such file",
    )
    vkey = (project / ".auditml" / "ledger.vkey").read_text().strip()
    for key in (".auditml/ledger.vkey", vkey):
        done = auditml("verify-evidence", "evidence.json", "--key", key, cwd=project)
        assert done.returncode == 0, done.stderr


# -- database URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://me@db.internal/ledger", "SQLite or PostgreSQL, not mysql"),
        ("postgres://me@db.internal/ledger", "write 'postgresql+psycopg://me@db.internal/ledger'"),
        ("postgresql+pg8000://me@db.internal/ledger", "through psycopg 3"),
        ("postgresql+psycopg2://me:secret@db/ledger", "'postgresql+psycopg://me:***@db/ledger'"),
        ("sqlite+aiosqlite:///x.db", "not sqlite+aiosqlite"),
    ],
)
def test_unsupported_database_url_is_a_configuration_error(
    tmp_path: Path, url: str, message: str
) -> None:
    for args in (["--url", url, "log"], ["--url", url, "init"]):
        done = auditml(*args, cwd=tmp_path)
        refused(done, message, "sqlite:///PATH" if "not" in message else "postgresql+psycopg://")
        assert "secret" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_plain_postgresql_url_means_psycopg(postgres_url: str, tmp_path: Path) -> None:
    # SQLAlchemy 2.0 would pick psycopg2 for postgresql:// (not installed by the extra).
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    assert plain != postgres_url
    with Ledger.create(plain, origin="pg.example/l", key_dir=tmp_path / "keys") as ledger:
        ledger.record("model.deployed", payload=deployed())
    with Ledger.open(postgres_url, key_dir=tmp_path / "keys") as ledger:
        assert len(ledger) == 1


def test_postgresql_without_the_postgres_extra_says_what_to_install(tmp_path: Path) -> None:
    # As in an environment without psycopg: the import fails where SQLAlchemy makes it.
    program = "import sys\nsys.modules['psycopg'] = None\nfrom auditml.cli.main import run\nrun()\n"
    done = subprocess.run(
        [sys.executable, "-c", program, "--url", "postgresql+psycopg://me@127.0.0.1/x", "log"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    refused(done, "needs the psycopg driver", "pip install 'auditml[postgres]'")


def test_refused_init_leaves_no_database_file_or_folder(project: Path) -> None:
    # The key directory belongs to bank.example/credit: a second ledger is refused.
    done = auditml(
        "--url", "sqlite:///no/such/dir/x.db", "init", "--origin", "o.example/x", cwd=project
    )
    refused(done, "already holds the key of another ledger")
    assert not (project / "no").exists()
    (project / "kept").mkdir()
    done = auditml(
        "--url", "sqlite:///kept/new/x.db", "init", "--origin", "o.example/x", cwd=project
    )
    refused(done, "already holds the key of another ledger")
    assert list((project / "kept").iterdir()) == []


# -- quietly accepted -------------------------------------------------------------------------


def test_purge_and_log_refuse_an_unknown_event_type(project: Path) -> None:
    done = auditml(
        "purge", "--type", "bogus", "--before", "2020-01-01T00:00:00Z", "--reason", "r", cwd=project
    )
    refused(done, "purge --type: unknown event type 'bogus'")
    done = auditml(
        "purge",
        "--type",
        "model.deployed",
        "--type",
        "model.deploy",
        "--before",
        "2020-01-01T00:00:00Z",
        "--reason",
        "r",
        cwd=project,
    )
    refused(done, "unknown event type 'model.deploy' (did you mean 'model.deployed'?)")
    refused(
        auditml("log", "--type", "model.deploy", cwd=project),
        "unknown event type 'model.deploy' (did you mean 'model.deployed'?)",
    )
    assert count(project) == 1
    listed = auditml("log", "--type", "model.deployed", "--json", cwd=project)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 1


def test_rule_fixture_linked_from_outside_the_rule_folder_is_not_read(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    fixture = rules / "fixtures" / "gdpr-12-3-access-request-deadline" / "pass.jsonl"
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(fixture.read_bytes())
    fixture.unlink()
    fixture.symlink_to(outside)
    with pytest.raises(ValidationError, match=r"is a link to .*outside\.jsonl, outside the rule"):
        lint_rules(rules)
    results = run_rule_tests(load_rules(rules), rule_id="gdpr-12-3-access-request-deadline")
    linked = [r for r in results if r.fixture.endswith("pass.jsonl")]
    assert linked and all(r.got == "error" and "outside the rule folder" in r.error for r in linked)
    # A link that stays inside the folder is fine.
    fixture.unlink()
    inside = rules / "fixtures" / "shared.jsonl"
    inside.write_bytes(outside.read_bytes())
    fixture.symlink_to(inside)
    lint_rules(rules)


# -- CLI wording and layout -------------------------------------------------------------------


def test_record_names_the_event_not_event_0_and_batches_count_from_1(
    project: Path, sqlite_ledger: Ledger
) -> None:
    done = auditml("record", "model.deployed", "--payload", "{}", cwd=project)
    refused(done, "error: the event (model.deployed): payload.model: required field missing")
    assert "event 0" not in done.stderr
    with (
        sqlite_ledger as ledger,
        pytest.raises(ValidationError, match=r"^event 3 of the batch \(model.deployed\)"),
    ):
        ledger.record_many(
            [{"type": "model.deployed", "payload": deployed()}] * 2
            + [{"type": "model.deployed", "payload": {}}]
        )


def test_log_at_80_columns_prints_the_seq_whole(project: Path) -> None:
    long = {**deployed(), "environment": "production-eu-west-1-with-a-long-name"}
    lines = [
        {
            "type": "model.deployed",
            "payload": long,
            "actor": {"id": f"{n}-" + "x" * 40, "kind": "service"},
        }
        for n in range(11)
    ]
    (project / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert auditml("import", "events.jsonl", cwd=project).returncode == 0
    done = auditml("log", "--limit", "12", cwd=project, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert [row.split("│")[1].strip() for row in rows] == [str(seq) for seq in range(11, -1, -1)]
    assert "…" in done.stdout  # the other columns gave way
