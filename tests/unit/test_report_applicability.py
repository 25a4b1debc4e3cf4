"""Why a rule did not apply, decided from the rule's scope and a few facts (no ledger)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from auditml.report.applicability import Scope, TriggerFacts, why_not_applicable

AS_OF = datetime(2026, 9, 1, tzinfo=UTC)
ANNEX_III = "AI Act general application: Annex III high-risk systems"
CREDIT = {"role": "both", "risk_class": "high", "annex_iii_point": "5(b)"}


def scope(
    *,
    applies_from: date | None = date(2026, 8, 2),
    roles: Sequence[str] | None = ("deployer", "both"),
    risk_classes: Sequence[str] | None = ("high",),
    condition: bool = False,
) -> Scope:
    def fits(registration: Mapping[str, Any]) -> bool:
        return (
            (roles is None or registration.get("role") in roles)
            and (risk_classes is None or registration.get("risk_class") in risk_classes)
            and (not condition or str(registration.get("annex_iii_point", "")).startswith("4"))
        )

    return Scope(
        regime_title=None if applies_from is None else ANNEX_III,
        applies_from=applies_from,
        roles=roles,
        risk_classes=risk_classes,
        has_condition=condition,
        fits=fits,
    )


NONE = TriggerFacts(frozenset({"model.deployed"}), None, False)


def test_a_regime_that_applies_later_is_not_yet_in_force() -> None:
    found = why_not_applicable(scope(applies_from=date(2027, 8, 2)), AS_OF, {"s": CREDIT}, NONE)
    assert found.reason == "not_in_force"
    assert found.text == f"Not yet in force: {ANNEX_III} applies from 2 Aug 2027."


def test_not_in_force_is_told_before_scope_and_triggers() -> None:
    found = why_not_applicable(scope(applies_from=date(2026, 9, 2)), AS_OF, {}, NONE)
    assert found.reason == "not_in_force"


def test_out_of_scope_names_what_is_registered() -> None:
    found = why_not_applicable(scope(condition=True), AS_OF, {"credit-scoring": CREDIT}, NONE)
    assert found.reason == "out_of_scope"
    assert found.text == (
        "Out of scope: the rule applies to high-risk systems of which the organisation is "
        "the deployer or both (provider and deployer), and that meet a further condition; no "
        "registered system does (credit-scoring: role both, high-risk, Annex III point 5(b))."
    )


def test_out_of_scope_when_no_system_is_registered() -> None:
    found = why_not_applicable(scope(roles=("provider", "both")), AS_OF, {}, NONE)
    assert found.reason == "out_of_scope"
    assert found.text.endswith("; no system is registered.")
    assert "the provider or both (provider and deployer)" in found.text


def test_no_trigger_recorded_at_all() -> None:
    found = why_not_applicable(
        scope(applies_from=None, roles=None, risk_classes=None), AS_OF, {}, NONE
    )
    assert (found.reason, found.text) == (
        "no_trigger",
        "No triggering event: no deployments recorded.",
    )


def test_triggers_only_before_the_regime_applied() -> None:
    facts = TriggerFacts(frozenset({"model.deployed"}), datetime(2026, 7, 14, tzinfo=UTC), False)
    found = why_not_applicable(scope(), AS_OF, {"credit-scoring": CREDIT}, facts)
    assert found.reason == "no_trigger"
    assert found.text == (
        "No triggering event since the rule applies (2 Aug 2026): the latest deployment "
        "occurred on 14 Jul 2026."
    )


def test_triggers_that_are_not_of_the_kind_the_rule_covers() -> None:
    facts = TriggerFacts(frozenset({"decision.made"}), datetime(2026, 8, 30, tzinfo=UTC), True)
    found = why_not_applicable(scope(), AS_OF, {"credit-scoring": CREDIT}, facts)
    assert found.text == (
        "No triggering event: no decisions of the kind the rule covers in a system it applies to."
    )
    unscoped = scope(applies_from=None, roles=None, risk_classes=None)
    found = why_not_applicable(unscoped, AS_OF, {}, facts)
    assert found.text == "No triggering event: no decisions of the kind the rule covers."
