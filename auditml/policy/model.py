"""The values policy checks work on: events as rules see them, and the outcomes they give.

Pure data, no I/O. `Event` is the rule engine's read-only view of one ledger envelope;
`field` reads a dotted path from it; `Outcome` is one verdict about one obligation.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from auditml.errors import ValidationError
from auditml.events.timefmt import to_utc

__all__ = [
    "EVENT_FIELDS",
    "MISSING",
    "Event",
    "EvidenceRef",
    "Missing",
    "Outcome",
    "Verdict",
    "field",
    "parse_ledger_time",
]

Verdict = Literal["pass", "fail", "pending", "not_applicable", "needs_human"]
EvidenceRole = Literal["trigger", "counterpart", "context"]


class Missing(enum.Enum):
    """The type of `MISSING`: what `field` returns for a path the event does not have."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing.MISSING


def parse_ledger_time(value: object, *, where: str) -> datetime:
    """Parse a ledger time (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, or any RFC 3339 with offset)."""
    if type(value) is str and value.endswith("Z"):
        # The ledger's own form: parsed as UTC directly (this runs twice per event read).
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError(
                f"{where}: {value!r} is not an RFC 3339 time; expected e.g. 2026-01-31T09:30:00.000000Z"
            ) from exc
    else:
        raise ValidationError(f"{where}: expected a time string, got {type(value).__name__}")
    # The one conversion the ledger's parser uses: no timezone, a failing tzinfo and a
    # time outside years 1-9999 in UTC are ValidationErrors naming `where`.
    return to_utc(moment, where=where, given=value)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, five times
# slower, and the engine builds one or two Events per ledger entry. Nothing assigns to one.
@dataclass(slots=True)
class Event:
    """One ledger entry as policy checks see it. Times are timezone-aware (UTC)."""

    seq: int
    id: str
    type: str
    system: str
    subject: str | None
    actor: Mapping[str, str]
    occurred_at: datetime
    recorded_at: datetime
    payload: Mapping[str, Any]
    #: Computed by the engine, not recorded (auditml.policy.lineage_state): the lineage of
    #: the thing the event concerns, for the event types that have one.
    lineage: Mapping[str, Any] | None = None
    #: With a check's `for_each`: the element of the list this copy of the trigger is
    #: judged for.
    each: Any = None

    @classmethod
    def from_envelope(cls, envelope: Mapping[str, Any]) -> Event:
        """Build an Event from a ledger envelope (the stored JSON object, already parsed).

        Raises ValidationError naming the entry and the field when a field is missing or
        has the wrong type.
        """
        get = envelope.get
        seq, actor, payload, subject = get("seq"), get("actor"), get("payload"), get("subject")
        occurred, recorded = get("occurred_at"), get("recorded_at")
        # The ledger's own envelopes take this path: plain types checked, times in Z form.
        if (
            type(seq) is int
            and type(occurred) is str
            and type(recorded) is str
            and occurred.endswith("Z")
            and recorded.endswith("Z")
            and type(actor) is dict
            and type(payload) is dict
            and (subject is None or type(subject) is str)
            and all(type(v) is str for v in actor.values())
        ):
            event_id, event_type, system = get("id"), get("type"), get("system")
            if type(event_id) is str and type(event_type) is str and type(system) is str:
                try:
                    return cls(
                        seq,
                        event_id,
                        event_type,
                        system,
                        subject,
                        actor,
                        datetime.fromisoformat(occurred),
                        datetime.fromisoformat(recorded),
                        payload,
                    )
                except ValueError:
                    pass  # the full path below names the field
        return cls._checked(envelope)

    @classmethod
    def _checked(cls, envelope: Mapping[str, Any]) -> Event:
        seq = envelope.get("seq")
        where = f"event seq={seq}" if isinstance(seq, int) else "event"
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise ValidationError(f"{where}: 'seq' must be an integer, got {seq!r}")
        strings = {}
        for name in ("id", "type", "system"):
            value = envelope.get(name)
            if not isinstance(value, str):
                raise ValidationError(f"{where}: {name!r} must be a string, got {value!r}")
            strings[name] = value
        subject = envelope.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise ValidationError(f"{where}: 'subject' must be a string or absent")
        actor = envelope.get("actor")
        if not isinstance(actor, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in actor.items()
        ):
            raise ValidationError(f"{where}: 'actor' must be an object of strings, got {actor!r}")
        payload = envelope.get("payload")
        if not isinstance(payload, Mapping):
            raise ValidationError(f"{where}: 'payload' must be an object, got {payload!r}")
        return cls(
            seq=seq,
            id=strings["id"],
            type=strings["type"],
            system=strings["system"],
            subject=subject,
            actor=dict(actor),
            occurred_at=parse_ledger_time(
                envelope.get("occurred_at"), where=f"{where} occurred_at"
            ),
            recorded_at=parse_ledger_time(
                envelope.get("recorded_at"), where=f"{where} recorded_at"
            ),
            payload=dict(payload),
        )


#: The fields an event path (and a CEL condition) may start with: the envelope's, and the
#: ones the engine computes (`lineage`, `each`).
EVENT_FIELDS = frozenset(
    {
        "seq",
        "id",
        "type",
        "system",
        "subject",
        "actor",
        "occurred_at",
        "recorded_at",
        "payload",
        "lineage",
        "each",
    }
)


def field(event: Event, path: str) -> Any:
    """Return the value at a dotted `path` of `event`, or `MISSING` when it is absent.

    Paths start with an envelope field (`seq`, `id`, `type`, `system`, `subject`, `actor`,
    `occurred_at`, `recorded_at`, `payload`) or a computed one (`lineage`, `each`), and
    descend into objects by key, e.g. `payload.incident_id`, `actor.id` or
    `lineage.purposes`. A JSON null and an absent subject are `MISSING`.
    """
    head, *rest = _split(path)
    if head not in EVENT_FIELDS:
        return MISSING
    value: Any = getattr(event, head)
    for part in rest:
        # type() first: isinstance against the Mapping ABC is slow, and this is hot.
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(part, MISSING)
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return MISSING if value is None else value


@functools.lru_cache(maxsize=1024)
def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


class EvidenceRef(NamedTuple):
    """A pointer to one ledger entry an outcome rests on."""

    role: EvidenceRole
    seq: int
    id: str

    @classmethod
    def of(cls, role: EvidenceRole, event: Event) -> EvidenceRef:
        return cls(role, event.seq, event.id)


@dataclass(frozen=True)
class Outcome:
    """One verdict about one obligation (one trigger, or one key), with its evidence."""

    verdict: Verdict
    #: A sentence a compliance officer reads: what was required, what was found.
    message: str
    evidence: tuple[EvidenceRef, ...] = ()
    #: When the obligation falls (or fell) due, for deadline-like checks.
    due: datetime | None = None
    #: The match key the outcome concerns: (trigger-side `match_on` path, value as text).
    key: tuple[tuple[str, str], ...] = ()
    #: The paths a trigger lacks, so that a machine can say which field to correct.
    missing: tuple[str, ...] = ()
