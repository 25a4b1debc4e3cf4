"""`for_each`: a check that judges a trigger once for each element of a list it carries.

"Each dataset the version was trained on, or the version itself, has an earlier bias
examination" is one obligation per dataset: `for_each: lineage.inputs` hands the inner
check (exists_before) one copy of the trigger per element, with the element as `each`
(`trigger.each` in CEL, `each` in match_on). The trigger passes when every element does.
A trigger whose list is missing or empty cannot be judged by a machine: needs_human,
naming the field, as for a trigger that lacks a match_on field.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from auditml.policy.cel import Condition
from auditml.policy.checks import Check
from auditml.policy.model import MISSING, Event, EvidenceRef, Outcome, field

__all__ = ["ForEach"]


class ForEach(Check):
    """Feeds `inner` one copy of each `trigger` event per element of its `path` list."""

    kind = "for_each"

    def __init__(self, inner: Check, trigger: str, path: str, when: Condition | None) -> None:
        super().__init__()
        self.inner = inner
        self.trigger = trigger
        self.path = path
        #: The rule's `when`, for a trigger with no element (the inner check judges the rest).
        self.when = when
        self.stats = inner.stats

    def feed(self, event: Event) -> list[Outcome]:
        if event.type != self.trigger:
            return self.inner.feed(event)
        items = field(event, self.path)
        if items is MISSING or not isinstance(items, list | tuple) or not items:
            if self.when is not None and not self.when.evaluate(trigger=event):
                return []
            self.stats["triggers"] += 1
            return [self._nothing_to_judge(event)]
        out: list[Outcome] = []
        for item in dict.fromkeys(items):  # each element once, in order
            for outcome in self.inner.feed(dataclasses.replace(event, each=item)):
                out.append(self._for(outcome, item))
        return out

    def _for(self, outcome: Outcome, item: object) -> Outcome:
        if not outcome.evidence:  # a pass counted, not kept: nothing to say
            return outcome
        message = f"{outcome.message.rstrip('.')}, for {item} (one of its {self.path})."
        return dataclasses.replace(outcome, message=message)

    def _nothing_to_judge(self, event: Event) -> Outcome:
        return self._outcome(
            "needs_human",
            f"{event.type} (seq {event.seq}) has no {self.path} to judge one by one; "
            "record what it rests on (e.g. the model.trained of the version), or check it "
            "by hand.",
            [EvidenceRef.of("trigger", event)],
        )

    def finish(self, as_of: datetime) -> list[Outcome]:
        return self.inner.finish(as_of)

    @property
    def open_count(self) -> int:
        return self.inner.open_count

    def consumes(self) -> frozenset[str] | None:
        return self.inner.consumes()
