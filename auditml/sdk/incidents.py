"""Record incidents, risks and the notifications about them: `incident.reported`,
`incident.documented`, `risk.identified`, `notification.sent`.

Notification deadlines (GDPR Art. 33: 72 hours; AI Act Art. 73: 15 days, 10 or 2 for the
worst cases) run from ``aware_at``; the policies check them from these events.

Example::

    report_incident(ledger, "inc-9", "breach", aware_at=now, severity="high", widespread=False)
    record_notification(ledger, "supervisory_authority", "inc-9", sent_at=later)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Unpack

from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import (
    INCIDENT_KINDS,
    INCIDENT_OUTCOMES,
    NOTIFICATION_RECIPIENTS,
    SUBJECT_EXEMPTIONS,
    IncidentKind,
    IncidentOutcome,
    NotificationRecipient,
    SubjectExemption,
)

__all__ = ["document_incident", "identify_risk", "record_notification", "report_incident"]


def report_incident(
    ledger: Ledger,
    incident_id: str,
    kind: IncidentKind,
    *,
    aware_at: datetime | str,
    severity: str,
    widespread: bool,
    outcome: IncidentOutcome | None = None,
    high_risk: bool | None = None,
    subject_exemption: SubjectExemption | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `incident.reported`: a breach, serious incident or malfunction became known.

    `aware_at` is when the organisation became aware (required: deadlines run from it).
    `severity` is on your own scale; `outcome` is the harm caused, if known (death,
    health, infrastructure, rights, property, none); `widespread` marks a widespread
    infringement (AI Act Art. 73(3)). For a breach, `high_risk` says whether it is likely
    to result in a high risk to people (then they must be told, GDPR Art. 34(1)), and
    `subject_exemption` the Art. 34(3) point (``"a"``, ``"b"`` or ``"c"``) under which
    they are not told one by one. `options` are the envelope fields.

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
            "high_risk": None if high_risk is None else _common.flag(high_risk, "high_risk", where),
            "subject_exemption": None
            if subject_exemption is None
            else _common.choice(subject_exemption, SUBJECT_EXEMPTIONS, "subject_exemption", where),
        }
    )
    return _common.record(ledger, "incident.reported", payload, options)


def document_incident(
    ledger: Ledger,
    incident_id: str,
    *,
    facts: str,
    effects: str,
    remedial_action: str,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `incident.documented`: a breach's facts, effects and remedial action
    (GDPR Art. 33(5)), whether or not it had to be notified.

    The three texts are stored in clear: describe the breach (what, when, which data,
    how many people), not the people. `options` are the envelope fields.

    Example::

        document_incident(ledger, "inc-9", facts="37 letters sent to old addresses on 8 Jun",
                          effects="balances disclosed to strangers; fraud risk low",
                          remedial_action="addresses re-verified; letters recalled")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "document_incident"
    payload = {
        "incident_id": _common.text(incident_id, "incident_id", where),
        "facts": _common.text(facts, "facts", where),
        "effects": _common.text(effects, "effects", where),
        "remedial_action": _common.text(remedial_action, "remedial_action", where),
    }
    return _common.record(ledger, "incident.documented", payload, options)


def record_notification(
    ledger: Ledger,
    to: NotificationRecipient,
    about: str,
    *,
    sent_at: datetime | str,
    recipients: str | Iterable[str] | None = None,
    delay_reason: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `notification.sent`: `to` was notified about `about` (an incident, request or
    risk id; ``fria:SYSTEM`` for the results of a system's FRIA, AI Act Art. 27(3)).

    `to` is one of supervisory_authority, market_surveillance_authority, provider,
    subject, workers, recipient (those an erasure must be told to, GDPR Art. 19: name
    them in `recipients`) or public (a public communication, Art. 34(3)(c)). `sent_at` is
    when it was sent (required: it is what the deadline is checked against).
    `delay_reason` says why it was late (a breach notified after 72 hours must give the
    reasons, Art. 33(1)). `options` are the envelope fields.

    Example::

        record_notification(ledger, "supervisory_authority", "inc-9",
                            sent_at="2026-04-02T17:00:00Z")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "record_notification"
    payload = _common.compact(
        {
            "to": _common.choice(to, NOTIFICATION_RECIPIENTS, "to", where),
            "about": _common.text(about, "about", where),
            "sent_at": _common.timestamp(sent_at, "sent_at", where),
            "recipients": None
            if recipients is None
            else _common.names(recipients, "recipients", where),
            "delay_reason": _common.optional_text(delay_reason, "delay_reason", where),
        }
    )
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
