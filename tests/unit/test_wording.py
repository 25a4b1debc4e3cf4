"""Findings in words: times, spans, counts, lists, keys and what each event type says happened."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from auditml.events.payloads import PAYLOAD_MODELS, validate_payload
from auditml.policy.engine import run_rule_tests
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.policy.model import Event
from auditml.policy.wording import (
    day,
    duration,
    event_noun,
    happened,
    key_words,
    listing,
    on,
    quantity,
    span,
    thing,
    when,
)

T = datetime(2026, 8, 4, 9, 30, tzinfo=UTC)
HEX = "ab" * 32


def event(event_type: str, payload: dict[str, Any], subject: str | None = None) -> Event:
    actor = {"id": "risk-carol", "kind": "human"}
    return Event(41, "e41", event_type, "credit-ai", subject, actor, T, T, payload)


# ---------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("moment", "written", "in_a_sentence"),
    [
        (T, "4 Aug 2026 09:30 UTC", "on 4 Aug 2026 at 09:30 UTC"),
        # Cut to the minute, never rounded up: a time is never printed later than it was.
        (
            datetime(2026, 8, 19, 21, 59, 59, 999999, tzinfo=UTC),
            "19 Aug 2026 21:59 UTC",
            "on 19 Aug 2026 at 21:59 UTC",
        ),
        (
            datetime(2026, 3, 2, 10, 5, tzinfo=timezone(timedelta(hours=1))),
            "2 Mar 2026 09:05 UTC",
            "on 2 Mar 2026 at 09:05 UTC",
        ),
    ],
)
def test_times_are_written_like_4_aug_2026_09_30_utc(
    moment: datetime, written: str, in_a_sentence: str
) -> None:
    assert when(moment) == written
    assert on(moment) == in_a_sentence


def test_days_spans_and_periods() -> None:
    assert day(date(2026, 8, 4)) == "4 Aug 2026"
    assert day(datetime(2026, 8, 4, 23, 30, tzinfo=timezone(timedelta(hours=-2)))) == "5 Aug 2026"
    assert span(timedelta(days=2, hours=3, minutes=5)) == "2 days 3 hours"
    assert span(timedelta(hours=1, minutes=1)) == "1 hour 1 minute"
    assert span(timedelta(minutes=45)) == "45 minutes"
    assert span(timedelta(seconds=-12)) == "12 seconds"
    assert span(timedelta(0)) == "0 seconds"
    for iso, words in [
        ("P15D", "15 days"),
        ("PT72H", "72 hours"),
        ("P1M", "1 month"),
        ("P1Y6M", "1 year 6 months"),
        ("P2W", "2 weeks"),
        ("PT1H30M", "1 hour 30 minutes"),
    ]:
        assert duration(iso) == words
    for odd in ("P", "PT", "15D", "P1DT", "soon"):
        assert duration(odd) == odd


# ---------------------------------------------------------------- counts, lists, nouns


def test_counts_in_words_and_lists() -> None:
    assert quantity(0, "approval") == "no approval"
    assert quantity(1, "approval") == "one approval"
    assert quantity(2, "person", "people") == "two people"
    assert quantity(10, "day") == "ten days"
    assert quantity(12, "approval") == "12 approvals"
    assert quantity(3, "authority") == "three authorities"
    assert listing([]) == ""
    assert listing(["risk-carol"]) == "risk-carol"
    assert listing(["risk-carol", "ops-dan"]) == "risk-carol and ops-dan"
    assert listing(["a", "b", "c"], "or") == "a, b or c"
    assert event_noun("approval.granted", 2) == "approvals"
    assert event_noun("dsr.received", 0) == "data-subject requests"
    assert event_noun("something.new_here") == "something new here"


def test_references_and_match_keys_in_words() -> None:
    assert thing("model:credit@3.3") == "credit 3.3"
    assert thing("credit@3.3") == "credit 3.3"
    assert thing("dataset:applicants-2026") == "dataset applicants-2026"
    assert thing("system:credit-ai") == "system credit-ai"
    assert thing("credit-ai") == "credit-ai"
    pairs = (("subject", "sub_ab12"), ("payload.purpose", "marketing"))
    assert key_words(pairs) == "subject sub_ab12 and purpose 'marketing'"
    # What the sentence already says is not said twice; the event's own id never is.
    assert key_words(pairs, said="subject sub_ab12 withdrew consent") == "purpose 'marketing'"
    assert key_words((("id", "e41"),)) == ""
    template = (("model:{payload.model}@{payload.version}", "model:credit@3.3"),)
    assert key_words(template) == "credit 3.3"
    assert key_words(template, said="credit 3.3 was deployed") == ""
    # A value inside a longer name is not "said": credit-ai does not say credit.
    assert key_words((("system", "credit"),), said="system credit-ai") == "system credit"
    assert key_words((("payload.incident_id", "inc-7"), ("payload.about", "x"))) == (
        "incident inc-7 and x"
    )


# ---------------------------------------------------------------- what happened

#: A valid payload of each type of the vocabulary, and the phrase it gives.
SAID = {
    "system.registered": (
        {
            "name": "Credit scoring",
            "role": "provider",
            "risk_class": "high",
            "purposes": ["creditworthiness assessment"],
            "public_authority": False,
        },
        "The AI system credit-ai was registered",
    ),
    "dataset.registered": (
        {
            "dataset_id": "applicants-2026",
            "name": "Applicants",
            "uri": "s3://data/applicants",
            "sha256": HEX,
            "contains_personal_data": True,
            "special_categories": [],
            "purposes": ["scoring"],
        },
        "Dataset applicants-2026 was registered",
    ),
    "dataset.deleted": (
        {"target": "dataset:loans-2019", "method": "anonymised"},
        "Dataset loans-2019 was anonymised",
    ),
    "dataset.derived": (
        {"dataset_id": "train", "inputs": ["a", "b"], "transformation": "join", "sha256": HEX},
        "Dataset train was derived from a and b",
    ),
    "consent.granted": (
        {"purpose": "marketing", "explicit": True},
        "Subject sub_ab12 gave explicit consent to 'marketing'",
    ),
    "consent.withdrawn": (
        {"purpose": "marketing"},
        "Subject sub_ab12 withdrew consent to 'marketing'",
    ),
    "model.trained": (
        {
            "model": "credit",
            "version": "3.3",
            "datasets": ["train"],
            "params": {},
            "metrics": {},
            "artifact_sha256": HEX,
        },
        "credit 3.3 was trained",
    ),
    "assessment.completed": (
        {"kind": "bias", "target": "model:credit@3.3", "result": "accepted_risk", "signer": "dpo"},
        "The bias examination of credit 3.3 ended with the risk accepted",
    ),
    "document.versioned": (
        {"kind": "tech_doc", "target": "model:credit@3.3", "version": "2", "sha256": HEX},
        "Version 2 of the technical documentation for credit 3.3 was issued",
    ),
    "approval.granted": (
        {"target": "model:credit@3.3", "stage": "deployment", "rationale": "ok"},
        "risk-carol approved credit 3.3 for deployment",
    ),
    "approval.rejected": (
        {"target": "model:credit@3.3", "stage": "deployment", "rationale": "no"},
        "risk-carol rejected credit 3.3 for deployment",
    ),
    "model.deployed": (
        {"model": "credit", "version": "3.3", "environment": "production"},
        "credit 3.3 was deployed to production",
    ),
    "model.retired": (
        {"model": "credit", "version": "3.3", "environment": "production"},
        "credit 3.3 was retired from production",
    ),
    "decision.made": (
        {
            "model": "credit",
            "version": "3.3",
            "purpose": "scoring",
            "lawful_basis": "contract",
            "input_sha256": HEX,
            "output": {"score": 0.8},
            "solely_automated": True,
            "legal_effect": True,
        },
        "credit 3.3 made a decision about subject sub_ab12 for 'scoring'",
    ),
    "review.completed": (
        {"decision_id": "e40", "outcome": "overridden", "reason": "sealed"},
        "risk-carol reviewed decision e40 and overrode it",
    ),
    "dsr.received": (
        {"request_id": "r-12", "kind": "access", "received_at": "2026-08-04T09:30:00Z"},
        "The access request r-12 was received",
    ),
    "dsr.extended": (
        {"request_id": "r-12", "reason": "complex"},
        "The deadline of request r-12 was extended",
    ),
    "dsr.answered": ({"request_id": "r-12", "outcome": "completed"}, "Request r-12 was answered"),
    "erasure.completed": ({"method": "crypto-shred"}, "The data of subject sub_ab12 was erased"),
    "incident.documented": (
        {"incident_id": "inc-7", "facts": "f", "effects": "e", "remedial_action": "r"},
        "Incident inc-7 was documented",
    ),
    "incident.reported": (
        {
            "incident_id": "inc-7",
            "kind": "breach",
            "aware_at": "2026-08-04T09:30:00Z",
            "severity": "high",
            "widespread": False,
        },
        "The breach inc-7 was reported",
    ),
    "notification.sent": (
        {"to": "supervisory_authority", "about": "inc-7", "sent_at": "2026-08-05T09:30:00Z"},
        "The supervisory authority was notified of inc-7",
    ),
    "notice.given": (
        {"audience": "workers", "target": "system:credit-ai"},
        "The workers were informed about system credit-ai",
    ),
    "registration.completed": (
        {"database": "eu", "target": "system:credit-ai", "reference": "EU-123"},
        "System credit-ai was registered in the EU database as EU-123",
    ),
    "training.completed": (
        {"person": "ops-dan", "course": "AI oversight"},
        "ops-dan completed the course 'AI oversight'",
    ),
    "log.purged": (
        {"up_to": "2026-02-01T00:00:00Z", "reason": "retention"},
        "Logs up to 1 Feb 2026 00:00 UTC were purged",
    ),
    "system.suspended": ({"reason": "risk found"}, "The AI system credit-ai was suspended"),
    "risk.identified": (
        {"risk_id": "R-7", "aware_at": "2026-02-01T00:00:00Z", "summary": "drift"},
        "The risk R-7 was reported",
    ),
    "policy.changed": ({"policy_set_sha256": HEX, "summary": "x"}, "The rule set was changed"),
    "report.issued": (
        {"report_id": "R-1", "checkpoint_size": 3, "checkpoint_root": HEX, "sha256": HEX},
        "Report R-1 was issued",
    ),
    "key.rotated": ({"key_id": "k2", "purpose": "checkpoint"}, "The checkpoint key was rotated"),
}


@pytest.mark.parametrize("event_type", sorted(SAID))
def test_each_event_type_says_what_happened(event_type: str) -> None:
    payload, phrase = SAID[event_type]
    stored = validate_payload(event_type, payload, where="sample")  # a real payload
    told = event(event_type, stored, subject="sub_ab12")
    assert happened(told, opening=True) == phrase
    # Inside a sentence our words start small; names from the ledger are as recorded.
    assert happened(told) == phrase[:1].lower() + phrase[1:]


def test_every_type_of_the_vocabulary_is_said_and_none_crashes() -> None:
    # Types added to the vocabulary later start in general words until SAID has them; an
    # event of any type, with any payload, gives a sentence and never an error.
    for event_type in PAYLOAD_MODELS:
        for payload in ({}, {"model": 3, "version": None, "purpose": ["x"], "up_to": "soon"}):
            text = happened(event(event_type, payload), opening=True)
            assert text[0].isupper() and "{" not in text, (event_type, text)
    assert set(SAID) == set(PAYLOAD_MODELS), "add the new type's phrase to wording._PHRASES"


def test_a_type_without_a_phrase_and_an_event_without_its_facts() -> None:
    assert happened(event("explanation.given", {"request_id": "r-1"}), opening=True) == (
        "An event of type explanation.given was recorded"
    )
    # A check may keep an event without its payload: its type still reads as a noun.
    assert happened(event("model.deployed", {})) == "a deployment was recorded"
    assert happened(event("approval.granted", {}), opening=True) == "An approval was recorded"
    assert happened(event("consent.granted", {"purpose": "x"})) == "a consent was recorded"


# ---------------------------------------------------------------- the shipped rules

#: What a compliance officer should not have to read: field paths, ISO durations and
#: times, templates, key=value pairs, snake_case values and event types. (Subject tokens
#: are how the ledger names people, so they stay.)
MACHINE_WORDS = [
    re.compile(r"\b(?:payload|actor)\.\w"),
    re.compile(r"(?<![\w-])P(?:T?\d+[YMWDHS])+\b"),
    re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"),
    re.compile(r"[{}=]"),
    re.compile(r"\b[a-z]+_[a-z_]+\b"),
    re.compile("|".join(re.escape(t) for t in PAYLOAD_MODELS)),
]


def test_no_machine_word_is_left_in_any_message_the_shipped_rules_give() -> None:
    # Every message of every shipped rule's fixtures: pass, fail, pending and the rest.
    results = run_rule_tests(load_rules(default_policies_dir()))
    messages = [m.split(": ", 1)[1] for result in results for m in result.messages]
    assert len(messages) > 50
    for message in messages:
        for pattern in MACHINE_WORDS:
            assert pattern.search(message) is None, (pattern.pattern, message)
        assert message.endswith(".") and "  " not in message, message
