"""How the report says things: times, periods, event types and the engine's sentences in words.

The ledger and the rule engine speak in machine terms (``2026-08-19T21:59:59.999999Z``,
``P15D``, ``payload.incident_id=INC-7``, ``supervisory_authority``, subject tokens); a
compliance officer reads "19 Aug 2026, 21:59 UTC", "15 days", "incident INC-7", "the
supervisory authority", "a data subject". Every such translation the report makes is here,
as pure functions over strings, so the templates (through the filters `render_html`
registers) and assembly say things the same way. The report data keeps the machine form;
only what is printed is translated.

Nothing here raises on odd input: a value that is not what a function expects is returned
as it came, so an unusual message prints as the engine wrote it rather than failing a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

__all__ = [
    "algorithm",
    "day",
    "duration",
    "event_noun",
    "grouped_hex",
    "join_words",
    "period_of_report",
    "plain_message",
    "recipient",
    "references",
    "request_kind",
    "target",
    "when",
    "words",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def when(text: str | None, *, comma: bool = True) -> str:
    """``2026-08-19T21:59:59.999999Z`` -> ``19 Aug 2026, 21:59 UTC`` (to the minute, cut).

    Seconds and fractions are cut, not rounded, so a time is never printed later than it
    was. With ``comma=False`` (inside a sentence that lists with commas): ``19 Aug 2026
    21:59 UTC``. None gives ``""``; text that is not an aware ISO 8601 time comes back as is.
    """
    if text is None:
        return ""
    moment = _parse(text)
    if moment is None:
        return text
    separator = ", " if comma else " "
    return (
        f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}{separator}"
        f"{moment.hour:02d}:{moment.minute:02d} UTC"
    )


def day(text: str | None) -> str:
    """``2026-08-02`` (or a full time) -> ``2 Aug 2026``; other text comes back as is."""
    if text is None:
        return ""
    try:
        found = date.fromisoformat(text.strip()[:10])
    except ValueError:
        return text
    return f"{found.day} {_MONTHS[found.month - 1]} {found.year}"


_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")


def duration(text: str) -> str:
    """``P15D`` -> ``15 days``, ``PT72H`` -> ``72 hours``, ``P1Y6M`` -> ``1 year 6 months``.

    Text that is not an ISO 8601 duration in whole units comes back as is.
    """
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return text
    parts = [
        f"{int(n)} {unit}{'' if int(n) == 1 else 's'}"
        for unit, n in zip(_UNITS, match.groups(), strict=True)
        if n is not None
    ]
    return " ".join(parts) if parts else text


#: Event types as nouns ("the incident report (seq 236)"); see docs/FORMAT.md section 15 for the vocabulary.
_NOUNS = {
    "system.registered": "system registration",
    "system.suspended": "system suspension",
    "dataset.registered": "dataset registration",
    "dataset.derived": "derived dataset",
    "consent.granted": "consent",
    "consent.withdrawn": "consent withdrawal",
    "model.trained": "training run",
    "model.deployed": "deployment",
    "model.retired": "retirement",
    "assessment.completed": "assessment",
    "document.versioned": "document version",
    "approval.granted": "approval",
    "approval.rejected": "rejection",
    "decision.made": "decision",
    "review.completed": "human review",
    "dsr.received": "data-subject request",
    "dsr.extended": "extension",
    "dsr.answered": "answer",
    "erasure.completed": "erasure",
    "incident.reported": "incident report",
    "notification.sent": "notification",
    "notice.given": "notice",
    "registration.completed": "EU database registration",
    "training.completed": "staff training",
    "log.purged": "log purge",
    "policy.changed": "rule set change",
    "report.issued": "report",
    "key.rotated": "key rotation",
}


def event_noun(event_type: str, count: int = 1) -> str:
    """``incident.reported`` -> ``incident report`` (plural when `count` is not 1)."""
    noun = _NOUNS.get(event_type) or event_type.replace(".", " ").replace("_", " ")
    if count == 1:
        return noun
    if noun.endswith("y") and not noun.endswith(("ay", "ey", "oy")):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "sh", "ch")) else "s")


_RECIPIENTS = {
    "supervisory_authority": "the supervisory authority",
    "market_surveillance_authority": "the market surveillance authority",
    "provider": "the provider",
    "subject": "the data subjects",
    "workers": "the workers",
}

#: Closed values of the vocabulary that read better as other words than their own.
_WORDS = {
    **_RECIPIENTS,
    "serious_incident": "serious incident",
    "breach": "personal data breach",
    "dpia": "DPIA",
    "fria": "FRIA",
    "ropa": "record of processing",
    "tech_doc": "technical documentation",
    "accepted_risk": "risk accepted",
    "contest": "contest a decision",
    "eu": "EU database",
}


def words(value: object) -> str:
    """A closed vocabulary value in words: ``serious_incident`` -> ``serious incident``."""
    text = str(value)
    return _WORDS.get(text) or text.replace("_", " ")


def recipient(value: object) -> str:
    """Whom a notification went to: ``supervisory_authority`` -> ``the supervisory authority``."""
    text = str(value)
    return _RECIPIENTS.get(text) or text.replace("_", " ")


def grouped_hex(text: str, size: int = 4) -> str:
    """``5d2a1e0c...`` -> ``5d2a 1e0c ...``: a hash a person can compare, in blocks that a
    line may break between but never inside. Text that is not hex comes back as is."""
    if not text or re.fullmatch(r"[0-9a-fA-F]+", text) is None:
        return text
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


_LAW_PREFIX = re.compile(r"^(GDPR|AI Act) Art\. ")


def references(labels: Sequence[str]) -> str:
    """``GDPR Art. 22(2)(c)``, ``GDPR Art. 7(3)`` -> ``GDPR Art. 22(2)(c), 7(3)``.

    The law and "Art." are written once for each run of references to the same law; runs
    are joined with "; ". Internal policy sections read ``internal policy MRP-4``.
    """
    runs: list[list[str]] = []
    last_law: str | None = None
    for label in labels:
        match = _LAW_PREFIX.match(label)
        if label.startswith("internal "):
            law, rest = "internal", "internal policy " + label.removeprefix("internal ")
        elif match is not None:
            law, rest = match.group(1), label
        else:
            law, rest = None, label
        if law is not None and law == last_law and match is not None:
            runs[-1].append(label.removeprefix(f"{law} Art. "))
        else:
            runs.append([rest])
        last_law = law
    return "; ".join(", ".join(run) for run in runs)


def period_of_report(period_from: str | None, period_to: str | None, as_of: str) -> str:
    """The period a report covers, in words, for the cover and the scope.

    Without bounds, the whole ledger as it stood at `as_of`; with them, the findings whose
    triggering event occurred from `period_from` and before `period_to`.
    """
    if period_from is None and period_to is None:
        return f"the whole ledger, as it stood on {when(as_of)}"
    start = "the first event" if period_from is None else when(period_from)
    end = when(as_of) + " (the as-of time)" if period_to is None else "before " + when(period_to)
    return f"from {start} {'to' if period_to is None else 'until'} {end}"


# ---------------------------------------------------------------------------------------------
# The engine's sentences


_TIME_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z| UTC|[+-]\d{2}:\d{2})"
)
_DURATION_IN_TEXT = re.compile(
    r"(?<![\w.-])P(?:\d+[YMWD])+(?:T(?:\d+[HMS])+)?(?![\w.-])|(?<![\w.-])PT(?:\d+[HMS])+(?![\w.-])"
)
_TYPES = "|".join(re.escape(t) for t in sorted(_NOUNS, key=len, reverse=True))
#: "3 approval.granted" (a count), or an event type on its own.
_COUNTED_TYPE = re.compile(rf"\b(\d+) ({_TYPES})\b")
_TYPE = re.compile(rf"(?<![\w.])({_TYPES})(?!\w|\.\w)")
#: A match key as the engine describes it: "for path=value, path=value".
_KEY = re.compile(r"(?:(?<=\bfor )|(?<=, ))(?P<path>[A-Za-z0-9_.:@{}]*[A-Za-z0-9_}])=")
_SUBJECT_TOKEN = re.compile(r"\bsub_[a-z2-7]{8,}\b")
_FIELD = re.compile(
    r"(?<![\w.{])(?:payload|actor|lineage)\.([a-z0-9_]+)(?:\.([a-z0-9_]+))*(?![\w}])"
)
_KEY_NOUNS = {
    "system": "system",
    "id": "event",
    "actor.id": "person",
    "subject": "data subject",
    "payload.incident_id": "incident",
    "payload.request_id": "request",
    "payload.decision_id": "decision",
    "payload.purpose": "purpose",
    "payload.target": "target",
    "payload.person": "person",
}


def _key_phrase(path: str) -> tuple[str, str]:
    """What a key path becomes before its value, and the literal prefix to drop from the value.

    ``payload.incident_id`` -> ``incident ``; a template ``model:{payload.model}@{...}``
    -> ``model `` and drops ``model:`` from the value (``model:credit@3.3`` -> ``credit@3.3``).
    """
    if "{" in path:
        prefix = path[: path.index("{")]
        first = path[path.index("{") + 1 : path.index("}")] if "}" in path else path
        noun = _KEY_NOUNS.get(first) or first.rsplit(".", 1)[-1].replace("_", " ")
        return f"{noun} ", prefix
    noun = _KEY_NOUNS.get(path) or path.rsplit(".", 1)[-1].replace("_", " ")
    return f"{noun} ", ""


def _plain_keys(message: str) -> str:
    out: list[str] = []
    position = 0
    for match in _KEY.finditer(message):
        path = match.group("path")
        if path == "subject" and _SUBJECT_TOKEN.match(message, match.end()):
            token = _SUBJECT_TOKEN.match(message, match.end())
            assert token is not None
            out.append(message[position : match.start()] + "a data subject")
            position = token.end()
            continue
        phrase, prefix = _key_phrase(path)
        out.append(message[position : match.start()] + phrase)
        position = match.end()
        if prefix and message.startswith(prefix, position):
            position += len(prefix)
    out.append(message[position:])
    return "".join(out)


def _field_words(match: re.Match[str]) -> str:
    return match.group(0).split(".", 1)[1].replace(".", " ").replace("_", " ")


def plain_message(message: str) -> str:
    """A finding's message from the engine, with its machine words put into words.

    Rewrites, wherever they occur: match keys (``for payload.incident_id=INC-7`` -> ``for
    incident INC-7``, ``subject=sub_...`` -> ``a data subject``, templates such as
    ``model:{payload.model}@{payload.version}=model:credit@3.3`` -> ``model credit@3.3``),
    any other subject token, times (``2026-08-04 09:30:00 UTC`` -> ``4 Aug 2026 09:30
    UTC``), ISO durations (``P15D`` -> ``15 days``), event types (``3 approval.granted`` ->
    ``3 approvals``, ``incident.reported`` -> ``incident report``), field paths
    (``payload.lawful_basis`` -> ``lawful basis``, ``lineage.purposes`` -> ``purposes``,
    ``distinct actor.id`` -> ``distinct people``) and closed values
    (``supervisory_authority``). Capitalises the first letter.
    """
    text = _plain_keys(message)
    text = _SUBJECT_TOKEN.sub("a data subject", text)
    text = _TIME_IN_TEXT.sub(lambda m: when(m.group(0).replace(" UTC", "Z"), comma=False), text)
    text = _DURATION_IN_TEXT.sub(lambda m: duration(m.group(0)), text)
    text = _COUNTED_TYPE.sub(
        lambda m: f"{m.group(1)} {event_noun(m.group(2), int(m.group(1)))}", text
    )
    text = _TYPE.sub(lambda m: event_noun(m.group(1)), text)
    text = text.replace("by distinct actor.id", "from distinct people")
    text = _FIELD.sub(_field_words, text)
    for value, phrase in _RECIPIENTS.items():
        if "_" in value:
            text = re.sub(rf"(?<![\w.]){value}(?![\w.])", phrase, text)
    return text[:1].upper() + text[1:]


def join_words(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    listed = list(items)
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " and " + listed[-1]


_REQUEST_KINDS = {
    "access": "access (GDPR Art. 15)",
    "rectification": "rectification (Art. 16)",
    "erasure": "erasure (Art. 17)",
    "portability": "portability (Art. 20)",
    "objection": "objection (Art. 21)",
    "contest": "contesting a decision (Art. 22(3))",
    "explanation": "explanation of a decision (Art. 22(3); AI Act Art. 86)",
}


def request_kind(kind: object) -> str:
    """A data-subject request's kind with its article: ``erasure`` -> ``erasure (Art. 17)``."""
    text = str(kind)
    return _REQUEST_KINDS.get(text) or words(text)


def target(value: object) -> str:
    """What an approval is for: ``model:credit@3.2`` -> ``model credit@3.2``."""
    text = str(value)
    kind, colon, rest = text.partition(":")
    return f"{kind} {rest}" if colon and kind.isalpha() and rest else text


_ALGORITHMS = {
    "ecdsa-with-SHA256": "ECDSA with SHA-256",
    "ecdsa-with-SHA384": "ECDSA with SHA-384",
    "sha256WithRSAEncryption": "RSA with SHA-256",
    "Ed25519": "Ed25519",
}


def algorithm(name: object) -> str:
    """A signature algorithm's name as people write it: ``ecdsa-with-SHA256`` -> ``ECDSA with
    SHA-256``; unknown names come back as they are."""
    text = str(name)
    return _ALGORITHMS.get(text, text)
