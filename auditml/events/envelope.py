"""The event envelope (format v1): input validation and the stored shape.

`prepare_event` turns what a caller passed to `Ledger.record` into a validated
`PreparedEvent` (pure; no clock, no database). The sequencer later adds `seq`,
`recorded_at` and `prev` and canonicalises the whole envelope.
"""

from __future__ import annotations

import difflib
import os
import re
import time
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from auditml.errors import ValidationError
from auditml.events.payloads import SEALED_FIELDS, SUBJECT_REQUIRED, validate_payload
from auditml.events.refs import SYSTEM_NAME
from auditml.events.timefmt import format_time as format_time
from auditml.events.timefmt import parse_time as parse_time
from auditml.events.vocabulary import EVENT_TYPES
from auditml.ledger.canonical import canonicalize, check_json
from auditml.privacy.crypto import check_raw_subject

FORMAT_VERSION = 1
ZERO_HASH = "0" * 64
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: A system name (the reference grammar names systems by it: system:NAME).
NAME_PATTERN = SYSTEM_NAME
RECORD_KEYS = frozenset(
    {
        "type",
        "payload",
        "subject",
        "subject_token",
        "personal",
        "actor",
        "occurred_at",
        "id",
        "system",
    }
)
TOKEN_PATTERN = re.compile(r"sub_[a-z2-7]{26}")


class Actor(BaseModel):
    """Who caused the event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="the person's or service's id")
    kind: Literal["human", "service"] = Field(description="a person or a program")
    role: str | None = Field(default=None, max_length=200, description="e.g. dpo, ml-engineer")

    def to_json(self) -> dict[str, str]:
        data = {"id": self.id, "kind": self.kind}
        if self.role is not None:
            data["role"] = self.role
        return data


class Envelope(BaseModel):
    """One ledger entry as stored: its canonical bytes are the Merkle leaf's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = Field(description="format version")
    seq: int = Field(ge=0, description="position in the ledger; the Merkle leaf index")
    id: str = Field(pattern=f"^{ID_PATTERN.pattern}$", description="unique event id")
    type: str = Field(description="event type from the vocabulary")
    system: str = Field(description="the AI system this concerns")
    recorded_at: str = Field(description="ledger time, RFC 3339 UTC, never decreases along seq")
    occurred_at: str = Field(description="when it happened per the client")
    actor: Actor = Field(description="who caused it")
    subject: str | None = Field(default=None, description="pseudonymous subject token")
    payload: dict[str, Any] = Field(description="the typed payload of `type`")
    prev: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex leaf hash of entry seq-1")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Envelope:
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """Return the envelope as the JSON object that is canonicalised and hashed."""
        data: dict[str, Any] = {
            "v": self.v,
            "seq": self.seq,
            "id": self.id,
            "type": self.type,
            "system": self.system,
            "recorded_at": self.recorded_at,
            "occurred_at": self.occurred_at,
            "actor": self.actor.to_json(),
            "payload": self.payload,
            "prev": self.prev,
        }
        if self.subject is not None:
            data["subject"] = self.subject
        return data


def uuid7(now_ms: int | None = None) -> str:
    """Return a new UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & 0x3FFFFFFFFFFFFFFF)
    return str(uuid.UUID(int=value))


class PreparedEvent(NamedTuple):
    """A validated request to record one event; the sequencer completes the envelope.

    A named tuple rather than a dataclass: one is built per recorded event.
    """

    type: str
    payload: dict[str, Any]
    system: str
    actor: dict[str, str]
    id: str | None = None
    occurred_at: str | None = None
    #: The raw subject identifier, held in memory only: the sequencer turns it into a token.
    subject: str | None = None
    #: Whether the payload needs the slow canonical serializer (see canonical.check_json).
    slow: bool = False
    #: The subject's token, when the caller names a subject the ledger already knows by
    #: its token (a reviewer sees a decision, not the person's identifier).
    subject_token: str | None = None


def check_event_type(event_type: object, where: str) -> str:
    """Return `event_type` if the vocabulary has it; raise ValidationError naming `where`,
    with the closest type as a hint, otherwise (record, import, `log --type`, purge)."""
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        close = difflib.get_close_matches(str(event_type), sorted(EVENT_TYPES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(
            f"{where}: unknown event type {event_type!r}{hint}; "
            "`auditml schema` lists the event types and their fields"
        )
    return event_type


def check_actor(actor: object, where: str) -> dict[str, str]:
    """Return a valid actor object; raise ValidationError naming `where` otherwise."""
    if isinstance(actor, Actor):
        data = actor.to_json()
    elif isinstance(actor, Mapping):
        try:
            data = Actor.model_validate(dict(actor)).to_json()
        except PydanticValidationError as exc:
            raise ValidationError(
                f"{where}: invalid actor {dict(actor)!r}: {_pydantic_reason(exc)}"
            ) from exc
    else:
        raise ValidationError(
            f"{where}: actor must be an object like {{'id': 'ana', 'kind': 'human'}}"
        )
    try:
        check_json(data, at="actor")
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    return data


def _pydantic_reason(exc: PydanticValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


@lru_cache(maxsize=256)
def _valid_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def prepare_event(
    item: Mapping[str, Any],
    *,
    default_system: str,
    default_actor: dict[str, str],
    where: str = "event",
) -> PreparedEvent:
    """Validate one record request (the keyword arguments of `Ledger.record`; None = absent).

    `default_actor` must be valid already (it is used as is). Raises ValidationError
    naming `where` and the field for every problem.
    """
    if not RECORD_KEYS.issuperset(item):
        unknown = ", ".join(sorted(set(item) - RECORD_KEYS))
        raise ValidationError(
            f"{where}: unknown field(s) {unknown}; allowed: {', '.join(sorted(RECORD_KEYS))}"
        )
    event_type = item.get("type")
    if type(event_type) is not str or event_type not in EVENT_TYPES:
        event_type = check_event_type(event_type, where)
    payload = item.get("payload")
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"{where}: payload of {event_type} must be a JSON object, got {type(payload).__name__}"
        )
    personal = item.get("personal")
    if personal is not None:
        if "personal" in payload:
            raise ValidationError(
                f"{where} ({event_type}): personal data is given twice, as personal= and as "
                "payload.personal; give it once"
            )
        payload = {**payload, "personal": personal}
    payload = validate_payload(event_type, payload, where=where)
    try:
        slow = check_json(payload, at="payload")
    except ValidationError as exc:  # a field the model takes as any JSON, e.g. explanation
        raise ValidationError(f"{where} ({event_type}): {exc}") from None
    subject = item.get("subject")
    token = item.get("subject_token")
    if subject is not None and token is not None:
        raise ValidationError(f"{where}: give subject or subject_token, not both")
    if subject is not None:
        subject = check_raw_subject(subject, where)
    elif token is not None:
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            raise ValidationError(
                f"{where}: subject_token {token!r} is not a subject token (sub_ and 26 base32 "
                "characters, as in an event's `subject`)"
            )
    elif event_type in SUBJECT_REQUIRED:
        raise ValidationError(
            f"{where} ({event_type}): subject is required: give the data subject's identifier "
            "(it is stored only as a pseudonymous token)"
        )
    elif SEALED_FIELDS[event_type] & payload.keys():
        fields = ", ".join(sorted(SEALED_FIELDS[event_type] & payload.keys()))
        raise ValidationError(
            f"{where} ({event_type}): personal fields ({fields}) are sealed under the data "
            "subject's key: give the subject"
        )
    event_id = item.get("id")
    if event_id is not None and (type(event_id) is not str or not ID_PATTERN.fullmatch(event_id)):
        raise ValidationError(
            f"{where}: event id {event_id!r} must be 1-128 characters of A-Z a-z 0-9 . _ : -"
        )
    system = item.get("system") or default_system
    if type(system) is not str or not _valid_name(system):
        raise ValidationError(
            f"{where}: system {system!r} must be 1-200 characters of letters, digits and ._:/@- "
            "starting with a letter or digit"
        )
    occurred = item.get("occurred_at")
    occurred_at = (
        None
        if occurred is None
        else format_time(parse_time(occurred, where=f"{where}: occurred_at"))
    )
    actor = item.get("actor")
    return PreparedEvent(
        event_type,
        payload,
        system,
        default_actor if actor is None else check_actor(actor, where),
        event_id,
        occurred_at,
        subject,
        slow,
        token,
    )


def same_content(
    event: PreparedEvent,
    stored: Mapping[str, Any],
    *,
    token: str | None,
    payload: Mapping[str, Any],
) -> bool:
    """Whether a retried request asks for the event already stored under its id.

    `token` is the event's subject token and `payload` the stored payload, unsealed.
    """
    return (
        stored["type"] == event.type
        and canonicalize(payload) == canonicalize(event.payload)
        and stored["system"] == event.system
        and stored["actor"] == event.actor
        and stored.get("subject") == token
        and (event.occurred_at is None or stored["occurred_at"] == event.occurred_at)
    )
