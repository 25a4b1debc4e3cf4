"""The ledger as rules read it: its events as `Event`s, streamed in (occurred_at, seq) order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from auditml.ledger.ledger import Ledger
from auditml.policy.model import Event


def ledger_events(ledger: Ledger, *, as_of: datetime, system: str | None = None) -> Iterator[Event]:
    """The ledger's events recorded by `as_of` (of `system` if given), in check order."""
    for envelope in ledger.envelopes_by_occurrence(recorded_until=as_of, system=system):
        yield Event.from_envelope(envelope)
