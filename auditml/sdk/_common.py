"""What every recording helper shares: envelope options, argument checks, conversions.

Private: the helpers' signatures are the public contract, not these building blocks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from auditml.errors import ValidationError
from auditml.events.jsonable import to_jsonable
from auditml.events.timefmt import format_time, parse_time
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk.digests import sha256_path

T = TypeVar("T", bound=str)

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class BatchOptions(TypedDict, total=False):
    """Envelope fields a batch helper applies to every event of the batch.

    - actor: who did it, e.g. ``{"id": "ana", "kind": "human", "role": "dpo"}``
      (default: the ledger's actor).
    - occurred_at: when it happened, an aware datetime or ISO 8601 string (default: now).
    - system: the AI system it concerns (default: the ledger's system).
    """

    actor: Mapping[str, str] | None
    occurred_at: datetime | str | None
    system: str | None


class EventOptions(BatchOptions, total=False):
    """Envelope fields every helper passes through to `Ledger.record` unchanged.

    - actor: who did it, e.g. ``{"id": "ana", "kind": "human", "role": "dpo"}``
      (default: the ledger's actor).
    - occurred_at: when it happened, an aware datetime or ISO 8601 string (default: now).
    - id: an idempotency key (1-128 of ``A-Za-z0-9._:-``): a retry with the same id and
      content returns the original receipt.
    - system: the AI system it concerns (default: the ledger's system).
    """

    id: str | None


def record(
    ledger: Ledger,
    event_type: str,
    payload: Mapping[str, Any],
    options: EventOptions,
    *,
    subject: str | None = None,
    subject_token: str | None = None,
    personal: Mapping[str, Any] | None = None,
) -> Receipt:
    """Record one event durably with the caller's envelope options.

    The subject is named by its raw identifier (`subject`) or, for a subject the ledger
    already knows, by its pseudonymous token (`subject_token`), never both.
    """
    return ledger.record(
        event_type,
        payload=payload,
        subject=subject,
        subject_token=subject_token,
        personal=personal,
        actor=options.get("actor"),
        occurred_at=options.get("occurred_at"),
        id=options.get("id"),
        system=options.get("system"),
    )


def compact(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Drop optional fields that are None: the vocabulary leaves them out, never null."""
    return {key: value for key, value in payload.items() if value is not None}


def text(value: object, field: str, where: str) -> str:
    """Return a non-empty string or refuse it, naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: {field} must be a non-empty string, got {show(value)}")
    return value


def optional_text(value: object, field: str, where: str) -> str | None:
    return None if value is None else text(value, field, where)


def flag(value: object, field: str, where: str) -> bool:
    """Return a bool or refuse it: 1, "yes" and None are not answers to a yes/no question."""
    if not isinstance(value, bool):
        raise ValidationError(f"{where}: {field} must be True or False, got {show(value)}")
    return value


def choice(value: object, allowed: tuple[T, ...], field: str, where: str) -> T:
    """Return `value` if it is one of `allowed`, else refuse it listing the allowed values."""
    if isinstance(value, str) and value in allowed:
        return value
    raise ValidationError(
        f"{where}: {field} must be one of {', '.join(allowed)}, got {show(value)}"
    )


def names(value: str | Iterable[str], field: str, where: str, *, min_items: int = 1) -> list[str]:
    """Return a list of non-empty strings; a single string is taken as a list of one."""
    items = [value] if isinstance(value, str) else value
    try:
        listed = list(items)
    except TypeError:
        raise ValidationError(
            f"{where}: {field} must be a list of strings, got {show(value)}"
        ) from None
    for item in listed:
        text(item, f"each item of {field}", where)
    if len(listed) < min_items:
        raise ValidationError(f"{where}: {field} needs at least {min_items} item(s), got none")
    return listed


def timestamp(value: object, field: str, where: str) -> str:
    """Return an aware datetime or ISO 8601 string as the ledger's UTC time string."""
    return format_time(parse_time(value, where=f"{where}: {field}"))


def json_object(value: object, field: str, where: str) -> dict[str, Any]:
    """Convert numpy/enum/... values with `to_jsonable` and require a JSON object."""
    converted = to_jsonable(value, where=f"{where}: {field}")
    if not isinstance(converted, dict):
        raise ValidationError(
            f"{where}: {field} must be a mapping of names to values, got {show(value)}"
        )
    return converted


def digest_of(value: object, field: str, where: str) -> str:
    """Return a SHA-256: a 64-hex string as given (lowercased), else the digest of a local path.

    A path may be a file or a directory (see `auditml.sdk.digests`). A string of exactly
    64 hex characters is always taken as a digest, never as a file name.
    """
    if isinstance(value, str) and SHA256_HEX.fullmatch(value):
        return value.lower()
    if isinstance(value, str | os.PathLike) and str(value):
        return sha256_path(value).sha256
    raise ValidationError(
        f"{where}: {field} must be a file or directory path or a SHA-256 (64 hex characters), "
        f"got {show(value)}"
    )


def human(person: str | Mapping[str, str] | None, field: str, where: str) -> dict[str, str] | None:
    """The actor object of a person, or None to keep the ledger's default actor.

    A string is the person's id; a mapping is a full actor (``{"id", "kind", "role"?}``)
    whose kind must be ``"human"``: approvals and reviews are made by people.
    """
    if person is None:
        return None
    if isinstance(person, str):
        return {"id": text(person, field, where), "kind": "human"}
    if isinstance(person, Mapping):
        actor = {"kind": "human", **person}
        if actor.get("kind") != "human":
            raise ValidationError(
                f"{where}: {field} must be a person (kind 'human'), got kind {actor['kind']!r}"
            )
        text(actor.get("id"), f"{field} id", where)
        return dict(actor)
    raise ValidationError(f"{where}: {field} must be a person's id or an actor mapping")


def with_actor(options: EventOptions, actor: dict[str, str] | None, where: str) -> EventOptions:
    """Return `options` with a person as the actor, refusing two different actors."""
    if actor is None:
        return options
    if options.get("actor") is not None:
        raise ValidationError(
            f"{where}: give either the person (approver/reviewer) or actor=, not both"
        )
    return {**options, "actor": actor}


def show(value: object) -> str:
    """A short description of a refused argument for a message."""
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    return f"a {type(value).__name__}"
