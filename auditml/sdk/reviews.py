"""Record that a person reviewed a model's decision: `review.completed`.

Human oversight (GDPR Art. 22(3), AI Act Art. 14): the reviewer is the event's actor,
and the reason is stored sealed under the decision subject's key.

Example::

    receipt = record_decision(ledger, ..., subject="c-1042", ...)
    record_review(ledger, receipt.id, "overridden", "income proof was provided",
                  "ana", subject="c-1042")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

from auditml.errors import NotFoundError, ValidationError
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
    subject: str | int,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `review.completed` for the decision `decision_id`; return the receipt.

    `outcome` is ``"upheld"`` or ``"overridden"``. `reviewer` is the person's id (or a
    full actor mapping with kind ``"human"``), recorded as the actor. `subject` is the
    decided-about person's identifier: the reason is personal data, sealed under their
    key so that erasing them erases it. When the decision is in this ledger, the subject
    must be the decision's subject. A decision not found here is not refused (it may be
    in another ledger, or still queued for group commit). `options` are the envelope
    fields (occurred_at, id, system; the actor is the reviewer).

    Example::

        record_review(ledger, decision_id, "upheld", "checked the income documents",
                      "ana", subject="c-1042")

    Raises ValidationError (nothing recorded) for a bad argument or a subject that is not
    the decision's.
    """
    where = "record_review"
    decision_id = _common.text(decision_id, "decision_id", where)
    raw_subject = (
        str(subject) if isinstance(subject, int) and not isinstance(subject, bool) else subject
    )
    raw_subject = _common.text(raw_subject, "subject", where)
    payload = {
        "decision_id": decision_id,
        "outcome": _common.choice(outcome, REVIEW_OUTCOMES, "outcome", where),
        "reason": _common.text(reason, "reason", where),
    }
    actor = _common.human(reviewer, "reviewer", where)
    _check_decision(ledger, decision_id, raw_subject, where)
    return _common.record(
        ledger,
        "review.completed",
        payload,
        _common.with_actor(options, actor, where),
        subject=raw_subject,
    )


def _check_decision(ledger: Ledger, decision_id: str, subject: str, where: str) -> None:
    """Refuse a review whose decision is in the ledger but is not a decision, or not theirs."""
    try:
        event = ledger.get(decision_id)
    except NotFoundError:
        return
    if event.type != "decision.made":
        raise ValidationError(
            f"{where}: event {decision_id} is a {event.type}, not a decision.made; "
            "pass the id of the decision that was reviewed"
        )
    if event.subject is not None and ledger.subject_token(subject) != event.subject:
        raise ValidationError(
            f"{where}: decision {decision_id} is about another subject than the one given; "
            "the review's reason would be sealed under the wrong person's key"
        )
