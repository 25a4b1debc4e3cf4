"""auditml.sdk: the facts the GDPR rules need (issue 14), recorded through the helpers.

Dataset deletion (Art. 5(1)(e)), breach documentation and risk (Art. 33(5), 34), the
recipients of an erasure (Art. 19), an objection's ground (Art. 21(3)), the decision a
contest is about (Art. 22(3)) and direct marketing (Art. 21(2)): each is an optional field
or a new event type, so what was recorded before stays valid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from auditml import Ledger, ValidationError
from auditml.events.payloads import validate_payload
from auditml.sdk import (
    delete_dataset,
    document_incident,
    receive_request,
    record_decision,
    record_notification,
    report_incident,
)

NOW = datetime(2026, 6, 8, 16, 20, tzinfo=UTC)
NOW_TEXT = "2026-06-08T16:20:00.000000Z"
APPLICANT = "c-1042@example.com"


def only(ledger: Ledger, event_type: str) -> Any:
    [event] = ledger.events(type=event_type)
    validate_payload(event_type, event.payload, where=f"seq {event.seq}")
    return event


CASES: list[tuple[str, Callable[[Ledger], Any], dict[str, Any]]] = [
    (
        "dataset.deleted",
        lambda led: delete_dataset(led, "loans-2019", reason="5-year retention ended"),
        {"target": "dataset:loans-2019", "method": "deleted", "reason": "5-year retention ended"},
    ),
    (
        "dataset.deleted",
        lambda led: delete_dataset(led, "dataset:loans-2019", "anonymised"),
        {"target": "dataset:loans-2019", "method": "anonymised"},
    ),
    (
        "incident.documented",
        lambda led: document_incident(
            led,
            "inc-9",
            facts="37 letters sent to old addresses",
            effects="balances seen by strangers",
            remedial_action="addresses re-verified",
        ),
        {
            "incident_id": "inc-9",
            "facts": "37 letters sent to old addresses",
            "effects": "balances seen by strangers",
            "remedial_action": "addresses re-verified",
        },
    ),
    (
        "incident.reported",
        lambda led: report_incident(
            led,
            "inc-9",
            "breach",
            aware_at=NOW,
            severity="high",
            widespread=False,
            high_risk=True,
            subject_exemption="c",
        ),
        {
            "incident_id": "inc-9",
            "kind": "breach",
            "aware_at": NOW_TEXT,
            "severity": "high",
            "widespread": False,
            "high_risk": True,
            "subject_exemption": "c",
        },
    ),
    (
        "notification.sent",
        lambda led: record_notification(
            led, "recipient", "dsr-4", sent_at=NOW, recipients=["credit-bureau", "collector"]
        ),
        {
            "to": "recipient",
            "about": "dsr-4",
            "sent_at": NOW_TEXT,
            "recipients": ["credit-bureau", "collector"],
        },
    ),
    (
        "notification.sent",
        lambda led: record_notification(
            led, "supervisory_authority", "inc-9", sent_at=NOW, delay_reason="forensics first"
        ),
        {
            "to": "supervisory_authority",
            "about": "inc-9",
            "sent_at": NOW_TEXT,
            "delay_reason": "forensics first",
        },
    ),
    (
        "dsr.received",
        lambda led: receive_request(
            led, APPLICANT, "dsr-5", "objection", received_at=NOW, objects_to="direct_marketing"
        ),
        {
            "request_id": "dsr-5",
            "kind": "objection",
            "received_at": NOW_TEXT,
            "objects_to": "direct_marketing",
        },
    ),
    (
        "dsr.received",
        lambda led: receive_request(
            led, APPLICANT, "dsr-6", "contest", received_at=NOW, decision_id="dec-77"
        ),
        {
            "request_id": "dsr-6",
            "kind": "contest",
            "received_at": NOW_TEXT,
            "decision_id": "dec-77",
        },
    ),
]


@pytest.mark.parametrize(("event_type", "call", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_fact_is_recorded(
    ledger: Ledger, event_type: str, call: Callable[[Ledger], Any], expected: dict[str, Any]
) -> None:
    receipt = call(ledger)
    event = only(ledger, event_type)
    assert event.payload == expected
    assert event.seq == receipt.seq


def test_a_direct_marketing_decision_says_so(ledger: Ledger) -> None:
    record_decision(
        ledger,
        model="next-offer",
        version="1.0",
        purpose="cross-selling",
        lawful_basis="legitimate_interests",
        subject=APPLICANT,
        inputs={"products": 2},
        output={"offer": "card"},
        solely_automated=True,
        legal_effect=False,
        direct_marketing=True,
    )
    assert only(ledger, "decision.made").payload["direct_marketing"] is True


def test_an_erasure_names_the_recipients_to_tell(ledger: Ledger) -> None:
    receive_request(ledger, APPLICANT, "dsr-4", "erasure", received_at=NOW)
    ledger.erase(
        APPLICANT, reason="Art. 17(1)(a)", request_id="dsr-4", recipients=["credit-bureau"]
    )
    erasure = only(ledger, "erasure.completed")
    assert erasure.payload["recipients"] == ["credit-bureau"]
    assert erasure.payload["request_id"] == "dsr-4"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda led: delete_dataset(led, "d", "shredded"), "method must be one of deleted"),
        (lambda led: delete_dataset(led, " "), "dataset_id must be a non-empty string"),
        (
            lambda led: report_incident(
                led, "i", "breach", aware_at=NOW, severity="s", widespread=False, high_risk="yes"
            ),
            "high_risk must be True or False",
        ),
        (
            lambda led: report_incident(
                led,
                "i",
                "breach",
                aware_at=NOW,
                severity="s",
                widespread=False,
                subject_exemption="d",
            ),
            "subject_exemption must be one of a, b, c",
        ),
        (
            lambda led: document_incident(led, "i", facts="f", effects="", remedial_action="r"),
            "effects must be a non-empty string",
        ),
        (
            lambda led: record_notification(led, "recipient", "d", sent_at=NOW, recipients=[""]),
            "each item of recipients must be a non-empty string",
        ),
        (
            lambda led: receive_request(
                led, APPLICANT, "d", "objection", received_at=NOW, objects_to="ads"
            ),
            "objects_to must be one of direct_marketing",
        ),
    ],
)
def test_bad_facts_are_refused_and_nothing_is_written(
    ledger: Ledger, call: Callable[[Ledger], Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        call(ledger)
    assert list(ledger.events()) == []
