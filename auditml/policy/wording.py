"""Findings in the words a compliance officer uses: events, times, spans, counts and keys.

The check kinds (:mod:`auditml.policy.checks`) build their sentences from these pieces, so
that "model.deployed (seq 269) for model:{payload.model}@{payload.version}=model:credit@3.3
has 0 approval.granted" reads "credit 3.3 was deployed to production on 14 Jul 2026 at
07:30 UTC with one approval (risk-carol)". The report reuses the same times, periods and
nouns, so the CLI and the PDF say things one way.

Pure functions over values. Nothing here raises on odd data: an event type without a
phrase, or an event without the fields its phrase needs (checks keep some events without
their payload), is told in general words ("a deployment was recorded"). Sealed fields and
free-form objects are never read; subjects appear as the tokens the ledger holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditml.policy.model import Event

__all__ = [
    "article",
    "day",
    "doer",
    "duration",
    "event_noun",
    "field_words",
    "happened",
    "key_words",
    "listing",
    "number",
    "on",
    "quantity",
    "recipient",
    "span",
    "start_of_clock",
    "thing",
    "when",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ---------------------------------------------------------------------------- time


def when(moment: datetime) -> str:
    """``4 Aug 2026 09:30 UTC``: to the minute, cut (never rounded up, so a time is never
    printed later than it was)."""
    utc = moment.astimezone(UTC)
    return f"{day(utc)} {utc.hour:02d}:{utc.minute:02d} UTC"


def on(moment: datetime) -> str:
    """``on 4 Aug 2026 at 09:30 UTC``: a time inside a sentence about what happened."""
    utc = moment.astimezone(UTC)
    return f"on {day(utc)} at {utc.hour:02d}:{utc.minute:02d} UTC"


def day(moment: date) -> str:
    """``4 Aug 2026`` (a datetime is taken in UTC)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def span(delta: timedelta) -> str:
    """A length of time in its two largest units: ``2 days 3 hours``, ``45 minutes``."""
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in units if n]
    if not parts:
        return f"{secs} second{'s' if secs != 1 else ''}"
    return " ".join(parts[:2])


_DURATION = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")


def duration(text: str) -> str:
    """An ISO 8601 period in words: ``P15D`` -> ``15 days``, ``PT72H`` -> ``72 hours``,
    ``P1Y6M`` -> ``1 year 6 months``. Text that is not one comes back as it was."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return text
    parts = [
        f"{int(n)} {unit}{'' if int(n) == 1 else 's'}"
        for unit, n in zip(_UNITS, match.groups(), strict=True)
        if n is not None
    ]
    return " ".join(parts) if parts else text


# ---------------------------------------------------------------------------- counts, lists

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number(n: int) -> str:
    """``no``, ``one`` ... ``ten``, then digits."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def quantity(n: int, singular: str, plural: str | None = None) -> str:
    """``no approval``, ``one approval``, ``two approvals``, ``12 approvals``."""
    noun = singular if n in (0, 1) else (plural or _plural(singular))
    return f"{number(n)} {noun}"


def _plural(noun: str) -> str:
    if noun.endswith("y") and not noun.endswith(("ay", "ey", "oy")):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "sh", "ch")) else "s")


def listing(items: Iterable[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    listed = list(items)
    if len(listed) <= 1:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {conjunction} {listed[-1]}"


# ---------------------------------------------------------------------------- nouns

#: Event types as nouns ("no earlier approval", "two approvals"); docs/FORMAT.md section 15.
_NOUNS = {
    "system.registered": "system registration",
    "system.suspended": "system suspension",
    "risk.identified": "risk report",
    "dataset.registered": "dataset registration",
    "dataset.derived": "derived dataset",
    "dataset.deleted": "dataset deletion",
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
    "incident.documented": "breach record",
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
    """``incident.reported`` -> ``incident report`` (plural when `count` is not 1); a type
    without a noun reads as its words (``explanation.given`` -> ``explanation given``)."""
    noun = _NOUNS.get(event_type) or event_type.replace(".", " ").replace("_", " ")
    return noun if count == 1 else _plural(noun)


def article(noun: str) -> str:
    """``an approval``, ``a DPIA``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


#: Who did an event, seen from the thing it concerns ("two people other than its trainer").
_DOERS = {
    "model.trained": "its trainer",
    "approval.granted": "its approver",
    "review.completed": "its reviewer",
    "assessment.completed": "its assessor",
}


def doer(event_type: str, count: int = 1) -> str:
    """Whoever did an event of this type: ``model.trained`` -> ``its trainer``."""
    known = _DOERS.get(event_type)
    if known is not None:
        return known if count == 1 else known + "s"
    noun = event_noun(event_type)
    return f"the {'person' if count == 1 else 'people'} behind the {noun}"


_FIELD_NOUNS = {
    "subject": "data subject",
    "id": "event id",
    "actor.id": "actor",
    "occurred_at": "time it occurred",
    "recorded_at": "time it was recorded",
}


def field_words(path: str) -> str:
    """A field path in words: ``payload.lawful_basis`` -> ``lawful basis``; a template
    ``model:{payload.model}@{payload.version}`` -> ``model and version``."""
    inner = re.findall(r"\{([^{}]+)\}", path)
    if inner:
        return listing(field_words(part.strip()) for part in inner)
    known = _FIELD_NOUNS.get(path)
    if known is not None:
        return known
    if path in _CLOCK_STARTS:
        return f"time of {_CLOCK_STARTS[path]}"
    return path.removeprefix("payload.").replace(".", " ").replace("_", " ")


#: Where deadlines start, when the law starts them at a time in the payload.
_CLOCK_STARTS = {
    "payload.aware_at": "awareness",
    "payload.received_at": "receipt",
    "payload.collected_at": "collection",
    "payload.sent_at": "sending",
}


def start_of_clock(path: str, event_type: str) -> str:
    """What a period runs from: ``awareness``, ``receipt``, ``the decision``."""
    if path == "occurred_at":
        return f"the {event_noun(event_type)}"
    return _CLOCK_STARTS.get(path) or f"its {field_words(path)}"


# ---------------------------------------------------------------------------- things, keys

_REFERENCE = re.compile(r"(?:(?P<kind>model|dataset|system):)?(?P<name>[^@\s]+)(?:@(?P<v>\S+))?")


def thing(reference: str) -> str:
    """A reference as people say it: ``model:credit@3.3`` and ``credit@3.3`` -> ``credit
    3.3``, ``dataset:applicants`` -> ``dataset applicants``, ``system:credit-ai`` -> ``system
    credit-ai``; anything else as it is."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        return reference
    kind, name, version = match.group("kind"), match.group("name"), match.group("v")
    if version is not None and kind in (None, "model"):
        return f"{name} {version}"
    if kind in ("dataset", "system") and version is None:
        return f"{kind} {name}"
    return reference


#: How a match key's value is introduced, by its path (the value follows).
_KEY_LABELS = {
    "subject": "subject",
    "system": "system",
    "payload.model": "model",
    "payload.version": "version",
    "payload.incident_id": "incident",
    "payload.request_id": "request",
    "payload.decision_id": "decision",
    "payload.dataset_id": "dataset",
    "payload.about": "",
    "payload.person": "",
    "actor.id": "",
}
_QUOTED = frozenset({"payload.purpose", "payload.course"})


#: Key paths whose values are references (``each``: a for_each element, e.g. a dataset).
_REFERENCE_PATHS = frozenset({"payload.target", "each"})


def _key_value(path: str, value: str) -> str:
    """The value of one key part as it is printed (and found in a sentence)."""
    if "{" in path or path in _REFERENCE_PATHS:
        return thing(value)
    return f"'{value}'" if path in _QUOTED else value


def key_words(pairs: Sequence[tuple[str, str]], *, said: str = "") -> str:
    """A match key in words: ``subject sub_x and purpose 'scoring'``, ``credit 3.3``.

    Parts whose value the sentence already says (`said`) are left out, and so is the
    event's own id (the evidence cites it); "" when nothing is left to say.
    """
    parts: list[str] = []
    for path, value in pairs:
        shown = _key_value(path, value)
        if path == "id" or _says(said, shown):
            continue
        if "{" in path or path in _REFERENCE_PATHS:
            parts.append(shown)
            continue
        label = _KEY_LABELS.get(path)
        if label is None:
            label = field_words(path)
        parts.append(f"{label} {shown}" if label else shown)
    return listing(parts)


def _says(sentence: str, value: str) -> bool:
    """Whether `value` occurs in `sentence` as a whole name, not inside a longer one (a
    search, not a regular expression: every key value would compile one)."""
    if not value:
        return False
    start = sentence.find(value)
    while start >= 0:
        before = sentence[start - 1 : start]
        after = sentence[start + len(value) : start + len(value) + 1]
        if not _in_name(before) and not _in_name(after):
            return True
        start = sentence.find(value, start + 1)
    return False


def _in_name(char: str) -> bool:
    return char.isalnum() or char in ("_", "-")


# ---------------------------------------------------------------------------- what happened

#: What happened, by event type: templates over the facts below. Types added later without
#: a phrase get `_UNKNOWN`; events without the facts their phrase needs get `_GENERIC`.
_PHRASES = {
    "system.registered": "the AI system {system} was registered",
    "system.suspended": "the AI system {system} was suspended",
    "risk.identified": "the risk {risk_id} was reported",
    "dataset.registered": "dataset {dataset_id} was registered",
    "dataset.derived": "dataset {dataset_id} was derived from {inputs}",
    "dataset.deleted": "{target} was {method}",
    "consent.granted": "subject {subject} {consented} to {purpose}",
    "consent.withdrawn": "subject {subject} withdrew consent to {purpose}",
    "model.trained": "{model} was trained",
    "model.deployed": "{model} was deployed to {environment}",
    "model.retired": "{model} was retired from {environment}",
    "assessment.completed": "the {assessment} of {target} {result}",
    "document.versioned": "version {version} of the {document} for {target} was issued",
    "approval.granted": "{actor} approved {target} for {stage}",
    "approval.rejected": "{actor} rejected {target} for {stage}",
    "decision.made": "{model} made a decision about subject {subject} for {purpose}",
    "review.completed": "{actor} reviewed decision {decision_id} and {review}",
    "dsr.received": "the {request} was received",
    "dsr.extended": "the deadline of request {request_id} was extended",
    "dsr.answered": "request {request_id} was {answered}",
    "erasure.completed": "the data of subject {subject} was erased",
    "incident.reported": "the {incident} {incident_id} was reported",
    "incident.documented": "incident {incident_id} was documented",
    "notification.sent": "{recipient} notified of {about}",
    "notice.given": "{audience} informed about {target}",
    "registration.completed": "{target} was registered in the {database} database as {reference}",
    "training.completed": "{person} completed the course {course}",
    "log.purged": "logs up to {up_to} were purged",
    "policy.changed": "the rule set was changed",
    "report.issued": "report {report_id} was issued",
    "key.rotated": "the {key} key was rotated",
}
_GENERIC = "{noun} was recorded"
_UNKNOWN = "an event of type {type} was recorded"

_ASSESSMENTS = {
    "dpia": "DPIA",
    "fria": "FRIA",
    "risk": "risk assessment",
    "bias": "bias examination",
    "conformity": "conformity assessment",
    "evaluation": "evaluation",
}
_RESULTS = {"pass": "passed", "fail": "failed", "accepted_risk": "ended with the risk accepted"}
_DOCUMENTS = {
    "tech_doc": "technical documentation",
    "ropa": "record of processing",
    "instructions": "instructions for use",
    "pmm_plan": "post-market monitoring plan",
    "qms": "quality management system",
    "declaration_of_conformity": "EU declaration of conformity",
}
_REQUESTS = {
    "access": "access request {}",
    "erasure": "erasure request {}",
    "objection": "objection {}",
    "rectification": "rectification request {}",
    "contest": "request {} to contest a decision",
    "explanation": "request {} for an explanation",
    "portability": "portability request {}",
}
_INCIDENTS = {"breach": "breach", "serious_incident": "serious incident"}
_RECIPIENTS = {
    "supervisory_authority": "the supervisory authority",
    "market_surveillance_authority": "the market surveillance authority",
    "provider": "the provider",
    "subject": "the data subjects",
    "subjects": "the data subjects",
    "workers": "the workers",
}
_DATABASES = {"eu": "EU"}
_REVIEWS = {"upheld": "upheld it", "overridden": "overrode it"}
_ANSWERS = {"completed": "answered", "refused": "refused"}


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise KeyError(name)
    return str(value)


def _closed(table: Mapping[str, str], name: str) -> Callable[[Event], str]:
    """A closed vocabulary value put into words by `table` (its own words otherwise)."""

    def worded(event: Event) -> str:
        value = _text(event.payload, name)
        return table.get(value) or value.replace("_", " ")

    return worded


def recipient(value: str) -> str:
    """Whom a notice or notification went to: ``supervisory_authority`` -> ``the
    supervisory authority``, ``subject`` -> ``the data subjects``."""
    return _RECIPIENTS.get(value) or "the " + value.replace("_", " ")


def _told(name: str) -> Callable[[Event], str]:
    """Who was told, with the verb that agrees: ``the workers were``."""

    def told(event: Event) -> str:
        whom = recipient(_text(event.payload, name))
        return f"{whom} {'were' if whom.endswith('s') else 'was'}"

    return told


def _subject(event: Event) -> str:
    if event.subject is None:
        raise KeyError("subject")
    return event.subject


def _model(event: Event) -> str:
    return f"{_text(event.payload, 'model')} {_text(event.payload, 'version')}"


def _request(event: Event) -> str:
    template = _REQUESTS.get(_text(event.payload, "kind"), "request {}")
    return template.format(_text(event.payload, "request_id"))


def _consented(event: Event) -> str:
    return "gave explicit consent" if event.payload.get("explicit") is True else "consented"


def _inputs(event: Event) -> str:
    inputs = event.payload["inputs"]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise KeyError("inputs")
    return listing(inputs)


def _up_to(event: Event) -> str:
    value = event.payload["up_to"]
    try:
        return when(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        raise KeyError("up_to") from None


#: Facts a phrase can use beyond plain payload fields (which it names directly).
_FACTS: dict[str, Callable[[Event], str]] = {
    "system": lambda event: event.system,
    "subject": _subject,
    "actor": lambda event: event.actor["id"],
    "model": _model,
    "target": lambda event: thing(_text(event.payload, "target")),
    "purpose": lambda event: f"'{_text(event.payload, 'purpose')}'",
    "course": lambda event: f"'{_text(event.payload, 'course')}'",
    "inputs": _inputs,
    "up_to": _up_to,
    "consented": _consented,
    "request": _request,
    "assessment": _closed(_ASSESSMENTS, "kind"),
    "result": _closed(_RESULTS, "result"),
    "document": _closed(_DOCUMENTS, "kind"),
    "incident": _closed(_INCIDENTS, "kind"),
    "recipient": _told("to"),
    "audience": _told("audience"),
    "database": _closed(_DATABASES, "database"),
    "review": _closed(_REVIEWS, "outcome"),
    "answered": _closed(_ANSWERS, "outcome"),
    "stage": lambda event: _text(event.payload, "stage"),
    "key": lambda event: _text(event.payload, "purpose"),
}
#: Facts told in our words, so a sentence that starts with one starts with a capital.
_OURS = frozenset({"request", "assessment", "document", "incident", "recipient", "audience"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class _Facts(dict[str, str]):
    """The values a phrase names, computed when asked; KeyError when the event lacks one."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def __missing__(self, name: str) -> str:
        fact = _FACTS.get(name)
        value = fact(self.event) if fact is not None else _text(self.event.payload, name)
        self[name] = value
        return value


def happened(event: Event, *, opening: bool = False) -> str:
    """What an event says happened, in the past tense, without its time: ``credit 3.3 was
    deployed to production``, ``the breach INC-7 was reported``, ``subject sub_ab12
    consented to 'marketing'``.

    With `opening`, the phrase starts a sentence: its first letter is a capital unless it
    starts with a name from the ledger (a model, a person), which is printed as recorded.
    """
    template = _PHRASES.get(event.type)
    try:
        if template is None:
            template = _UNKNOWN
            text = _UNKNOWN.format(type=event.type)
        else:
            text = template.format_map(_Facts(event))
    except KeyError:
        template = _GENERIC
        text = _GENERIC.format(noun=article(event_noun(event.type)))
    if opening:
        first = _PLACEHOLDER.match(template)
        ours = first is None or first.group(1) in _OURS or template == _GENERIC
        if ours or text.startswith(("system ", "dataset ")):
            text = text[:1].upper() + text[1:]
    return text
