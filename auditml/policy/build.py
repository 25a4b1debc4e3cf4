"""From a validated rule to the check that judges it: the one way a check is built.

Each check class of :mod:`auditml.policy.checks` builds itself from its rule's parameter
model (``from_spec``), with a :class:`BuildContext`: the calendars of regimes.yaml and
the CEL compiler, which names the rule and the field in every error. The class is found
by the rule's ``check.kind``; the ``Check`` union of :mod:`auditml.policy.rules` is the
one list of kinds. The engine builds every rule this way before it reads an event, and
``auditml policy lint`` does too, so a rule that lints also runs
(docs/adr/0014-one-rule-language.md).

Pure: no I/O.
"""

from __future__ import annotations

from typing import overload

from auditml.errors import ValidationError
from auditml.policy import checks
from auditml.policy.calendar import Calendar
from auditml.policy.cel import Condition, compile_condition
from auditml.policy.regimes import Regimes
from auditml.policy.rules import CONDITION_VARIABLES, Check, Loc, Rule, dotted

__all__ = ["BuildContext", "BuildError", "build_check"]


class BuildError(ValidationError):
    """A rule's check cannot be built; `loc` is the field at fault, from the rule's root."""

    def __init__(self, place: str, loc: Loc, reason: str) -> None:
        self.loc: Loc = ("check", *loc)
        self.reason = reason
        super().__init__(f"{place} {dotted(self.loc)}: {reason}")


class BuildContext:
    """What a check needs beyond its parameters, for one rule.

    `place` names the rule in errors (``<rule file>:<rule id>``, or ``rule <id>``).
    Every condition compiled is kept in `conditions`, so the engine can count their
    evaluation errors.
    """

    def __init__(self, regimes: Regimes, place: str) -> None:
        self.regimes = regimes
        self.place = place
        self.conditions: list[Condition] = []

    def calendar(self, name: str | None) -> Calendar:
        """The calendar `name` of regimes.yaml (None: its default calendar)."""
        try:
            return self.regimes.calendar(name)
        except ValidationError as exc:
            raise BuildError(self.place, ("calendar",), str(exc)) from None

    @overload
    def condition(self, source: str, loc: Loc) -> Condition: ...

    @overload
    def condition(self, source: None, loc: Loc) -> None: ...

    def condition(self, source: str | None, loc: Loc) -> Condition | None:
        """Compile the condition at `loc` (below ``check``; its last part, e.g. ``where``,
        says which variables it sees); None for an absent one."""
        if source is None:
            return None
        where = f"{self.place} {dotted(('check', *loc))}"
        try:
            condition = compile_condition(
                source, variables=CONDITION_VARIABLES[str(loc[-1])], where=where
            )
        except ValidationError as exc:
            raise BuildError(self.place, loc, str(exc).removeprefix(f"{where}: ")) from None
        self.conditions.append(condition)
        return condition

    def build(self, spec: Check) -> checks.Check:
        """The check for `spec`, a rule's validated ``check``."""
        return checks.check_class(spec.kind).from_spec(spec, self)


def build_check(rule: Rule, regimes: Regimes, *, place: str | None = None) -> checks.Check:
    """The streaming check that judges `rule`.

    `place` names the rule in errors (default ``rule <id>``; the engine passes
    ``<rule file>:<rule id>``). Raises BuildError (a ValidationError) when it cannot be
    built, e.g. a condition that does not compile.
    """
    return BuildContext(regimes, place or f"rule {rule.id}").build(rule.check)
