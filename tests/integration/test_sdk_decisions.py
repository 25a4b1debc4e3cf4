"""auditml.sdk decisions: the decorator, one-off and batch recording of `decision.made`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from auditml import Ledger, StorageError, ValidationError
from auditml.events.payloads import validate_payload
from auditml.ledger.canonical import canonicalize
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file
from auditml.sdk import decision, input_sha256, record_decision, record_decisions, record_review

RAW = "ana.garcia@example.com"
COMMON: dict[str, Any] = {
    "model": "credit",
    "version": "3.2",
    "purpose": "credit scoring",
    "lawful_basis": "contract",
    "solely_automated": True,
    "legal_effect": True,
}


class FakeDtype:
    def __init__(self, kind: str) -> None:
        self.kind = kind


class FakeScalar:
    """Quacks like a numpy scalar (numpy is not installed): dtype, ndim 0, item()."""

    ndim = 0

    def __init__(self, value: object, kind: str = "f") -> None:
        self.value, self.dtype = value, FakeDtype(kind)

    def item(self) -> object:
        return self.value


class FakeArray:
    """Quacks like a numpy array: iterating a 2-d one gives rows, a 1-d one scalars."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows, self.dtype = rows, FakeDtype("f")
        self.ndim = 2 if rows and isinstance(rows[0], list) else 1

    def __iter__(self) -> Any:
        for row in self.rows:
            yield FakeArray(row) if isinstance(row, list) else FakeScalar(row)

    def __len__(self) -> int:
        return len(self.rows)

    def tolist(self) -> list[Any]:
        return [list(row) if isinstance(row, list) else row for row in self.rows]


def database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))


def decisions(ledger: Ledger) -> list[Any]:
    found = list(ledger.events(type="decision.made"))
    for event in found:
        validate_payload("decision.made", event.payload, where=f"seq {event.seq}")
    return found


def canonical_sha256(value: object) -> str:
    return hashlib.sha256(canonicalize(value)).hexdigest()


def test_decorator_returns_the_same_object_and_records_the_input_hash(
    ledger: Ledger, tmp_path: Path
) -> None:
    result = {"score": 0.82, "label": "approve"}

    @decision(ledger, subject="customer_id", inputs="features", **COMMON)
    def score(customer_id: str, features: dict[str, Any], threshold: float = 0.5) -> Any:
        return result

    features = {"income": 52000, "postcode": "28013", "ratio": 0.31}
    assert score(RAW, features) is result
    assert score.__name__ == "score"
    ledger.flush()
    [event] = decisions(ledger)
    assert event.payload["input_sha256"] == canonical_sha256(features) == input_sha256(features)
    assert event.payload["output"] == result
    assert {k: event.payload[k] for k in COMMON} == COMMON
    assert "features" not in event.payload and "explanation" not in event.payload
    assert event.subject == ledger.subject_token(RAW)
    stored = database_bytes(tmp_path)
    assert RAW.encode() not in stored and b"28013" not in stored


def test_async_decorator_records_after_awaiting(ledger: Ledger) -> None:
    result = {"score": 0.4}
    seen_before_return: list[int] = []

    @decision(
        ledger,
        subject=lambda applicant: applicant["id"],
        inputs=lambda applicant: applicant["features"],
        wait=True,
        **COMMON,
    )
    async def score(applicant: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        seen_before_return.append(len(ledger))
        return result

    applicant = {"id": RAW, "features": {"income": 1}}
    assert asyncio.run(score(applicant)) is result
    assert seen_before_return == [0]  # recorded after the function finished
    [event] = decisions(ledger)  # wait=True: durable when the call returned, no flush needed
    assert event.payload["input_sha256"] == canonical_sha256({"income": 1})
    assert asyncio.iscoroutinefunction(score)


def test_a_raising_function_records_nothing(ledger: Ledger) -> None:
    error = ValueError("model not loaded")

    @decision(ledger, subject="customer_id", inputs="features", **COMMON)
    def score(customer_id: str, features: dict[str, Any]) -> Any:
        raise error

    @decision(ledger, subject="customer_id", inputs="features", **COMMON)
    async def ascore(customer_id: str, features: dict[str, Any]) -> Any:
        raise error

    with pytest.raises(ValueError) as raised:
        score(RAW, {"income": 1})
    assert raised.value is error
    with pytest.raises(ValueError):
        asyncio.run(ascore(RAW, {"income": 1}))
    ledger.flush()
    assert len(ledger) == 0


def test_features_and_explanation_are_kept_sealed_only_when_asked(
    ledger: Ledger, tmp_path: Path
) -> None:
    @decision(
        ledger,
        subject="customer_id",
        inputs="features",
        keep_features=True,
        explain=lambda result, customer_id, features: f"income {features['income']} too low",
        output=lambda result: {"score": result},
        wait=True,
        **COMMON,
    )
    def score(customer_id: str, features: dict[str, Any]) -> float:
        return 0.21

    assert score(RAW, {"income": 12345, "postcode": "99999"}) == 0.21
    [event] = decisions(ledger)
    assert event.payload["features"] == {"income": 12345, "postcode": "99999"}
    assert event.payload["explanation"] == "income 12345 too low"
    assert event.payload["output"] == {"score": 0.21}
    stored = database_bytes(tmp_path)
    for secret in (b"99999", b"12345 too low", RAW.encode()):
        assert secret not in stored
    with pytest.raises(ValidationError, match="keep_features=True keeps the inputs as a"):
        record_decision(
            ledger,
            subject=RAW,
            inputs=[1, 2, 3],
            output=1,
            keep_features=True,
            **COMMON,
        )


def test_inputs_are_hashed_as_given_before_the_call(ledger: Ledger) -> None:
    @decision(ledger, subject="customer_id", inputs="features", wait=True, **COMMON)
    def score(customer_id: str, features: dict[str, Any]) -> Any:
        features["derived"] = 1  # preprocessing in place must not change the recorded hash
        return {"score": 0.5}

    score(RAW, {"income": 1})
    assert decisions(ledger)[0].payload["input_sha256"] == canonical_sha256({"income": 1})


def test_decorator_from_eight_threads(ledger: Ledger) -> None:
    @decision(ledger, subject="customer_id", inputs="features", **COMMON)
    def score(customer_id: str, features: dict[str, Any]) -> dict[str, Any]:
        return {"score": features["i"] / 100}

    errors: list[BaseException] = []

    def worker(thread: int) -> None:
        try:
            for i in range(25):
                features = {"thread": thread, "i": i}
                assert score(f"customer-{thread}-{i}", features) == {"score": i / 100}
        except BaseException as exc:  # surfaced below: a thread's assert is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ledger.flush()
    found = decisions(ledger)
    assert len(found) == 200
    hashes = {e.payload["input_sha256"] for e in found}
    assert hashes == {canonical_sha256({"thread": t, "i": i}) for t in range(8) for i in range(25)}
    assert len({e.subject for e in found}) == 200
    ledger.verify(deep=True)


def test_batch_predictions_with_numpy_like_values(ledger: Ledger, tmp_path: Path) -> None:
    rows = FakeArray([[52000.0, 0.31], [18000.0, 0.72], [99000.0, 0.05]])
    scores = FakeArray([0.82, 0.12, 0.97])
    subjects = [FakeScalar(1001, "i"), "c-1002", 1003]
    receipts = record_decisions(
        ledger,
        rows,
        scores,
        subjects=subjects,
        explanations=[None, {"ratio": FakeScalar(-0.4)}, "high income"],
        ids=["batch7:0", "batch7:1", "batch7:2"],
        **COMMON,
    )
    assert [r.seq for r in receipts] == [0, 1, 2]
    found = decisions(ledger)
    assert [e.payload["output"] for e in found] == [
        {"result": 0.82},
        {"result": 0.12},
        {"result": 0.97},
    ]
    assert [e.payload["input_sha256"] for e in found] == [
        canonical_sha256(row) for row in rows.tolist()
    ]
    assert found[1].payload["explanation"] == {"ratio": -0.4}
    assert "explanation" not in found[0].payload
    assert [e.subject for e in found] == [
        ledger.subject_token(s) for s in ("1001", "c-1002", "1003")
    ]
    assert [e.id for e in found] == ["batch7:0", "batch7:1", "batch7:2"]
    # Re-running the batch with the same ids records nothing twice.
    again = record_decisions(
        ledger,
        rows,
        scores,
        subjects=subjects,
        explanations=[None, {"ratio": FakeScalar(-0.4)}, "high income"],
        ids=["batch7:0", "batch7:1", "batch7:2"],
        **COMMON,
    )
    assert again == receipts and len(ledger) == 3
    assert b"high income" not in database_bytes(tmp_path)


def test_batch_is_all_or_nothing_and_names_the_bad_row(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match=r"record_decisions: row 1: subject is required"):
        record_decisions(ledger, [{"a": 1}, {"a": 2}], [0.1, 0.2], subjects=["c-1", None], **COMMON)
    with pytest.raises(ValidationError, match="got 2 rows, 3 outputs, 2 subjects"):
        record_decisions(ledger, [{"a": 1}, {"a": 2}], [1, 2, 3], subjects=["a", "b"], **COMMON)
    with pytest.raises(ValidationError, match=r"row 0: output.*NaN"):
        record_decisions(ledger, [{"a": 1}], [float("nan")], subjects=["a"], **COMMON)
    with pytest.raises(ValidationError, match=r"row 0: inputs: .*/account"):
        record_decisions(ledger, [{"account": 2**60}], [1], subjects=["a"], **COMMON)
    assert len(ledger) == 0


def test_a_decision_without_subject_is_refused_naming_the_field(ledger: Ledger) -> None:
    for missing in (None, "", "   "):
        with pytest.raises(ValidationError, match=r"subject is required for decision\.made"):
            record_decision(ledger, subject=missing, inputs={"a": 1}, output=1, **COMMON)  # type: ignore[arg-type]

    @decision(ledger, subject=lambda x: None, inputs=lambda x: x, **COMMON)
    def score(x: dict[str, int]) -> int:
        return 1

    with pytest.raises(ValidationError, match=r"decision credit@3.2 .*subject is required"):
        score({"a": 1})
    ledger.flush()
    assert len(ledger) == 0


def test_record_decision_durable_or_queued(ledger: Ledger) -> None:
    receipt = record_decision(
        ledger,
        subject=RAW,
        inputs={"income": FakeScalar(52000.0)},
        output={"score": FakeScalar(0.82), "label": "approve"},
        explanation={"income": 0.3},
        personal={"email": RAW},
        **COMMON,
    )
    assert ledger.get(receipt.seq).payload["input_sha256"] == canonical_sha256({"income": 52000})
    queued = record_decision(
        ledger, subject=RAW, inputs=[1, 2], output="refer", wait=False, **COMMON
    )
    assert isinstance(queued, Future)
    event = ledger.get(queued.result(timeout=10).seq)
    assert event.payload["output"] == {"result": "refer"}
    assert decisions(ledger)[0].payload["personal"] == {"email": RAW}


def test_the_decorator_records_under_the_id_it_picks(ledger: Ledger, tmp_path: Path) -> None:
    @decision(ledger, subject="customer_id", inputs="features", id="request_id", **COMMON)
    def score(customer_id: str, features: dict[str, Any], request_id: str) -> dict[str, Any]:
        return {"score": features["income"] / 100_000}

    score(RAW, {"income": 52000}, request_id="req-8f3a")
    score(RAW, {"income": 61000}, "req-8f3b")  # positional works too
    # The id is the caller's handle: no flush needed, reads see queued events.
    event = ledger.get("req-8f3a")
    assert event.type == "decision.made" and event.payload["output"] == {"score": 0.52}
    assert ledger.get("req-8f3b").payload["output"] == {"score": 0.61}
    evidence = ledger.prove("req-8f3a")
    trusted = load_vkey_file(tmp_path / "keys" / "ledger.vkey")
    assert verify_evidence(evidence, trusted).events_verified == 1
    review = record_review(ledger, "req-8f3a", "upheld", "income checked", "ana")
    assert ledger.get(review.id).subject == event.subject == ledger.subject_token(RAW)

    # An idempotency key: a retried call with the same decision records nothing twice ...
    score(RAW, {"income": 52000}, request_id="req-8f3a")
    ledger.flush()
    assert len(decisions(ledger)) == 2


def test_an_id_picked_by_a_function_and_a_conflicting_retry(ledger: Ledger) -> None:
    @decision(
        ledger,
        subject=lambda request: request["customer"],
        inputs=lambda request: request["features"],
        id=lambda request: f"req:{request['id']}",
        wait=True,
        **COMMON,
    )
    def score(request: dict[str, Any]) -> float:
        return float(request["features"]["income"]) / 100_000

    assert score({"id": 1, "customer": RAW, "features": {"income": 50000}}) == 0.5
    assert ledger.get("req:1").subject == ledger.subject_token(RAW)
    # ... while the same id for another decision is refused (raised, as wait=True).
    with pytest.raises(ValidationError, match="id 'req:1' is already recorded"):
        score({"id": 1, "customer": RAW, "features": {"income": 70000}})
    assert len(decisions(ledger)) == 1


@pytest.mark.parametrize(
    ("picked", "message"),
    [
        (None, "id picked None, but an event id must be 1-128 characters"),
        ("has space", "id picked 'has space', but an event id must be"),
        (42, r"id picked 42, .*convert it in a function \(id=lambda request: str"),
    ],
)
def test_a_bad_picked_id_is_refused_before_the_function_runs(
    ledger: Ledger, picked: object, message: str
) -> None:
    ran: list[object] = []

    @decision(ledger, subject="customer_id", inputs="features", id="request_id", **COMMON)
    def score(customer_id: str, features: dict[str, Any], request_id: object) -> int:
        ran.append(request_id)
        return 1

    with pytest.raises(ValidationError, match=r"decision credit@3\.2 .*score.*: " + message):
        score(RAW, {"a": 1}, picked)
    assert ran == [] and len(ledger) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lawful_basis": "contractual"}, "lawful_basis must be one of consent, contract"),
        ({"solely_automated": "yes"}, "solely_automated must be True or False"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"subject": "missing_param"}, "subject='missing_param' is not a parameter of"),
        ({"explain": "text"}, "explain must be a function"),
        ({"id": "request"}, "id='request' is not a parameter of"),
        ({"id": 7}, "id must be a parameter name or a function, got int"),
    ],
)
def test_decorator_mistakes_are_refused_at_decoration_time(
    ledger: Ledger, change: dict[str, Any], message: str
) -> None:
    arguments = {**COMMON, "subject": "customer_id", "inputs": "features", **change}
    with pytest.raises(ValidationError, match=message):

        @decision(ledger, **arguments)
        def score(customer_id: str, features: dict[str, Any]) -> int:
            return 1


def test_a_queued_decision_that_fails_later_is_logged_without_personal_data(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(prepared: Any) -> Any:
        raise StorageError("database is locked")

    @decision(ledger, subject="customer_id", inputs="features", **COMMON)
    def score(customer_id: str, features: dict[str, Any]) -> int:
        return 1

    score(RAW, {"a": 1})  # starts the writer
    ledger.flush()
    monkeypatch.setattr(ledger._writer, "_append", broken)  # the disk fails after submit
    with caplog.at_level(logging.ERROR, logger="auditml.sdk.decisions"):
        result = score(RAW, {"a": 2})
        ledger.flush()
    assert result == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("credit@3.2 was not recorded" in m for m in messages), messages
    assert not any(RAW in m for m in messages)
