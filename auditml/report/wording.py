"""How the report says things: times, periods, closed values, hashes and references in words.

The ledger and the rule engine keep machine terms (``2026-08-19T21:59:59.999999Z``,
``P15D``, ``supervisory_authority``); a compliance officer reads "19 Aug 2026 21:59 UTC",
"15 days", "the supervisory authority". The findings arrive as sentences already (the check
kinds word them with :mod:`auditml.policy.wording`); this module puts the rest of the report
data into the same words, as pure functions over strings, for the templates (through the
filters `render_html` registers) and assembly. The report data keeps the machine form;
only what is printed is translated.

Nothing here raises on odd input: a value that is not what a function expects is returned
as it came, so an unusual value prints as recorded rather than failing a report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from auditml.policy import wording
from auditml.policy.wording import event_noun, recipient, thing

__all__ = [
    "algorithm",
    "day",
    "event_label",
    "grouped_hex",
    "period_of_report",
    "recipient",
    "references",
    "request_kind",
    "thing",
    "when",
    "words",
]


def _parse(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def when(text: str | None) -> str:
    """``2026-08-19T21:59:59.999999Z`` -> ``19 Aug 2026 21:59 UTC`` (to the minute, cut).

    None gives ``""``; text that is not an aware ISO 8601 time comes back as is.
    """
    if text is None:
        return ""
    moment = _parse(text)
    return text if moment is None else wording.when(moment)


def day(text: str | None) -> str:
    """``2026-08-02`` (or a full time) -> ``2 Aug 2026``; other text comes back as is."""
    if text is None:
        return ""
    try:
        found = date.fromisoformat(text.strip()[:10])
    except ValueError:
        return text
    return wording.day(found)


def event_label(event_type: str) -> str:
    """An event type as a table cell reads it: ``incident.reported`` -> ``Incident report``."""
    noun = event_noun(event_type)
    return noun[:1].upper() + noun[1:]


#: Closed values of the vocabulary that read better as other words than their own.
_WORDS = {
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
