"""Record that a person reviewed a model's decision: `review.completed`.

Human oversight (GDPR Art. 22(3), AI Act Art. 14): the reviewer is the event's actor,
and the reason is stored sealed under the decision subject's key. The reviewer needs
only the decision's id: the subject is taken from the decision itself.

Example::

    receipt = record_decision(ledger, ..., subject="c-1042", ...)
    record_review(ledger, receipt.id, "overridden", "income proof was provided", "ana")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from auditml.errors import NotFoundError, ValidationError
from auditml.events.envelope import Envelope
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import REVIEW_OUTCOMES, ReviewOutcome

__all__ = ["record_review"]


def record_review(
    ledger: Ledger,
    decision_id: str,
    outcome: ReviewOutcome,
    reason: str,
    reviewer: str | Mapping[str, str],
    *,
    subject: str | int | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `review.completed` for the decision `decision_id`; return the receipt.

    `outcome` is ``"upheld"`` or ``"overridden"``. `reviewer` is the person's id (or a
    full actor mapping with kind ``"human"``), recorded as the actor. The reason is
    personal data: it is sealed under the key of the person the decision is about, so
    that erasing them erases it.

    By default the decision is looked up in this ledger (`Ledger.get`, which also sees
    decisions still queued for group commit) and the review is recorded about the
    decision's subject, by its pseudonymous token: the reviewer never needs the
    person's raw identifier. Give `subject` (the person's raw identifier) only for a
    decision recorded in another ledger; when the decision is in this ledger, it must
    be the decision's subject. `options` are the envelope fields (occurred_at, id,
    system; the actor is the reviewer).

    Example::

        receipt = record_decision(ledger, ..., subject="c-1042", ...)
        record_review(ledger, receipt.id, "upheld", "checked the income documents", "ana")

    Raises ValidationError (nothing recorded) for a bad argument; without `subject`, for a
    `decision_id` that is not a decision.made of this ledger; with it, for a subject that
    is not the decision's.
    """
    where = "record_review"
    decision_id = _common.text(decision_id, "decision_id", where)
    raw_subject: str | None = None
    if subject is not None:
        given = (
            str(subject) if isinstance(subject, int) and not isinstance(subject, bool) else subject
        )
        raw_subject = _common.text(given, "subject", where)
    payload = {
        "decision_id": decision_id,
        "outcome": _common.choice(outcome, REVIEW_OUTCOMES, "outcome", where),
        "reason": _common.text(reason, "reason", where),
    }
    options = _common.with_actor(options, _common.human(reviewer, "reviewer", where), where)
    if raw_subject is not None:
        _check_decision(ledger, decision_id, raw_subject, where)
        return _common.record(ledger, "review.completed", payload, options, subject=raw_subject)
    token = _decision_subject(ledger, decision_id, where)
    return _common.record(ledger, "review.completed", payload, options, subject_token=token)


def _decision(ledger: Ledger, decision_id: str, where: str) -> Envelope | None:
    """The decision.made with this id, None if the ledger has no such event."""
    try:
        event = ledger.get(decision_id)
    except NotFoundError:
        return None
    if event.type != "decision.made":
        raise ValidationError(
            f"{where}: event {decision_id} is a {event.type}, not a decision.made; "
            "pass the id of the decision that was reviewed"
        )
    return event


def _decision_subject(ledger: Ledger, decision_id: str, where: str) -> str:
    """The subject token of decision `decision_id`, which must be in this ledger."""
    event = _decision(ledger, decision_id, where)
    if event is None:
        raise ValidationError(
            f"{where}: this ledger has no event with id {decision_id!r}; pass the id of the "
            "decision.made that was reviewed (its receipt's .id), or, for a decision recorded "
            "in another ledger, the person's identifier as subject="
        )
    if event.subject is None:  # not written by this SDK: decision.made names its subject
        raise ValidationError(
            f"{where}: decision {decision_id} names no subject, so there is no key to seal "
            "the reason under; pass the person's identifier as subject="
        )
    return event.subject


def _check_decision(ledger: Ledger, decision_id: str, subject: str, where: str) -> None:
    """Refuse a review whose decision is in the ledger but is not a decision, or not theirs."""
    event = _decision(ledger, decision_id, where)
    if event is None:
        return  # recorded in another ledger: the subject given is all there is
    if event.subject is not None and ledger.subject_token(subject) != event.subject:
        raise ValidationError(
            f"{where}: decision {decision_id} is about another subject than the one given; "
            "the review's reason would be sealed under the wrong person's key. Leave subject= "
            "out to review the decision's own subject"
        )
