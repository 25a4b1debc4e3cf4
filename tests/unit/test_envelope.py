"""Envelope input validation and formats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError as PydanticError

from auditml.errors import ValidationError
from auditml.events.envelope import Envelope, format_time, parse_time, prepare_event, uuid7

ACTOR = {"id": "ana", "kind": "human"}


def test_times_are_utc_microseconds_z_and_four_digit_years() -> None:
    assert (
        format_time(datetime(2026, 1, 31, 10, 0, tzinfo=timezone(timedelta(hours=1))))
        == "2026-01-31T09:00:00.000000Z"
    )
    assert format_time(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"
    assert parse_time("2026-03-01T12:00:00.5-02:00", where="t") == datetime(
        2026, 3, 1, 14, 0, 0, 500000, tzinfo=UTC
    )
    with pytest.raises(ValidationError, match="no timezone"):
        parse_time(datetime(2026, 1, 1), where="t")
    with pytest.raises(ValidationError, match="not an ISO 8601"):
        parse_time("yesterday", where="t")


def test_uuid7_is_version_7_and_time_ordered() -> None:
    first, second = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)
    assert uuid.UUID(first).version == 7 and first < second
    assert int(first.replace("-", "")[:12], 16) == 1_700_000_000_000


def test_prepare_event_defaults_and_refusals() -> None:
    event = prepare_event(
        {
            "type": "model.deployed",
            "payload": {"model": "m", "version": "1", "environment": "prod"},
        },
        default_system="credit",
        default_actor=ACTOR,
    )
    assert (event.system, event.actor, event.id, event.occurred_at) == ("credit", ACTOR, None, None)
    with pytest.raises(ValidationError, match=r"payload\.environment"):
        prepare_event(
            {"type": "model.deployed", "payload": {"model": "m", "version": "1"}},
            default_system="s",
            default_actor=ACTOR,
        )
    with pytest.raises(ValidationError, match="unknown field.*colour"):
        prepare_event(
            {
                "type": "model.deployed",
                "payload": {"model": "m", "version": "1", "environment": "p"},
                "colour": "red",
            },
            default_system="s",
            default_actor=ACTOR,
        )
    with pytest.raises(ValidationError, match="system"):
        prepare_event(
            {
                "type": "model.deployed",
                "payload": {"model": "m", "version": "1", "environment": "p"},
                "system": " bad",
            },
            default_system="s",
            default_actor=ACTOR,
        )


def test_text_utf8_cannot_encode_is_refused_naming_the_event_and_the_field() -> None:
    # A free JSON field (a decision's explanation, a model's params) is checked by the
    # canonical encoder, not by the payload model: its refusal names the event all the same.
    decision = {
        "model": "m",
        "version": "1",
        "purpose": "p",
        "lawful_basis": "contract",
        "input_sha256": "0" * 64,
        "output": {"score": 1},
        "solely_automated": True,
        "legal_effect": False,
        "explanation": "bad \udc80 text",
    }
    with pytest.raises(ValidationError) as refused:
        prepare_event(
            {"type": "decision.made", "payload": decision, "subject": "c-1"},
            default_system="s",
            default_actor=ACTOR,
            where="event 3",
        )
    message = str(refused.value)
    assert message.startswith("event 3 (decision.made): ") and "/payload/explanation" in message


def test_envelope_model_anchors_patterns() -> None:
    data = {
        "v": 1,
        "seq": 0,
        "id": "ok-id",
        "type": "model.deployed",
        "system": "s",
        "recorded_at": "2026-01-01T00:00:00.000000Z",
        "occurred_at": "2026-01-01T00:00:00.000000Z",
        "actor": ACTOR,
        "payload": {},
        "prev": "0" * 64,
    }
    assert Envelope.from_json(data).to_json() == data
    with pytest.raises(PydanticError):
        Envelope.from_json({**data, "id": "bad id!"})
