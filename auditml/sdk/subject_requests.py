"""Record data-subject requests (GDPR Art. 12-22): received, extended, answered.

The answer deadline runs from ``received_at`` (one month, extendable, Art. 12(3)); the
policies check it from these events.

Example::

    receive_request(ledger, "c-1042", "dsr-77", "access", received_at="2026-03-02T10:00:00Z")
    extend_request(ledger, "dsr-77", "archive restore needed for 2019 records")
    answer_request(ledger, "dsr-77", "completed")
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Unpack

from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import (
    DSR_KINDS,
    DSR_OUTCOMES,
    OBJECTION_GROUNDS,
    DsrKind,
    DsrOutcome,
    ObjectionGround,
)

__all__ = ["answer_request", "extend_request", "receive_request"]


def receive_request(
    ledger: Ledger,
    subject: str,
    request_id: str,
    kind: DsrKind,
    *,
    received_at: datetime | str,
    personal: Mapping[str, Any] | None = None,
    objects_to: ObjectionGround | None = None,
    decision_id: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `dsr.received`: `subject` asked for `kind` (access, erasure, objection, ...).

    `received_at` is required (an aware datetime or ISO 8601 string): deadlines run from
    it, so it must be the real arrival time, not the time this code happens to run.
    `personal` (e.g. the reply address) is stored sealed. For an objection, `objects_to`
    says what it is made under: ``"direct_marketing"`` (GDPR Art. 21(2), absolute),
    ``"particular_situation"`` (Art. 21(1)) or ``"research"`` (Art. 21(6)). For a contest
    (or an explanation request), `decision_id` is the event id of the decision it is
    about (Art. 22(3)). `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        receive_request(ledger, "c-1042", "dsr-77", "erasure",
                        received_at=datetime(2026, 3, 2, 10, tzinfo=UTC))

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "receive_request"
    payload = _common.compact(
        {
            "request_id": _common.text(request_id, "request_id", where),
            "kind": _common.choice(kind, DSR_KINDS, "kind", where),
            "received_at": _common.timestamp(received_at, "received_at", where),
            "objects_to": None
            if objects_to is None
            else _common.choice(objects_to, OBJECTION_GROUNDS, "objects_to", where),
            "decision_id": _common.optional_text(decision_id, "decision_id", where),
        }
    )
    return _common.record(
        ledger,
        "dsr.received",
        payload,
        options,
        subject=_common.text(subject, "subject", where),
        personal=personal,
    )


def extend_request(
    ledger: Ledger, request_id: str, reason: str, **options: Unpack[EventOptions]
) -> Receipt:
    """Record `dsr.extended`: the answer deadline of `request_id` is extended (Art. 12(3)).

    `reason` is stored in clear: state the ground (complexity, number of requests), not
    facts about the person. `options` are the envelope fields.

    Example::

        extend_request(ledger, "dsr-77", "complex request: records in three archives")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "extend_request"
    payload = {
        "request_id": _common.text(request_id, "request_id", where),
        "reason": _common.text(reason, "reason", where),
    }
    return _common.record(ledger, "dsr.extended", payload, options)


def answer_request(
    ledger: Ledger,
    request_id: str,
    outcome: DsrOutcome,
    *,
    ground: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `dsr.answered`: `request_id` was ``"completed"`` or ``"refused"``.

    `ground` is the legal ground of a refusal (e.g. ``"Art. 12(5) manifestly unfounded"``).
    `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        answer_request(ledger, "dsr-77", "refused", ground="Art. 12(5): manifestly excessive")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "answer_request"
    payload = _common.compact(
        {
            "request_id": _common.text(request_id, "request_id", where),
            "outcome": _common.choice(outcome, DSR_OUTCOMES, "outcome", where),
            "ground": _common.optional_text(ground, "ground", where),
        }
    )
    return _common.record(ledger, "dsr.answered", payload, options)
