"""Record incidents and the notifications about them: `incident.reported`, `notification.sent`.

Notification deadlines (GDPR Art. 33: 72 hours; AI Act Art. 73: 15 days, 10 or 2 for the
worst cases) run from ``aware_at``; the policies check them from these events.

Example::

    report_incident(ledger, "inc-9", "breach", aware_at=now, severity="high", widespread=False)
    record_notification(ledger, "supervisory_authority", "inc-9", sent_at=later)
"""

from __future__ import annotations

from datetime import datetime
from typing import Unpack

from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import (
    INCIDENT_KINDS,
    INCIDENT_OUTCOMES,
    NOTIFICATION_RECIPIENTS,
    IncidentKind,
    IncidentOutcome,
    NotificationRecipient,
)

__all__ = ["record_notification", "report_incident"]


def report_incident(
    ledger: Ledger,
    incident_id: str,
    kind: IncidentKind,
    *,
    aware_at: datetime | str,
    severity: str,
    widespread: bool,
    outcome: IncidentOutcome | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `incident.reported`: a breach, serious incident or malfunction became known.

    `aware_at` is when the organisation became aware (required: deadlines run from it).
    `severity` is on your own scale; `outcome` is the harm caused, if known (death,
    health, infrastructure, rights, property, none); `widespread` marks a widespread
    infringement (AI Act Art. 73(3)). `options` are the envelope fields.

    Example::

        report_incident(ledger, "inc-9", "breach", aware_at="2026-04-01T08:15:00Z",
                        severity="high", widespread=False, outcome="rights")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "report_incident"
    payload = _common.compact(
        {
            "incident_id": _common.text(incident_id, "incident_id", where),
            "kind": _common.choice(kind, INCIDENT_KINDS, "kind", where),
            "aware_at": _common.timestamp(aware_at, "aware_at", where),
            "severity": _common.text(severity, "severity", where),
            "outcome": None
            if outcome is None
            else _common.choice(outcome, INCIDENT_OUTCOMES, "outcome", where),
            "widespread": _common.flag(widespread, "widespread", where),
        }
    )
    return _common.record(ledger, "incident.reported", payload, options)


def record_notification(
    ledger: Ledger,
    to: NotificationRecipient,
    about: str,
    *,
    sent_at: datetime | str,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `notification.sent`: `to` was notified about `about` (an incident or request id).

    `to` is one of supervisory_authority, market_surveillance_authority, provider,
    subject, workers. `sent_at` is when it was sent (required: it is what the deadline
    is checked against). `options` are the envelope fields.

    Example::

        record_notification(ledger, "supervisory_authority", "inc-9",
                            sent_at="2026-04-02T17:00:00Z")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "record_notification"
    payload = {
        "to": _common.choice(to, NOTIFICATION_RECIPIENTS, "to", where),
        "about": _common.text(about, "about", where),
        "sent_at": _common.timestamp(sent_at, "sent_at", where),
    }
    return _common.record(ledger, "notification.sent", payload, options)
