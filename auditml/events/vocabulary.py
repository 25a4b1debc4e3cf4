"""The event types of vocabulary v1 (DESIGN.md section 4).

Typed payload models per type arrive with the recording SDK; until then a payload
is any JSON object and only the type name is checked.
"""

from __future__ import annotations

EVENT_TYPES: frozenset[str] = frozenset(
    {
        "system.registered",
        "dataset.registered",
        "dataset.derived",
        "consent.granted",
        "consent.withdrawn",
        "model.trained",
        "assessment.completed",
        "document.versioned",
        "approval.granted",
        "approval.rejected",
        "model.deployed",
        "model.retired",
        "decision.made",
        "review.completed",
        "dsr.received",
        "dsr.extended",
        "dsr.answered",
        "erasure.completed",
        "incident.reported",
        "notification.sent",
        "notice.given",
        "registration.completed",
        "training.completed",
        "log.purged",
        "system.suspended",
        "policy.changed",
        "key.rotated",
    }
)
