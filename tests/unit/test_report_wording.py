"""The report's words: times, periods, hashes, references and the engine's sentences."""

from __future__ import annotations

import re

import pytest

from auditml.events.payloads import PAYLOAD_MODELS
from auditml.policy.engine import run_rule_tests
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.wording import (
    algorithm,
    day,
    duration,
    event_noun,
    grouped_hex,
    period_of_report,
    plain_message,
    recipient,
    references,
    request_kind,
    target,
    when,
    words,
)


@pytest.mark.parametrize(
    ("stored", "printed"),
    [
        ("2026-08-19T21:59:59.999999Z", "19 Aug 2026, 21:59 UTC"),  # cut, never rounded up
        ("2026-03-02T09:05:00Z", "2 Mar 2026, 09:05 UTC"),
        ("2026-03-02T10:05:00+01:00", "2 Mar 2026, 09:05 UTC"),
        ("2026-01-01 00:00:00Z", "1 Jan 2026, 00:00 UTC"),
    ],
)
def test_times_are_written_as_people_write_them(stored: str, printed: str) -> None:
    assert when(stored) == printed
    assert when(stored, comma=False) == printed.replace(",", "")


@pytest.mark.parametrize("odd", ["", "yesterday", "2026-03-02T09:05:00", "?"])
def test_a_time_that_is_not_one_comes_back_as_it_was(odd: str) -> None:
    assert when(odd) == odd  # naive or unparsable: printed as given, never a crash
    assert when(None) == ""


def test_days() -> None:
    assert day("2026-08-02") == "2 Aug 2026"
    assert day("2018-05-25T00:00:00Z") == "25 May 2018"
    assert day("soon") == "soon"


@pytest.mark.parametrize(
    ("iso", "text"),
    [
        ("P15D", "15 days"),
        ("PT72H", "72 hours"),
        ("P1M", "1 month"),
        ("P1D", "1 day"),
        ("P6M", "6 months"),
        ("P1Y6M", "1 year 6 months"),
        ("P2W", "2 weeks"),
        ("PT1H30M", "1 hour 30 minutes"),
        ("P5Y", "5 years"),
        ("P", "P"),
        ("PT", "PT"),
        ("15D", "15D"),
        ("P1DT", "P1DT"),
    ],
)
def test_durations_in_words(iso: str, text: str) -> None:
    assert duration(iso) == text


def test_event_types_as_nouns() -> None:
    assert event_noun("incident.reported") == "incident report"
    assert event_noun("approval.granted", 2) == "approvals"
    assert event_noun("dsr.received", 0) == "data-subject requests"
    assert event_noun("log.purged", 3) == "log purges"
    assert event_noun("dataset.registered", 2) == "dataset registrations"
    assert event_noun("something.new_here") == "something new here"


def test_every_event_type_of_the_vocabulary_has_a_noun() -> None:
    for event_type in PAYLOAD_MODELS:
        assert "." not in event_noun(event_type) and "_" not in event_noun(event_type)


def test_closed_values_in_words() -> None:
    assert recipient("supervisory_authority") == "the supervisory authority"
    assert recipient("market_surveillance_authority") == "the market surveillance authority"
    assert recipient("subject") == "the data subjects"
    assert words("serious_incident") == "serious incident"
    assert words("breach") == "personal data breach"
    assert request_kind("erasure") == "erasure (Art. 17)"
    assert request_kind("something_else") == "something else"
    assert target("model:credit@3.2") == "model credit@3.2"
    assert target("policy-2026") == "policy-2026"
    assert algorithm("ecdsa-with-SHA256") == "ECDSA with SHA-256"
    assert algorithm("Ed25519 (C2SP signed note)") == "Ed25519 (C2SP signed note)"


def test_hashes_are_grouped_in_blocks_of_four() -> None:
    digest = "5d2a1e0cdd528f00218d55b92af73f12d7fbf03f8042bcdd6638d03f345dff69"
    grouped = grouped_hex(digest)
    assert grouped.split(" ") == [digest[i : i + 4] for i in range(0, 64, 4)]
    assert grouped.replace(" ", "") == digest
    assert grouped_hex("not hex at all") == "not hex at all"
    assert grouped_hex("") == ""


def test_references_name_each_law_once() -> None:
    assert references(["GDPR Art. 22(2)(c)", "GDPR Art. 22(1)", "GDPR Art. 7(3)"]) == (
        "GDPR Art. 22(2)(c), 22(1), 7(3)"
    )
    assert references(["internal evidence recording", "GDPR Art. 5(2)", "AI Act Art. 12"]) == (
        "internal policy evidence recording; GDPR Art. 5(2); AI Act Art. 12"
    )
    assert references(["AI Act Art. 73(2)", "AI Act Art. 73(3)"]) == "AI Act Art. 73(2), 73(3)"
    assert references([]) == ""


def test_the_period_of_a_report() -> None:
    as_of = "2026-08-31T18:00:00.000000Z"
    assert period_of_report(None, None, as_of) == (
        "the whole ledger, as it stood on 31 Aug 2026, 18:00 UTC"
    )
    assert period_of_report("2026-06-01T00:00:00Z", None, as_of) == (
        "from 1 Jun 2026, 00:00 UTC to 31 Aug 2026, 18:00 UTC (the as-of time)"
    )
    assert period_of_report(None, "2026-07-01T00:00:00Z", as_of) == (
        "from the first event until before 1 Jul 2026, 00:00 UTC"
    )


@pytest.mark.parametrize(
    ("engine", "reader"),
    [
        (
            "incident.reported (seq 236) for payload.incident_id=INC-2026-02 (clock from "
            "2026-08-04 09:30:00 UTC, period P15D, due 2026-08-19 21:59:59 UTC) was met late: "
            "notification.sent (seq 269) at 2026-08-24 10:00:00 UTC, 4 days 12 hours after the "
            "due date.",
            "Incident report (seq 236) for incident INC-2026-02 (clock from 4 Aug 2026 09:30 UTC, "
            "period 15 days, due 19 Aug 2026 21:59 UTC) was met late: notification (seq 269) at "
            "24 Aug 2026 10:00 UTC, 4 days 12 hours after the due date.",
        ),
        (
            "decision.made (seq 116) for subject=sub_de3763hoyo4ti323g2thjm3zvy, "
            "payload.purpose=creditworthiness assessment has no earlier consent.granted in force "
            "(none recorded, or revoked by consent.withdrawn).",
            "Decision (seq 116) for a data subject, purpose creditworthiness assessment has no "
            "earlier consent in force (none recorded, or revoked by consent withdrawal).",
        ),
        (
            "model.deployed (seq 206) for model:{payload.model}@{payload.version}="
            "model:credit@3.3 has 0 approval.granted by distinct actor.id, short of the minimum "
            "of 2; ana.kovac@bank.example did not count, having done the model.trained.",
            "Deployment (seq 206) for model credit@3.3 has 0 approvals from distinct people, "
            "short of the minimum of 2; ana.kovac@bank.example did not count, having done the "
            "training run.",
        ),
        (
            "dataset.registered (seq 1) lacks payload.lawful_basis.",
            "Dataset registration (seq 1) lacks lawful basis.",
        ),
        (
            "assessment.completed (seq 1), occurred 2026-07-09 15:00:00 UTC, was recorded "
            "2026-08-06 10:00:00 UTC: recorded 27 days 19 hours after it occurred (limit P7D).",
            "Assessment (seq 1), occurred 9 Jul 2026 15:00 UTC, was recorded 6 Aug 2026 10:00 "
            "UTC: recorded 27 days 19 hours after it occurred (limit 7 days).",
        ),
        (
            "notification.sent (seq 3) to supervisory_authority",
            "Notification (seq 3) to the supervisory authority",
        ),
    ],
)
def test_the_engines_sentences_in_words(engine: str, reader: str) -> None:
    assert plain_message(engine) == reader


#: What a compliance officer should not have to read: field paths, subject tokens, ISO
#: durations and times, templates, key=value pairs, snake_case values and event types.
MACHINE_WORDS = [
    re.compile(r"\b(?:payload|actor)\.\w"),
    re.compile(r"\bsub_[a-z2-7]{8,}"),
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
        plain = plain_message(message)
        for pattern in MACHINE_WORDS:
            assert pattern.search(plain) is None, (pattern.pattern, message, plain)
        assert plain[0].isupper()


def test_a_duration_ending_a_sentence_is_put_into_words() -> None:
    assert plain_message("older than P1M.") == "Older than 1 month."
    assert plain_message("a retention of P3Y, then") == "A retention of 3 years, then"
    assert "P1M.x" in plain_message("a name like P1M.x stays")
