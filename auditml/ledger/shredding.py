"""Every key that is gone was shredded on the record: erasures and purges against the events.

`subjects` and `class_keys` carry no integrity, and whoever can write the database file
(SQLite) or owns the tables (PostgreSQL) can delete their rows. That shreds personal data
as erasure does, but without an `erasure.completed` or `log.purged` in the ledger. The
signed events say which keys existed: every subject token an event names had a subjects
row, and every sealed value names the class key (its event type and epoch) it was sealed
under. So a key that is gone must be accounted for by an event:

- a token named by events, with no subjects row, needs an `erasure.completed` for it;
- a (type, epoch) with a sealed value and no class key needs a `log.purged` covering it:
  its `up_to` is in a later month, and its `types` (when given) include the type. Only
  the (type, month) pairs with neither are probed, through ix_events_sealing.

A ledger restored from an export made without its keys (`export --no-subjects`) has
none on purpose; it says so in `ledger_info.keys_withheld` and is not checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection

from auditml.errors import IntegrityError
from auditml.events.payloads import SEALED_FIELDS
from auditml.ledger.store import Store
from auditml.privacy.crypto import epoch_of, is_sealed, sealed_epoch


@dataclass(frozen=True)
class Purge:
    """What one `log.purged` shredded: the class keys of epochs before `before` (a month,
    YYYY-MM) of `types` (None: of every type)."""

    before: str
    types: frozenset[str] | None

    @classmethod
    def from_body(cls, body: bytes) -> Purge:
        payload = orjson.loads(body)["payload"]
        types = payload.get("types")
        return cls(epoch_of(payload["up_to"]), None if types is None else frozenset(types))

    def covers(self, event_type: str, epoch: str) -> bool:
        return epoch < self.before and (self.types is None or event_type in self.types)


def seals_under(body: bytes, epoch: str) -> bool:
    """Whether the event's payload holds a value sealed under the class key of `epoch`."""
    payload = orjson.loads(body).get("payload", {})
    return any(is_sealed(v) and sealed_epoch(v) == epoch for v in payload.values())


def months_between(first: str, last: str) -> list[str]:
    """Every month (YYYY-MM) from first to last, both included."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while (current := f"{year:04d}-{month:02d}") <= last:
        months.append(current)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def unaccounted_months(
    event_type: str, months: Iterable[str], held: set[tuple[str, str]], purges: Iterable[Purge]
) -> list[str]:
    """The months in which a class key of the type is neither held nor purged on the
    record: if anything of that type was sealed then, its key was shredded unrecorded."""
    recorded = list(purges)
    return [
        month
        for month in months
        if (event_type, month) not in held
        and not any(purge.covers(event_type, month) for purge in recorded)
    ]


def verify_shredding(store: Store, conn: Connection) -> bool:
    """Check that every subject key and class key that is gone was erased or purged on the
    record; return False when the ledger holds no keys on purpose (nothing to check).

    Raises IntegrityError naming the first token, or type and epoch, whose key was
    deleted without its event, and an event that needed it.
    """
    if store.keys_withheld(conn):
        return False
    unaccounted = store.tokens_without_key(conn)
    if unaccounted:
        token = unaccounted[0]
        seq = store.first_seq_of_subject(conn, token)
        raise IntegrityError(
            f"subject {token} (named from seq {seq} on) has no key in `subjects` and no "
            f"erasure.completed: its row was deleted outside `auditml erase`, shredding its "
            f"personal data without a record ({len(unaccounted)} subject(s) so); restore "
            "the subjects table from a backup, or record why",
            seq=seq,
        )
    span = store.recorded_span(conn)
    if span is None:
        return True
    months = months_between(epoch_of(span[0]), epoch_of(span[1]))
    held = store.class_key_pairs(conn)
    purges = [Purge.from_body(body) for _, body in store.bodies_of_type(conn, "log.purged")]
    for event_type in sorted(SEALED_FIELDS):
        suspect = unaccounted_months(event_type, months, held, purges)
        # One probe tells whether the type ever sealed anything (most types never do).
        if not suspect or next(store.sealing_bodies(conn, event_type, None, page=1), None) is None:
            continue
        for month in suspect:
            for seq, body in store.sealing_bodies(conn, event_type, month):
                if seals_under(body, month):
                    raise IntegrityError(
                        f"the class key of {event_type} for {month} is gone and no log.purged "
                        f"covers it, yet seq {seq} sealed values under it: class_keys rows were "
                        "deleted outside `auditml purge`, shredding data without a record; "
                        "restore the class_keys table from a backup, or record why",
                        seq=seq,
                    )
    return True
