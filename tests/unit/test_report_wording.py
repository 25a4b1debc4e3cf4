"""The report's words: times, closed values, hashes and references (the findings arrive as
sentences already: tests/unit/test_wording.py)."""

from __future__ import annotations

import pytest

from auditml.events.payloads import PAYLOAD_MODELS
from auditml.report.wording import (
    algorithm,
    day,
    event_label,
    grouped_hex,
    period_of_report,
    recipient,
    references,
    request_kind,
    thing,
    when,
    words,
)


@pytest.mark.parametrize(
    ("stored", "printed"),
    [
        ("2026-08-19T21:59:59.999999Z", "19 Aug 2026 21:59 UTC"),  # cut, never rounded up
        ("2026-03-02T09:05:00Z", "2 Mar 2026 09:05 UTC"),
        ("2026-03-02T10:05:00+01:00", "2 Mar 2026 09:05 UTC"),
        ("2026-01-01 00:00:00Z", "1 Jan 2026 00:00 UTC"),
    ],
)
def test_times_are_written_as_people_write_them(stored: str, printed: str) -> None:
    assert when(stored) == printed


@pytest.mark.parametrize("odd", ["", "yesterday", "2026-03-02T09:05:00", "?"])
def test_a_time_that_is_not_one_comes_back_as_it_was(odd: str) -> None:
    assert when(odd) == odd  # naive or unparsable: printed as given, never a crash
    assert when(None) == ""


def test_days() -> None:
    assert day("2026-08-02") == "2 Aug 2026"
    assert day("2018-05-25T00:00:00Z") == "25 May 2018"
    assert day("soon") == "soon"


def test_event_types_as_table_cells() -> None:
    assert event_label("incident.reported") == "Incident report"
    assert event_label("registration.completed") == "EU database registration"
    assert event_label("something.new_here") == "Something new here"
    for event_type in PAYLOAD_MODELS:
        assert "." not in event_label(event_type) and "_" not in event_label(event_type)


def test_closed_values_in_words() -> None:
    assert recipient("supervisory_authority") == "the supervisory authority"
    assert recipient("market_surveillance_authority") == "the market surveillance authority"
    assert recipient("subject") == "the data subjects"
    assert words("serious_incident") == "serious incident"
    assert words("breach") == "personal data breach"
    assert request_kind("erasure") == "erasure (Art. 17)"
    assert request_kind("something_else") == "something else"
    assert thing("model:credit@3.2") == "credit 3.2"
    assert thing("policy-2026") == "policy-2026"
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
        "the whole ledger, as it stood on 31 Aug 2026 18:00 UTC"
    )
    assert period_of_report("2026-06-01T00:00:00Z", None, as_of) == (
        "from 1 Jun 2026 00:00 UTC to 31 Aug 2026 18:00 UTC (the as-of time)"
    )
    assert period_of_report(None, "2026-07-01T00:00:00Z", as_of) == (
        "from the first event until before 1 Jul 2026 00:00 UTC"
    )
