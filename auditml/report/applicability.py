"""Why a rule did not apply: not yet in force, out of scope, or nothing triggered it.

The engine says `not_applicable` when a rule judged no event. A report owes the reader the
reason, and it can be told from what the rule says (its regime and scope, docs/POLICIES.md) and a
few facts about the ledger as of the report's time. `why_not_applicable` decides from those
facts alone (pure); `auditml.report.assemble` gathers them from the ledger.

The reasons are checked in the order the engine applies them to a trigger: the regime's
date, then the system's registration, then the trigger itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from auditml.policy.wording import event_noun
from auditml.report.wording import day, words

__all__ = ["NotApplicable", "Scope", "TriggerFacts", "why_not_applicable"]

Reason = Literal["not_in_force", "out_of_scope", "no_trigger"]


@dataclass(frozen=True)
class Scope:
    """What a rule says about when and to whom it applies (its ``applies``)."""

    #: The regime's title and first day, or None when the rule names no regime.
    regime_title: str | None
    applies_from: date | None
    roles: Sequence[str] | None
    risk_classes: Sequence[str] | None
    has_condition: bool
    #: Whether a system's registration fits the rule (roles, risk classes and condition).
    fits: Callable[[Mapping[str, Any]], bool]

    @property
    def scoped(self) -> bool:
        return self.roles is not None or self.risk_classes is not None or self.has_condition


@dataclass(frozen=True)
class TriggerFacts:
    """What the ledger held, as of the report, of the events that trigger the rule."""

    #: The event types that trigger the rule; None means every type.
    types: frozenset[str] | None
    #: When the latest of them occurred (None: there is none).
    latest: datetime | None
    #: Whether any of them occurred on or after the regime's first day.
    since_in_force: bool


@dataclass(frozen=True)
class NotApplicable:
    """A reason a rule did not apply: its kind and a sentence for the report."""

    reason: Reason
    text: str


_RISK = {"high": "high-risk", "limited": "limited-risk", "minimal": "minimal-risk"}
_ROLE = {"provider": "the provider", "deployer": "the deployer", "both": "both"}


def _scope_text(scope: Scope) -> str:
    """``high-risk systems of which the organisation is the deployer or both (provider and
    deployer), and that meet a further condition of the rule``."""
    risk = " or ".join(_RISK.get(c, c) for c in scope.risk_classes or ())
    text = f"{risk} systems" if risk else "registered systems"
    if scope.roles is not None:
        roles = " or ".join(_ROLE.get(r, r) for r in scope.roles)
        if "both" in scope.roles:
            roles += " (provider and deployer)"
        text += f" of which the organisation is {roles}"
    if scope.has_condition:
        text += (", and" if scope.roles is not None else "") + " that meet a further condition"
    return text


def _registration_text(name: str, registration: Mapping[str, Any]) -> str:
    parts = [f"role {words(registration.get('role', '?'))}"]
    risk = registration.get("risk_class")
    parts.append(_RISK.get(str(risk), f"risk class {risk}"))
    point = registration.get("annex_iii_point")
    if point:
        parts.append(f"Annex III point {point}")
    if registration.get("public_authority"):
        parts.append("public authority")
    return f"{name}: {', '.join(parts)}"


def _trigger_text(types: frozenset[str] | None, count: int = 2) -> str:
    if types is None:
        return "event"
    return " or ".join(event_noun(t, count) for t in sorted(types))


def why_not_applicable(
    scope: Scope,
    as_of: datetime,
    registrations: Mapping[str, Mapping[str, Any]],
    triggers: TriggerFacts,
) -> NotApplicable:
    """Why a rule that judged no event did not apply, as of `as_of`.

    `registrations` maps each system in the report's scope to its latest
    ``system.registered`` payload. Returns the first reason that holds: the regime does not
    apply yet; no registered system fits the rule's scope; no event triggered it (none
    recorded, none since the regime applied, or none of the kind the rule covers).
    """
    if scope.applies_from is not None and scope.applies_from > as_of.date():
        return NotApplicable(
            "not_in_force",
            f"Not yet in force: {scope.regime_title} applies from {day(scope.applies_from.isoformat())}.",
        )
    if scope.scoped and not any(scope.fits(r) for r in registrations.values()):
        held = "; ".join(_registration_text(n, r) for n, r in sorted(registrations.items()))
        found = f"no registered system does ({held})" if held else "no system is registered"
        return NotApplicable(
            "out_of_scope", f"Out of scope: the rule applies to {_scope_text(scope)}; {found}."
        )
    nouns = _trigger_text(triggers.types)
    if triggers.latest is None:
        return NotApplicable("no_trigger", f"No triggering event: no {nouns} recorded.")
    if scope.applies_from is not None and not triggers.since_in_force:
        return NotApplicable(
            "no_trigger",
            f"No triggering event since the rule applies ({day(scope.applies_from.isoformat())}): "
            f"the latest {_trigger_text(triggers.types, 1)} occurred on "
            f"{day(triggers.latest.isoformat())}.",
        )
    where = " in a system it applies to" if scope.scoped else ""
    return NotApplicable(
        "no_trigger", f"No triggering event: no {nouns} of the kind the rule covers{where}."
    )
