"""The ledger as rules read it: its events in check order, and the rule set in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from auditml.events.envelope import Envelope
from auditml.ledger.ledger import Ledger
from auditml.policy.model import Event, parse_ledger_time


def ledger_events(
    ledger: Ledger, *, as_of: datetime, system: str | None = None, stop: int | None = None
) -> Iterator[Event]:
    """The ledger's events recorded by `as_of` (of `system`, before seq `stop`, if given),
    in check order."""
    for envelope in ledger.envelopes_by_occurrence(recorded_until=as_of, system=system, stop=stop):
        yield Event.from_envelope(envelope)


def in_force(
    ledger: Ledger, until: datetime | None = None, *, stop: int | None = None
) -> Envelope | None:
    """The latest policy.changed (recorded by `until`, before seq `stop`, if given): the
    rule set in force."""
    for envelope in ledger.events(type="policy.changed", newest_first=True, stop=stop):
        if until is None or parse_ledger_time(envelope.recorded_at, where="recorded_at") <= until:
            return envelope
    return None
