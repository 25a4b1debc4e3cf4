"""What an import wrote: lines read, events written, repeated lines skipped.

An import file may repeat an event (a retried export, two files concatenated). A line
with the id and content of an earlier line is skipped and counted; the same id with
other content is refused, naming both lines. A line whose id the ledger held before
the import is the ledger's business (`Ledger._idempotent`): same content, its receipt
is returned and counted here as already recorded; other content, refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from auditml.errors import ValidationError
from auditml.events.envelope import PreparedEvent
from auditml.ledger.canonical import canonicalize_checked

#: Events appended per batch inside an import's one transaction: bounds its memory.
IMPORT_BATCH = 2000
#: Bytes of the content digest kept per client id: a line whose id repeats with other
#: content passes for a repeat (and is skipped) only at odds of 2**-128.
_DIGEST = 16


@dataclass(frozen=True)
class ImportResult:
    """The outcome of an import that committed."""

    #: Events appended by this import, at seqs first_seq..last_seq.
    imported: int
    first_seq: int | None
    last_seq: int | None
    #: Events the file holds (its non-blank lines).
    lines: int
    #: Lines skipped because an earlier line had the same id and content.
    duplicates: int
    #: Lines whose id the ledger held before, with the same content (not written again).
    already_recorded: int


class ImportTally:
    """Counts one import attempt and finds the lines that repeat an earlier line.

    Keeps a digest per client id (not the events), so memory grows with the ids a
    file gives (about 170 bytes each), not with its size.
    """

    def __init__(self) -> None:
        self.start = 0
        self.lines = 0
        self.imported = 0
        self.duplicates = 0
        self.already_recorded = 0
        #: (id, leaf hash) of the last event this attempt appended.
        self.last: tuple[str, str] | None = None
        self._seen: dict[str, bytes] = {}

    def is_new(self, where: str, event: PreparedEvent) -> bool:
        """Count a line; return False for a repeat of an earlier line (to be skipped).

        Raises ValidationError naming both lines if an earlier line has the id with
        other content.
        """
        self.lines += 1
        if event.id is None:
            return True
        # The payload was checked when the line was prepared, as for the append.
        digest = hashlib.blake2b(
            canonicalize_checked(
                [
                    event.type,
                    event.payload,
                    event.system,
                    event.actor,
                    event.occurred_at,
                    event.subject,
                    event.subject_token,
                ],
                slow=event.slow,
            ),
            digest_size=_DIGEST,
        ).digest()
        first = self._seen.get(event.id)
        if first is None:
            # One bytes object per id (digest, then the line's label): with the id, ~170 bytes.
            self._seen[event.id] = digest + where.encode()
            return True
        if first[:_DIGEST] != digest:
            raise ValidationError(
                f"{where}: id {event.id!r} is also on {first[_DIGEST:].decode()} with "
                "different content; event ids are idempotency keys: give one of them a new "
                "id, or remove the repeat"
            )
        self.duplicates += 1
        return False

    def count(self, receipts: Sequence[tuple[int, str, str]]) -> None:
        """Count the receipts (seq, id, leaf hash) of a batch appended at or after `start`."""
        for seq, event_id, leaf in receipts:
            if seq < self.start:
                self.already_recorded += 1
            else:
                self.imported += 1
                self.last = (event_id, leaf)

    def result(self) -> ImportResult:
        return ImportResult(
            imported=self.imported,
            first_seq=self.start if self.imported else None,
            last_seq=self.start + self.imported - 1 if self.imported else None,
            lines=self.lines,
            duplicates=self.duplicates,
            already_recorded=self.already_recorded,
        )
