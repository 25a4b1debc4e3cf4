"""Record consent and its withdrawal (`consent.granted`, `consent.withdrawn`), and replay it.

Example::

    grant_consent(ledger, "c-1042", "marketing", notice_version="2026-01")
    grant_consents(ledger, ["c-1043", "c-1044"], "marketing", notice_version="2026-01")
    withdraw_consent(ledger, "c-1042", "marketing")
    assert consent_state(ledger, "c-1042") == {"marketing": False}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Unpack

from auditml.errors import ValidationError
from auditml.events.timefmt import format_time, parse_time
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import BatchOptions, EventOptions

__all__ = ["consent_state", "grant_consent", "grant_consents", "withdraw_consent"]


def grant_consent(
    ledger: Ledger,
    subject: str,
    purpose: str,
    explicit: bool = True,
    notice_version: str | None = None,
    *,
    personal: Mapping[str, Any] | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record that `subject` consented to `purpose` (GDPR Art. 6(1)(a), 7); return the receipt.

    `subject` is the data subject's identifier (stored as a pseudonymous token).
    `explicit` marks explicit consent (GDPR Art. 9(2)(a), 22(2)(c)); `notice_version`
    names the privacy notice shown; `personal` (e.g. the e-mail it was given from) is
    stored sealed. `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        grant_consent(ledger, "c-1042", "credit scoring", notice_version="2026-01")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "grant_consent"
    payload = _common.compact(
        {
            "purpose": _common.text(purpose, "purpose", where),
            "explicit": _common.flag(explicit, "explicit", where),
            "notice_version": _common.optional_text(notice_version, "notice_version", where),
        }
    )
    return _common.record(
        ledger,
        "consent.granted",
        payload,
        options,
        subject=_common.text(subject, "subject", where),
        personal=personal,
    )


def grant_consents(
    ledger: Ledger,
    subjects: Iterable[str],
    purpose: str,
    explicit: bool = True,
    notice_version: str | None = None,
    *,
    ids: Iterable[str] | None = None,
    **options: Unpack[BatchOptions],
) -> list[Receipt]:
    """Record that each of `subjects` consented to `purpose`, all in one transaction.

    The batch form of `grant_consent`: one `consent.granted` per subject (in the order
    given), written with one `Ledger.record_many`, so recording thousands of consents
    costs one commit, not thousands. All or nothing: if any subject is refused, none is
    recorded. `ids`, when given, are idempotency keys, one per subject: re-running a
    failed import with the same ids records nothing twice. `options` (actor,
    occurred_at, system) apply to every event. To store sealed `personal` data with a
    consent, use `grant_consent`. Returns one receipt per subject.

    Example::

        grant_consents(ledger, ["c-1042", "c-1043"], "credit scoring", notice_version="2026-01")

    Raises ValidationError (nothing recorded) for a bad argument, naming the position of
    a bad subject or id.
    """
    where = "grant_consents"
    unknown = sorted(set(options) - set(BatchOptions.__annotations__))
    if unknown:
        hint = " (give one idempotency key per subject as ids=[...])" if "id" in unknown else ""
        raise ValidationError(
            f"{where}: unexpected option(s) {', '.join(unknown)}{hint}; the options are "
            f"{', '.join(sorted(BatchOptions.__annotations__))}"
        )
    if isinstance(subjects, str):
        raise ValidationError(
            f"{where}: subjects must be a list of identifiers, got the single string "
            f"{_common.show(subjects)}; use grant_consent for one subject, or pass [subject]"
        )
    try:
        listed = list(subjects)
    except TypeError:
        raise ValidationError(
            f"{where}: subjects must be a list of identifiers, got {_common.show(subjects)}"
        ) from None
    keys: list[str | None] = [None] * len(listed)
    if ids is not None:
        keys = list(ids)
        if len(keys) != len(listed):
            raise ValidationError(
                f"{where}: one id per subject is needed, got {len(keys)} ids for "
                f"{len(listed)} subjects"
            )
    payload = _common.compact(
        {
            "purpose": _common.text(purpose, "purpose", where),
            "explicit": _common.flag(explicit, "explicit", where),
            "notice_version": _common.optional_text(notice_version, "notice_version", where),
        }
    )
    items = [
        {
            "type": "consent.granted",
            "payload": dict(payload),
            "subject": _common.text(subject, f"subjects[{position}]", where),
            "id": key,
            "actor": options.get("actor"),
            "occurred_at": options.get("occurred_at"),
            "system": options.get("system"),
        }
        for position, (subject, key) in enumerate(zip(listed, keys, strict=True))
    ]
    labels = [f"{where}: subjects[{position}]" for position in range(len(items))]
    return ledger.record_many(items, labels=labels)


def withdraw_consent(
    ledger: Ledger,
    subject: str,
    purpose: str,
    *,
    personal: Mapping[str, Any] | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record that `subject` withdrew consent for `purpose` (GDPR Art. 7(3)).

    `options` are the envelope fields (actor, occurred_at, id, system); give
    ``occurred_at`` when recording a withdrawal that happened earlier.

    Example::

        withdraw_consent(ledger, "c-1042", "marketing")
        assert consent_state(ledger, "c-1042")["marketing"] is False

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "withdraw_consent"
    return _common.record(
        ledger,
        "consent.withdrawn",
        {"purpose": _common.text(purpose, "purpose", where)},
        options,
        subject=_common.text(subject, "subject", where),
        personal=personal,
    )


def consent_state(
    ledger: Ledger,
    subject: str,
    *,
    as_of: datetime | str | None = None,
    system: str | None = None,
) -> dict[str, bool]:
    """Return ``{purpose: consented}`` for `subject`, replaying its consent events.

    For each purpose the latest event wins: latest by ``occurred_at`` (the time rules
    use), ties broken by ledger order. With `as_of`, only events that occurred before or
    at that time count. With `system`, only that system's events. A subject the ledger
    has never seen (or whose data was erased) has no consents: ``{}``.

    Example::

        if not consent_state(ledger, customer_id).get("marketing", False):
            return  # no consent: do not send

    Raises ValidationError for a bad `as_of`, ConfigError without the privacy keys.
    """
    where = "consent_state"
    token = ledger.subject_token(_common.text(subject, "subject", where))
    if token is None:
        return {}
    cutoff = None if as_of is None else format_time(parse_time(as_of, where=f"{where}: as_of"))
    latest: dict[str, tuple[str, int, bool]] = {}
    # Only this subject's consent events are read (the ledger filters by subject token).
    for event_type, granted in (("consent.granted", True), ("consent.withdrawn", False)):
        for event in ledger.events(type=event_type, system=system, subject_token=token):
            if cutoff is not None and event.occurred_at > cutoff:
                continue
            purpose = event.payload.get("purpose")
            if not isinstance(purpose, str):
                continue
            key = (event.occurred_at, event.seq, granted)
            if purpose not in latest or key[:2] > latest[purpose][:2]:
                latest[purpose] = key
    return {purpose: state[2] for purpose, state in sorted(latest.items())}
