"""References at record time (docs/adr/0012): stored canonical, short forms resolved against
what is registered, ambiguous and unknown bare names refused with nothing written, on
SQLite and PostgreSQL, through the SDK, `Ledger.record`, group commit and `auditml import`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import derived

from auditml import Ledger, ValidationError
from auditml.sdk import approve, give_notice, record_assessment, register_dataset

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]
HEX = "ab" * 32
AMBIGUOUS = (
    "payload.target 'credit-ai' matches both dataset:credit-ai and system:credit-ai; "
    "write one of them"
)
UNKNOWN = (
    "payload.target 'ghost' matches no registered dataset or system; write dataset:ghost or "
    "system:ghost for one not registered yet (or register it first), or model:ghost@VERSION "
    "for a model version"
)


def system_registered() -> dict[str, Any]:
    return {
        "name": "Credit AI",
        "role": "both",
        "risk_class": "high",
        "purposes": ["credit scoring"],
        "public_authority": False,
    }


def dataset_registered(dataset_id: str) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "name": dataset_id,
        "uri": f"s3://bank/{dataset_id}",
        "sha256": HEX,
        "contains_personal_data": False,
        "special_categories": [],
        "purposes": ["credit scoring"],
    }


def notice(target: str) -> dict[str, Any]:
    return {"audience": "subjects", "target": target}


def open_second(ledger: Ledger, tmp_path: Path) -> Ledger:
    """Another writer of the same ledger (as another process would be), its own cache."""
    return Ledger.open(ledger.settings.url, key_dir=tmp_path / "keys", system="credit-ai")


@pytest.fixture
def credit(ledger: Ledger) -> Ledger:
    """A ledger where credit-ai is a system and loans a dataset."""
    ledger.record("system.registered", payload=system_registered(), system="credit-ai")
    ledger.record("dataset.registered", payload=dataset_registered("loans"))
    return ledger


def test_short_forms_are_stored_canonical(credit: Ledger) -> None:
    given = {
        "credit@3.2": "model:credit@3.2",
        "loans": "dataset:loans",
        "credit-ai": "system:credit-ai",
        "model:credit@3.3": "model:credit@3.3",
        "system:not-yet-registered": "system:not-yet-registered",
    }
    for short, canonical in given.items():
        receipt = credit.record("notice.given", payload=notice(short))
        assert credit.get(receipt.seq).payload["target"] == canonical
        assert credit.resolve_reference(short) == canonical
    trained = credit.record(
        "model.trained",
        payload={
            "model": "credit",
            "version": "3.2",
            "datasets": ["loans", "dataset:bureau"],
            "params": {},
            "metrics": {},
            "artifact_sha256": HEX,
        },
    )
    assert credit.get(trained.seq).payload["datasets"] == ["dataset:loans", "dataset:bureau"]


def test_ambiguous_and_unknown_bare_names_are_refused_by_record(credit: Ledger) -> None:
    credit.record("dataset.registered", payload=dataset_registered("credit-ai"))
    size = len(credit)
    with pytest.raises(ValidationError) as caught:
        credit.record("notice.given", payload=notice("credit-ai"))
    assert str(caught.value) == f"the event (notice.given): {AMBIGUOUS}"
    with pytest.raises(ValidationError) as caught:
        credit.record("notice.given", payload=notice("ghost"))
    assert str(caught.value) == f"the event (notice.given): {UNKNOWN}"
    # A batch is refused whole, naming the event; so is a dataset list naming a system.
    with pytest.raises(ValidationError, match=r"^event 2 of the batch \(notice.given\): "):
        credit.record_many(
            [
                {"type": "notice.given", "payload": notice("system:credit-ai")},
                {"type": "notice.given", "payload": notice("credit-ai")},
            ]
        )
    with pytest.raises(ValidationError, match=r"payload.inputs\[0\]: this field lists datasets"):
        credit.record(
            "dataset.derived",
            payload={
                "dataset_id": "x",
                "inputs": ["system:credit-ai"],
                "transformation": "t",
                "sha256": HEX,
            },
        )
    assert len(credit) == size
    # Written prefixed, either is fine.
    credit.record("notice.given", payload=notice("system:credit-ai"))
    credit.record("notice.given", payload=notice("dataset:credit-ai"))
    assert len(credit) == size + 2


def test_the_sdk_accepts_short_forms_and_refuses_what_means_nothing_or_two_things(
    credit: Ledger, tmp_path: Path
) -> None:
    receipt = record_assessment(credit, "bias", "credit@3.2", "pass", signer="dpo")
    assert credit.get(receipt.seq).payload["target"] == "model:credit@3.2"
    give_notice(credit, "workers", "credit-ai")
    result = approve(credit, "credit-ai", "deployment", "ok", approver="ben")
    assert result.target == "system:credit-ai" and result.target_recorded is True
    (tmp_path / "d.csv").write_text("a\n1\n")
    register_dataset(credit, "credit-ai", "d.csv", purposes="p", contains_personal_data=False)
    size = len(credit)
    with pytest.raises(ValidationError) as caught:
        give_notice(credit, "workers", "credit-ai")
    assert str(caught.value) == f"the event (notice.given): {AMBIGUOUS}"
    with pytest.raises(ValidationError) as caught:
        approve(credit, "credit-ai", "deployment", "ok", approver="ben")
    assert str(caught.value) == (
        "approve: target 'credit-ai' matches both dataset:credit-ai and system:credit-ai; "
        "write one of them"
    )
    with pytest.raises(ValidationError, match="'ghost' matches no registered dataset or system"):
        record_assessment(credit, "dpia", "ghost", "pass", signer="dpo")
    assert len(credit) == size


def test_an_approval_signed_on_a_short_form_covers_the_stored_target(credit: Ledger) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from auditml.sdk import verify_approval_signature

    key = Ed25519PrivateKey.generate()
    result = approve(credit, "credit@3.2", "deployment", "ok", approver="ben", approver_key=key)
    stored = credit.get(result.receipt.seq)
    assert stored.payload["target"] == "model:credit@3.2"
    verify_approval_signature(stored, key.public_key())


def test_another_writers_registrations_are_seen(credit: Ledger, tmp_path: Path) -> None:
    with open_second(credit, tmp_path) as other:
        # The other writer caches what is registered now ...
        assert other.resolve_reference("loans") == "dataset:loans"
        # ... then this one registers a system named like the dataset, and a new dataset.
        credit.record("system.registered", payload=system_registered(), system="loans")
        credit.record("dataset.registered", payload=dataset_registered("bureau"))
        size = len(credit)
        with pytest.raises(ValidationError, match="matches both dataset:loans and system:loans"):
            other.record("notice.given", payload=notice("loans"))
        receipt = other.record("notice.given", payload=notice("bureau"))
        assert other.get(receipt.seq).payload["target"] == "dataset:bureau"
        assert len(credit) == size + 1


def test_a_batch_names_what_it_registers_itself(ledger: Ledger) -> None:
    receipts = ledger.record_many(
        [
            {"type": "dataset.registered", "payload": dataset_registered("fresh")},
            {"type": "notice.given", "payload": notice("fresh")},
        ]
    )
    assert ledger.get(receipts[1].seq).payload["target"] == "dataset:fresh"


def test_a_refused_write_teaches_the_cache_nothing(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match="event 2 of the batch"):
        ledger.record_many(
            [
                {"type": "dataset.registered", "payload": dataset_registered("rolled-back")},
                {"type": "notice.given", "payload": notice("ghost")},
            ]
        )
    with pytest.raises(ValidationError, match="'rolled-back' matches no registered"):
        ledger.record("notice.given", payload=notice("rolled-back"))
    assert len(ledger) == 0


def test_group_commit_refuses_only_the_event_that_means_nothing(
    db_url: str, tmp_path: Path
) -> None:
    with Ledger.create(db_url, origin="test.example/ledger", key_dir=tmp_path / "keys") as made:
        made.record("dataset.registered", payload=dataset_registered("loans"))
    with Ledger.open(db_url, key_dir=tmp_path / "keys", group_commit=True) as ledger:
        good = ledger.submit("notice.given", payload=notice("loans"))
        bad = ledger.submit("notice.given", payload=notice("ghost"))
        also_good = ledger.submit("notice.given", payload=notice("credit@1"))
        with pytest.raises(ValidationError, match="'ghost' matches no registered"):
            bad.result(timeout=30)
        assert ledger.get(good.result(timeout=30).seq).payload["target"] == "dataset:loans"
        assert ledger.get(also_good.result(timeout=30).seq).payload["target"] == "model:credit@1"
        assert len(ledger) == 3


def write_lines(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*AUDITML, "--url", db_url, "--home", str(tmp_path / "keys"), *args]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_import_resolves_against_earlier_lines_and_refuses_naming_the_line(
    credit: Ledger, tmp_path: Path
) -> None:
    url = credit.settings.url
    credit.close()
    size = 2
    refused = write_lines(
        tmp_path / "refused.jsonl",
        [
            {"type": "dataset.registered", "payload": dataset_registered("credit-ai")},
            {"type": "notice.given", "payload": notice("loans")},
            {"type": "notice.given", "payload": notice("credit-ai")},
        ],
    )
    result = cli(url, tmp_path, "import", str(refused))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"line 3 of refused.jsonl (notice.given): {AMBIGUOUS}" in " ".join(result.stderr.split())
    unknown = write_lines(
        tmp_path / "unknown.jsonl", [{"type": "notice.given", "payload": notice("ghost")}]
    )
    result = cli(url, tmp_path, "import", str(unknown))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"line 1 of unknown.jsonl (notice.given): {UNKNOWN}" in " ".join(result.stderr.split())
    with Ledger.open(url, key_dir=tmp_path / "keys") as ledger:
        assert len(ledger) == size, "nothing of a refused import is written"
    accepted = write_lines(
        tmp_path / "accepted.jsonl",
        [
            {"type": "dataset.registered", "payload": dataset_registered("bureau")},
            {"type": "notice.given", "payload": notice("bureau")},
            {"type": "notice.given", "payload": notice("credit-ai")},
        ],
    )
    result = cli(url, tmp_path, "import", "--json", str(accepted))
    assert result.returncode == 0, result.stderr
    with Ledger.open(url, key_dir=tmp_path / "keys") as ledger:
        targets = [e.payload["target"] for e in ledger.events(type="notice.given")]
    assert targets == ["dataset:bureau", "system:credit-ai"]


def test_auditml_record_refuses_an_ambiguous_target(credit: Ledger, tmp_path: Path) -> None:
    credit.record("dataset.registered", payload=dataset_registered("credit-ai"))
    url = credit.settings.url
    credit.close()
    result = cli(
        url, tmp_path, "record", "notice.given", "--payload", json.dumps(notice("credit-ai"))
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert AMBIGUOUS in " ".join(result.stderr.split())
    with Ledger.open(url, key_dir=tmp_path / "keys") as ledger:
        assert len(ledger) == 3


def test_a_derivation_cycle_is_refused_naming_it(ledger: Ledger) -> None:
    ledger.record_many(
        [
            {"type": "dataset.registered", "payload": dataset_registered("raw")},
            derived("clean", "raw"),
            derived("features", "dataset:clean"),
        ]
    )
    size = len(ledger)
    with pytest.raises(ValidationError) as caught:
        ledger.record(**derived("raw", "features"))
    assert str(caught.value) == (
        "the event (dataset.derived): deriving dataset:raw from dataset:features would make it "
        "derived from itself: dataset:features -> dataset:raw -> dataset:clean -> "
        "dataset:features (each derived from the one before); lineage cannot have cycles: "
        "give the new dataset an id of its own"
    )
    with pytest.raises(ValidationError, match="dataset:loop -> dataset:loop"):
        ledger.record(**derived("loop", "loop"))
    # A cycle closed inside one batch is refused too, naming the event.
    with pytest.raises(ValidationError, match=r"^event 2 of the batch \(dataset.derived\)"):
        ledger.record_many([derived("a", "b"), derived("b", "a")])
    assert len(ledger) == size


def test_ten_thousand_derivations_deep_stay_fast(ledger: Ledger, tmp_path: Path) -> None:
    chain = [{"type": "dataset.registered", "payload": dataset_registered("d0")}]
    chain += [derived(f"d{n}", f"d{n - 1}") for n in range(1, 10_001)]
    ledger.record_many(chain)
    started = time.perf_counter()
    ledger.record(**derived("d10001", "d10000"))
    one_more = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(ValidationError, match=r"dataset:d10001 -> dataset:d0 -> dataset:d1 -> "):
        ledger.record(**derived("d0", "d10001"))
    refused = time.perf_counter() - started
    assert one_more < 0.5 and refused < 0.5, (one_more, refused)
    assert len(ledger) == 10_002
    # Another writer, its cache cold, reads the 10,002 registrations once and refuses too.
    with open_second(ledger, tmp_path) as other:
        started = time.perf_counter()
        with pytest.raises(ValidationError, match="would make it derived from itself"):
            other.record(**derived("d5000", "d9000"))
        cold = time.perf_counter() - started
    assert cold < 2.0, cold
