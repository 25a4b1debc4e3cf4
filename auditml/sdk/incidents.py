"""Record incidents, risks and the notifications about them: `incident.reported`,
`risk.identified`, `notification.sent`.

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

__all__ = ["identify_risk", "record_notification", "report_incident"]


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
    """Record `notification.sent`: `to` was notified about `about` (an incident, request or
    risk id; ``fria:SYSTEM`` for the results of a system's FRIA, AI Act Art. 27(3)).

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


def identify_risk(
    ledger: Ledger,
    risk_id: str,
    *,
    aware_at: datetime | str,
    summary: str,
    target: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `risk.identified`: using the system may present a risk to health, safety or
    fundamental rights (AI Act Art. 26(5), 79(1)).

    The deployer then tells the provider (`record_notification` to ``"provider"`` about
    `risk_id`) and suspends the use (`suspend_system`) before the system decides again.
    `aware_at` is when the organisation became aware; `target` what presents the risk
    (``system:NAME`` or ``model:NAME@VERSION``). `options` are the envelope fields.

    Example::

        identify_risk(ledger, "risk-12", aware_at="2026-09-02T10:00:00Z",
                      summary="refusal rate of applicants over 60 doubled since 3.3")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "identify_risk"
    payload = _common.compact(
        {
            "risk_id": _common.text(risk_id, "risk_id", where),
            "aware_at": _common.timestamp(aware_at, "aware_at", where),
            "summary": _common.text(summary, "summary", where),
            "target": _common.optional_text(target, "target", where),
        }
    )
    return _common.record(ledger, "risk.identified", payload, options)
