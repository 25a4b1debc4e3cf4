"""The demo story: six months of a credit-scoring system, recorded as they happened.

`run_demo` writes a fresh ledger for the fictitious bank.example and its high-risk
credit-scoring system (AI Act Annex III point 5(b)), from the system's registration on
2 March 2026 to the end of August: staff training, a loan book with provenance,
applicants' consents and withdrawals, DPIA, FRIA, bias and risk assessments, technical
documentation, two training runs, signed approvals, EU database registration,
deployments, thousands of decisions, human reviews, data-subject requests, a data
breach and a serious incident with their notifications.

Time is a `SimulatedClock` that only moves forward, and the ledger runs on it: every
event is recorded at the moment it happens in the story, so ``recorded_at`` and
``occurred_at`` agree, except for the one piece of evidence the story enters weeks late
on purpose. Everything is recorded through the helpers of `auditml.sdk`, so this module
doubles as their end-to-end example: read `_Story.script` for the plot and the
methods it calls for the SDK calls.

Six things go wrong on purpose (`PlantedProblem`): the findings a policy check should
produce. The same seed tells the same story, event for event; event ids, keys, sealed
ciphertexts and approver signatures differ from run to run.
"""

from __future__ import annotations

import csv
import functools
import heapq
import json
import math
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.config import CONFIG_FILE, DEFAULT_SIGNATURE_MEANING, write_config
from auditml.errors import ConfigError, IntegrityError, ValidationError
from auditml.events.refs import model_ref, system_ref
from auditml.ledger.evidence import verify_evidence
from auditml.ledger.keys import load_vkey_file, write_public
from auditml.ledger.ledger import Ledger, Receipt, VerifyResult
from auditml.ledger.witnessing import cosign, init_witness
from auditml.policy.loader import default_policies_dir, load_rules
from auditml.report.identity import CA_CERT_FILE, create_signing_identity, load_certificate
from auditml.sdk import (
    answer_request,
    approve,
    deploy_model,
    derive_dataset,
    document_incident,
    extend_request,
    give_notice,
    grant_consent,
    receive_request,
    record_assessment,
    record_decision,
    record_decisions,
    record_document,
    record_notification,
    record_registration,
    record_review,
    record_staff_training,
    register_dataset,
    register_system,
    report_incident,
    retire_model,
    training_run,
    verify_approval_signature,
    withdraw_consent,
)
from auditml.sdk.choices import (
    AssessmentKind,
    AssessmentResult,
    DsrKind,
    IncidentKind,
    NotificationRecipient,
)

__all__ = [
    "MARKER",
    "MIN_DECISIONS",
    "SYSTEM",
    "DemoResult",
    "PlantedProblem",
    "ProgressCallback",
    "SimulatedClock",
    "StoryStep",
    "prepare_directory",
    "run_demo",
]

MARKER = ".auditml-demo"
SYSTEM = "credit-scoring"
ORIGIN = "bank.example/credit-ledger"
WITNESS_NAME = "dpo.bank.example/witness"
WITNESS_DIR = "witness"
POLICY_FILE = "witnesses.policy"
MODEL = "credit"
#: The system as assessments, documents, notices and registrations name it (a reference).
THE_SYSTEM = system_ref(SYSTEM)
PURPOSE = "creditworthiness assessment"
NOTICE_VERSION = "2026-03"
#: Three decisions are scripted; the story needs a few more around them.
MIN_DECISIONS = 10

#: The multiplication sign, as in "decision.made \u00d75,000" (5,000 such events).
TIMES = "\u00d7"
#: Called with (done, total, what) as the story advances; `total` stays the same.
ProgressCallback = Callable[[int, int, str], None]


# -- what a run returns -------------------------------------------------------------------


@dataclass(frozen=True)
class StoryStep:
    """One line of the story as told: a notable event, or a month's routine work."""

    #: ``2026-03-02`` for an event, ``2026-03`` for a month's summary.
    date: str
    #: The event type, with a count when the line stands for several events.
    event: str
    what: str
    #: The `PlantedProblem.number` this line belongs to, if any.
    problem: int | None = None


@dataclass(frozen=True)
class PlantedProblem:
    """A compliance problem the story contains on purpose, and where its evidence is."""

    number: int
    title: str
    #: The provisions it touches, e.g. ``GDPR Art. 33(1)``.
    law: str
    detail: str
    #: Ledger positions of the events that show it.
    seqs: tuple[int, ...]


@dataclass(frozen=True)
class DemoResult:
    """What `run_demo` recorded and what its checks established."""

    directory: Path
    seed: int
    #: Events in the ledger, and how many of each type.
    events: int
    counts: Mapping[str, int]
    decisions: int
    #: The applicants' own identifiers: the ledger holds only pseudonymous tokens.
    applicants: tuple[str, ...]
    story_start: date
    story_end: date
    steps: list[StoryStep]
    problems: list[PlantedProblem]
    checkpoints: int
    checkpoint_size: int
    checkpoint_root: str
    evidence_path: Path
    #: The signed PDF/A-3b report, verified as a regulator would (CA, verifier key, ledger).
    report_path: Path
    report_id: str
    report_pages: int
    proved_seq: int
    verify: VerifyResult
    #: Approvals whose Ed25519 signature verified under their approver's public key.
    approvals_verified: int
    vkey: str
    vkey_path: Path
    #: Wall-clock seconds for the whole run, checks included.
    seconds: float


# -- time ---------------------------------------------------------------------------------


class SimulatedClock:
    """A clock the story moves by hand, and only forward. Give it to the ledger as its
    clock, and events are recorded at story time."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware datetime")
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    @property
    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; return the new time."""
        return self.advance_to(self._now + timedelta(**delta))

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to `when`; raise ValueError if `when` is in the past."""
        if when < self._now:
            raise ValueError(f"the clock only moves forward: {when} is before {self._now}")
        self._now = when
        return when


def _at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A moment of the story's year, 2026 (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


STORY_START = _at(3, 2, 8, 30)
STORY_END = _at(8, 31, 18, 0)


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%b}"


def _when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b} {moment:%H:%M}"


def _next_business_day(moment: datetime) -> datetime:
    moment += timedelta(days=1)
    while moment.weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def _due(received: datetime) -> str:
    """The GDPR Art. 12(3) deadline of a request received at `received`, as text.

    Per Regulation 1182/71: the same date next month (or that month's last day), moved
    to the next working day when it falls on a weekend (holidays are left out here).
    """
    year, month = received.year + received.month // 12, received.month % 12 + 1
    day = received.day
    while True:
        try:
            nominal = received.replace(year=year, month=month, day=day)
            break
        except ValueError:
            day -= 1
    due = nominal
    while due.weekday() >= 5:
        due += timedelta(days=1)
    if due == nominal:
        return _day(due)
    return f"{_day(due)} ({_day(nominal)} is a {nominal:%A})"


def _random_moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A minute between `start` and `end` in waking hours (08:00 to 21:00)."""
    minutes = int((end - start).total_seconds() // 60)
    while True:
        moment = start + timedelta(minutes=rng.randrange(minutes))
        if 8 <= moment.hour < 21:
            return moment


def _scoring_runs(first: datetime, last: datetime) -> list[datetime]:
    """10:00, 12:00, 14:00, 16:00 and 18:00 on every business day from `first` to `last`."""
    runs, day = [], first.replace(hour=0, minute=0)
    while day <= last:
        if day.weekday() < 5:
            runs += [day.replace(hour=hour) for hour in (10, 12, 14, 16, 18)]
        day += timedelta(days=1)
    return runs


# -- the cast -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    id: str
    name: str
    role: str
    title: str

    @property
    def actor(self) -> dict[str, str]:
        return {"id": self.id, "kind": "human", "role": self.role}


ANA = _Person("ana.kovac@bank.example", "Ana Kovač", "ml-engineer", "ML engineer")
BEN = _Person("ben.osei@bank.example", "Ben Osei", "model-risk", "head of model risk")
DORA = _Person("dora.lind@bank.example", "Dora Lind", "dpo", "DPO")
LEA = _Person("lea.novak@bank.example", "Lea Novak", "privacy-desk", "privacy desk")
RUI = _Person("rui.santos@bank.example", "Rui Santos", "credit-officer", "credit officer")
SOFIA = _Person("sofia.marin@bank.example", "Sofia Marin", "credit-officer", "credit officer")
REVIEWERS = (RUI, SOFIA)

CUSTOMER_APP = {"id": "customer-app", "kind": "service"}
CREDIT_API = {"id": "credit-api", "kind": "service"}
PIPELINE = {"id": "training-pipeline", "kind": "service"}
RELEASE = {"id": "release-bot", "kind": "service"}
LEARNING = {"id": "learning-platform", "kind": "service"}


# -- the model ----------------------------------------------------------------------------

#: (product, smallest amount, largest amount, share of applications)
_PRODUCTS = (
    ("credit card", 1_000, 8_000, 40),
    ("personal loan", 3_000, 30_000, 40),
    ("car loan", 8_000, 40_000, 20),
)
_FEATURE_NAMES = {
    "income_keur": "income (kEUR)",
    "debt_to_income": "debt-to-income ratio",
    "missed_payments": "missed payments",
    "years_employed": "years employed",
    "amount_to_income": "amount-to-income ratio",
}
#: A typical applicant: explanations name the features that differ from it the most.
_TYPICAL = {
    "income_keur": 42.0,
    "debt_to_income": 0.28,
    "missed_payments": 0.5,
    "years_employed": 10.0,
    "amount_to_income": 0.3,
}


@dataclass(frozen=True)
class _Scorecard:
    """A logistic scorecard: the probability that an applicant repays."""

    version: str
    intercept: float
    weights: Mapping[str, float]
    threshold: float

    def to_json(self) -> dict[str, Any]:
        return {
            "model": MODEL,
            "version": self.version,
            "kind": "logistic scorecard",
            "intercept": self.intercept,
            "weights": dict(self.weights),
            "threshold": self.threshold,
        }

    def decide(self, application: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return (output, explanation) for one application."""
        income = max(application["income_eur"], 1)
        features = {
            "income_keur": application["income_eur"] / 1000,
            "debt_to_income": application["debt_eur"] / income,
            "missed_payments": application["missed_payments"],
            "years_employed": application["months_employed"] / 12,
            "amount_to_income": application["amount_eur"] / income,
        }
        z = self.intercept + sum(w * features[name] for name, w in self.weights.items())
        score = round(1 / (1 + math.exp(-max(-30.0, min(30.0, z)))), 3)
        approved = score >= self.threshold
        effect = {name: w * (features[name] - _TYPICAL[name]) for name, w in self.weights.items()}
        main = sorted(effect, key=lambda name: effect[name], reverse=approved)[:2]
        output = {"decision": "approve" if approved else "refuse", "score": score}
        explanation = {
            "main_factors": [
                f"{_FEATURE_NAMES[name]} {round(features[name], 2):g}" for name in main
            ],
            "threshold": self.threshold,
        }
        return output, explanation


SCORECARD_3_2 = _Scorecard(
    "3.2",
    2.0,
    {
        "income_keur": 0.018,
        "debt_to_income": -3.2,
        "missed_payments": -0.75,
        "years_employed": 0.06,
        "amount_to_income": -1.1,
    },
    0.6,
)
SCORECARD_3_3 = _Scorecard(
    "3.3",
    2.1,
    {
        "income_keur": 0.017,
        "debt_to_income": -3.4,
        "missed_payments": -0.7,
        "years_employed": 0.055,
        "amount_to_income": -1.05,
    },
    0.6,
)
#: Refusals this close to the threshold go to a credit officer.
REVIEW_BAND = 0.06


def _application(rng: random.Random) -> dict[str, Any]:
    """What the credit API is given about one application."""
    product, low, high, _ = rng.choices(_PRODUCTS, weights=[p[3] for p in _PRODUCTS])[0]
    income = round(rng.lognormvariate(10.55, 0.45) / 100) * 100
    return {
        "product": product,
        "amount_eur": rng.randrange(low, high + 1, 500),
        "income_eur": income,
        "debt_eur": round(income * rng.betavariate(1.6, 4.0) / 100) * 100,
        "months_employed": rng.randint(0, 240),
        "missed_payments": rng.choices((0, 1, 2, 3, 4), weights=(70, 15, 8, 5, 2))[0],
    }


# -- the story ----------------------------------------------------------------------------


class _Agenda:
    """What happens next: happenings in time order, ties in the order scheduled."""

    def __init__(self) -> None:
        self._queue: list[tuple[datetime, int, Callable[[], object]]] = []
        self._scheduled = 0

    def at(self, when: datetime, happening: Callable[..., object], *args: Any) -> None:
        """Schedule ``happening(*args)`` at `when`."""
        call: Callable[[], object] = functools.partial(happening, *args)
        heapq.heappush(self._queue, (when, self._scheduled, call))
        self._scheduled += 1

    def next(self) -> tuple[datetime, Callable[[], object]] | None:
        if not self._queue:
            return None
        when, _, happening = heapq.heappop(self._queue)
        return when, happening


@dataclass
class _Month:
    """A month's routine work, for its summary lines."""

    approved: int = 0
    refused: int = 0
    versions: list[str] = field(default_factory=list)
    reviews: int = 0
    overridden: int = 0
    granted: int = 0
    withdrawn: int = 0


class _Story:
    """The story's state and happenings. Each happening records what it does through the
    SDK at the clock's current time, and tells a line of the story when it is notable."""

    def __init__(
        self, ledger: Ledger, clock: SimulatedClock, directory: Path, rng: random.Random
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.directory = directory
        self.rng = rng
        self.agenda = _Agenda()
        self.counts: Counter[str] = Counter()
        self.lines: list[tuple[datetime, int, StoryStep]] = []
        self.problems: dict[int, PlantedProblem] = {}
        self.months: dict[str, _Month] = {}
        # Approvers sign with their own keys, which never enter the ledger.
        self.approver_keys = {p.id: Ed25519PrivateKey.generate() for p in (ANA, BEN, DORA)}
        self.approvals: list[tuple[Receipt, str]] = []
        # Applicants by their own identifiers (personal data: the ledger holds tokens):
        # all of them, those consenting now, those decided about and those refused.
        self.applicants: list[str] = []
        self.consenting: list[str] = []
        self.decided: dict[str, None] = {}
        self.refused: dict[str, None] = {}
        self.cast: set[str] = set()
        self.decisions = 0
        self.live = SCORECARD_3_2
        self.partner_feed_broken = False
        self.partner_feed_refusals = 0
        # Moments and ledger positions that later happenings refer back to.
        self.seq: dict[str, int] = {}
        self.time: dict[str, datetime] = {}
        self.chosen: dict[str, str] = {}
        self.after_withdrawal: list[tuple[int, datetime]] = []
        self.contested_decision_id = ""

    # -- the plot -----------------------------------------------------------------------------

    def script(self, decisions: int) -> None:
        """Put every happening of the story on the agenda, in story order."""
        at = self.agenda.at

        # March: the system, its people and data, the first model and its paperwork.
        at(_at(3, 2, 9, 0), self.register_the_system)
        at(_at(3, 2, 11, 0), self.adopt_the_rules)
        at(_at(3, 3, 10, 0), self.train_the_staff)
        at(_at(3, 5, 11, 0), self.register_the_loan_book)
        at(_at(3, 6, 15, 0), self.clean_the_loan_book)
        at(_at(3, 9, 10, 0), self.dpia)
        at(_at(3, 9, 12, 0), self.record_processing)
        at(_at(3, 10, 9, 30), self.open_consents)
        at(_at(3, 16, 10, 0), self.train, SCORECARD_3_2, "loan-book-clean", 0.871)
        at(_at(3, 17, 11, 0), self.evaluate, "3.2", 0.871, BEN)
        at(_at(3, 17, 15, 0), self.examine_bias, "3.2", BEN)
        at(_at(3, 18, 10, 0), self.document, SCORECARD_3_2, "1.0")
        at(_at(3, 18, 16, 0), self.assess_risks)
        at(_at(3, 19, 10, 0), self.fria)
        at(_at(3, 19, 14, 0), self.send_fria_to_the_authority)
        at(_at(3, 20, 10, 0), self.approve, "3.2", BEN, "evaluation, bias, risks: ok")
        at(_at(3, 20, 14, 30), self.approve, "3.2", DORA, "DPIA and FRIA in place")
        at(_at(3, 23, 11, 0), self.register_in_the_eu_database)
        at(_at(3, 24, 7, 30), self.deploy, SCORECARD_3_2)

        # Applicants consent, most in the first two weeks; a few withdraw later.
        self.applicants = [
            f"C-{number}"
            for number in self.rng.sample(range(100_000, 1_000_000), _applicants(decisions))
        ]
        first_weeks = (_at(3, 10, 10, 0), _at(3, 23, 20, 0))
        later = (_at(3, 24, 8, 0), _at(7, 31, 20, 0))
        for position, applicant in enumerate(self.applicants):
            start, end = first_weeks if position < len(self.applicants) * 3 // 4 else later
            granted = _random_moment(self.rng, start, end)
            at(granted, self.grant, applicant)
            if self.rng.random() < 0.04:
                gone = _random_moment(self.rng, granted + timedelta(days=7), _at(8, 28, 20))
                at(gone, self.withdraw_if_consenting, applicant)

        # From the deployment on, the credit API scores the waiting applications five
        # times every business day. Three more decisions are scripted below.
        runs = _scoring_runs(_at(3, 24), _at(8, 28))
        per_run = [0] * len(runs)
        for _ in range(decisions - 3):
            per_run[self.rng.randrange(len(runs))] += 1
        for run, size in zip(runs, per_run, strict=True):
            if size:
                at(run, self.score_applications, size)

        # April and May: requests, a contested refusal, a withdrawal the API misses.
        at(_at(4, 13, 10, 5), self.request, "DSR-2026-001", "access", self.decided)
        at(_at(4, 20, 11, 40), self.request, "DSR-2026-002", "explanation", self.refused)
        at(_at(4, 23, 15, 0), self.answer, "DSR-2026-002", ": explained")
        at(_at(4, 28, 16, 0), self.answer, "DSR-2026-001")
        at(_at(4, 29, 14, 0), self.refuse_an_applicant)
        at(_at(5, 4, 9, 20), self.contest_the_refusal)
        at(_at(5, 6, 11, 0), self.review_the_contested_refusal)
        at(_at(5, 6, 16, 0), self.answer, "DSR-2026-003", ": approved")
        at(_at(5, 12, 10, 42), self.withdraw_unnoticed)
        at(_at(5, 12, 12, 0), self.score_after_withdrawal)
        at(_at(5, 13, 14, 0), self.score_after_withdrawal)

        # June: an erasure refused on a legal ground, a breach notified late.
        at(_at(6, 1, 9, 15), self.request, "DSR-2026-004", "erasure", self.decided)
        at(_at(6, 5, 12, 0), self.refuse_the_erasure)
        at(_at(6, 8, 16, 20), self.breach)
        at(_at(6, 10, 11, 0), self.tell_the_customers)
        at(_at(6, 12, 11, 30), self.notify_the_breach_late)
        at(_at(6, 15, 10, 0), self.request, "DSR-2026-005", "access", self.decided)
        at(_at(6, 29, 15, 0), self.extend_the_request)
        at(_at(6, 30, 10, 0), self.refresh_the_loan_book)

        # July: model 3.3, trained and approved by the same person; a request left lying.
        at(_at(7, 1, 14, 10), self.request, "DSR-2026-006", "access", self.decided, 3)
        at(_at(7, 6, 10, 0), self.train, SCORECARD_3_3, "loan-book-2026h1", 0.884)
        at(_at(7, 7, 11, 0), self.evaluate, "3.3", 0.884, ANA)
        at(_at(7, 7, 15, 0), self.examine_bias, "3.3", ANA)
        at(_at(7, 8, 10, 0), self.document, SCORECARD_3_3, "1.1")
        at(_at(7, 13, 17, 50), self.approve, "3.3", ANA, "better on every segment")
        at(_at(7, 14, 7, 30), self.deploy_on_one_approval)
        at(_at(7, 27, 14, 0), self.answer, "DSR-2026-005", ", as extended")

        # August: a serious incident, a back-dated DPIA review, late answers and reports.
        at(_at(8, 4, 9, 30), self.serious_incident)
        at(_at(8, 6, 17, 10), self.backdate_a_dpia_review)
        at(_at(8, 17, 11, 0), self.answer_the_request_late)
        at(_at(8, 24, 10, 0), self.report_the_incident_late)
        _gdpr_evidence(self)

    # -- March --------------------------------------------------------------------------------

    def register_the_system(self) -> None:
        register_system(
            self.ledger,
            "Credit scoring",
            role="both",
            risk_class="high",
            annex_iii_point="5(b)",
            purposes=[PURPOSE],
            public_authority=False,
            actor=DORA.actor,
        )
        self.tell("system.registered", "high-risk credit scoring (Annex III 5(b))")

    def adopt_the_rules(self) -> None:
        rules = load_rules(default_policies_dir())
        summary = f"the {len(rules.rules)} GDPR, AI Act and internal rules shipped with auditml"
        self.ledger.record(
            "policy.changed",
            payload={"policy_set_sha256": rules.sha256, "summary": summary},
            actor=DORA.actor,
        )
        self.tell("policy.changed", f"the DPO puts {len(rules.rules)} rules in force")

    def train_the_staff(self) -> None:
        courses = [(p, "AI literacy (AI Act Art. 4)") for p in (ANA, BEN, DORA, LEA)] + [
            (p, "human oversight of credit decisions (AI Act Art. 14, 26(2))") for p in REVIEWERS
        ]
        for person, course in courses:
            record_staff_training(self.ledger, person.id, course, actor=LEARNING)
            self.clock.advance(minutes=40)
        self.tell("training.completed", "AI literacy for 4 staff, oversight for 2", count=6)

    def register_the_loan_book(self) -> None:
        raw = self.directory / "data" / "loan-book-2019-2025.csv"
        rows = _write_loan_book(raw, self.directory / "data" / "loan-book-clean.csv", self.rng)
        register_dataset(
            self.ledger,
            "loan-book-2019-2025",
            raw,
            name="Loan book 2019-2025 with repayment outcomes",
            purposes=[PURPOSE],
            contains_personal_data=True,
            lawful_basis="consent",
            retention="P5Y",
            collected_at=datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
            actor=ANA.actor,
        )
        self.tell("dataset.registered", f"loan book: {rows:,} rows of personal data")

    def clean_the_loan_book(self) -> None:
        derive_dataset(
            self.ledger,
            "loan-book-clean",
            ["loan-book-2019-2025"],
            "drop customer ids and incomplete rows; band ages",
            self.directory / "data" / "loan-book-clean.csv",
            code_version="prep@3f9c2e1",
            actor=PIPELINE,
        )
        self.tell("dataset.derived", "cleaned and pseudonymised for training")

    def dpia(self) -> None:
        self.assess(
            "dpia",
            THE_SYSTEM,
            "pass",
            DORA,
            "residual risk acceptable: explicit consent, human review of close refusals",
        )
        self.tell("assessment.completed", f"DPIA signed by {DORA.name}, {DORA.title}")

    def open_consents(self) -> None:
        give_notice(self.ledger, "subjects", THE_SYSTEM, actor=CUSTOMER_APP)
        self.tell("notice.given", "customers are told about credit scoring")

    def train(self, scorecard: _Scorecard, dataset: str, auc: float) -> None:
        version = scorecard.version
        artifact = self.directory / "models" / f"credit-{version}.json"
        artifact.parent.mkdir(exist_ok=True)
        artifact.write_text(json.dumps(scorecard.to_json(), indent=2) + "\n")
        with training_run(
            self.ledger,
            model=MODEL,
            version=version,
            datasets=[dataset],
            code_version=f"scorecard@{self.rng.getrandbits(28):07x}",
            actor=ANA.actor,
        ) as run:
            run.log_params(kind="logistic scorecard", regularisation="l2", c=0.5, folds=5)
            ks = round(auc - 0.45 + self.rng.uniform(-0.01, 0.01), 3)
            run.log_metrics(auc=auc, ks=ks, gini=round(2 * auc - 1, 3))
            run.set_artifact(artifact)
        assert run.receipt is not None
        self.seq[f"trained {version}"] = run.receipt.seq
        self.tell("model.trained", f"{ANA.name} trains {version} on {dataset}")

    def evaluate(self, version: str, auc: float, signer: _Person) -> None:
        summary = f"AUC {auc} on the hold-out set, above the 0.85 target"
        self.assess("evaluation", model_ref(MODEL, version), "pass", signer, summary)
        self.tell("assessment.completed", f"evaluation of {version}: AUC {auc}, target met")

    def examine_bias(self, version: str, signer: _Person) -> None:
        summary = "approval-rate ratio 0.91 across age bands, 0.94 across sexes (floor 0.8)"
        self.assess("bias", model_ref(MODEL, version), "pass", signer, summary)
        self.tell("assessment.completed", f"bias examination of {version}: pass")

    def document(self, scorecard: _Scorecard, doc_version: str) -> None:
        version = scorecard.version
        path = self.directory / "docs" / f"tech-doc-credit-{version}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_technical_documentation(scorecard, doc_version))
        target = model_ref(MODEL, version)
        record_document(self.ledger, "tech_doc", target, doc_version, path, actor=ANA.actor)
        self.tell("document.versioned", f"technical documentation {doc_version} for {version}")

    def record_processing(self) -> None:
        path = self.directory / "docs" / "records-of-processing.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_records_of_processing())
        record_document(self.ledger, "ropa", THE_SYSTEM, "2026.1", path, actor=DORA.actor)
        self.tell("document.versioned", "records of processing (GDPR Art. 30) cover credit scoring")

    def assess_risks(self) -> None:
        summary = "thin-file applicants are scored less reliably; close refusals reviewed"
        self.assess("risk", THE_SYSTEM, "accepted_risk", BEN, summary)
        self.tell("assessment.completed", "risk management (Art. 9): risk accepted")

    def fria(self) -> None:
        summary = "access to credit: no group disproportionately refused; contest route open"
        self.assess("fria", THE_SYSTEM, "pass", DORA, summary)
        self.tell("assessment.completed", "fundamental rights impact assessment (FRIA)")

    def send_fria_to_the_authority(self) -> None:
        self.notify("market_surveillance_authority", "fria:credit-scoring")
        self.tell("notification.sent", "FRIA sent to market surveillance (Art. 27)")

    def approve(self, version: str, person: _Person, rationale: str) -> None:
        result = approve(
            self.ledger,
            model_ref(MODEL, version),
            "deployment",
            rationale,
            approver=person.actor,
            approver_key=self.approver_keys[person.id],
        )
        self.approvals.append((result.receipt, person.id))
        self.seq[f"approved {version}"] = result.receipt.seq
        if person is ANA:  # problem 2: she trained it, and no one else approves it
            self.tell("approval.granted", f"{ANA.name} alone signs off {version}", 2)
        else:
            self.tell("approval.granted", f"{person.name}, {person.title}, signs off {version}")

    def register_in_the_eu_database(self) -> None:
        record_registration(self.ledger, "eu", THE_SYSTEM, "EU-HR-2026-004711", actor=DORA.actor)
        self.tell("registration.completed", "registered in the EU database (Art. 49)")

    def deploy(self, scorecard: _Scorecard, retire: str | None = None) -> int:
        version = scorecard.version
        receipt = deploy_model(self.ledger, MODEL, version, "production", actor=RELEASE)
        self.live = scorecard
        if retire is None:
            self.tell("model.deployed", f"{MODEL}@{version} goes live")
        else:
            retire_model(self.ledger, MODEL, retire, "production", actor=RELEASE)
            self.counts["model.retired"] += 1
            self.tell("model.deployed", f"{MODEL}@{version} goes live, replacing {retire}", 2)
        return receipt.seq

    # -- routine work -------------------------------------------------------------------------

    def grant(self, applicant: str) -> None:
        grant_consent(
            self.ledger,
            applicant,
            PURPOSE,
            explicit=True,
            notice_version=NOTICE_VERSION,
            personal={"email": f"{applicant.lower()}@mail.example"},
            actor=CUSTOMER_APP,
        )
        self.counts["consent.granted"] += 1
        self.consenting.append(applicant)
        self.month().granted += 1

    def withdraw(self, applicant: str) -> int:
        receipt = withdraw_consent(self.ledger, applicant, PURPOSE, actor=CUSTOMER_APP)
        self.counts["consent.withdrawn"] += 1
        self.consenting.remove(applicant)
        self.month().withdrawn += 1
        return receipt.seq

    def withdraw_if_consenting(self, applicant: str) -> None:
        if applicant in self.consenting:  # a scripted part may have withdrawn already
            self.withdraw(applicant)

    def score_applications(self, count: int) -> None:
        """One scoring run: `count` applications from consenting applicants, one batch."""
        scorecard = self.live
        rows, outputs, explanations, subjects = [], [], [], []
        for _ in range(count):
            applicant = self.rng.choice(self.consenting)
            application = _application(self.rng)
            if self.partner_feed_broken and self.rng.random() < 0.12:
                application["income_eur"] = 0  # 3.3's new parser misreads a partner's feed
            output, explanation = scorecard.decide(application)
            rows.append(application)
            outputs.append(output)
            explanations.append(explanation)
            subjects.append(applicant)
        receipts = record_decisions(
            self.ledger,
            rows,
            outputs,
            subjects=subjects,
            explanations=explanations,
            model=MODEL,
            version=scorecard.version,
            purpose=PURPOSE,
            lawful_basis="consent",
            solely_automated=True,
            legal_effect=True,
            actor=CREDIT_API,
        )
        for receipt, row, output, subject in zip(receipts, rows, outputs, subjects, strict=True):
            self.decided_about(subject, receipt, row, output)

    def score_one(self, applicant: str, application: dict[str, Any]) -> tuple[Receipt, str]:
        """A decision recorded on its own, as a scripted part of the story."""
        output, explanation = self.live.decide(application)
        receipt = record_decision(
            self.ledger,
            model=MODEL,
            version=self.live.version,
            purpose=PURPOSE,
            lawful_basis="consent",
            subject=applicant,
            inputs=application,
            output=output,
            explanation=explanation,
            solely_automated=True,
            legal_effect=True,
            actor=CREDIT_API,
        )
        self.decided_about(applicant, receipt, application, output)
        return receipt, str(output["decision"])

    def decided_about(
        self,
        applicant: str,
        receipt: Receipt,
        application: Mapping[str, Any],
        output: Mapping[str, Any],
    ) -> None:
        self.decisions += 1
        self.counts["decision.made"] += 1
        self.decided.setdefault(applicant)
        month = self.month()
        if self.live.version not in month.versions:
            month.versions.append(self.live.version)
        if output["decision"] == "approve":
            month.approved += 1
            return
        month.refused += 1
        if application["income_eur"] == 0:
            self.partner_feed_refusals += 1
            return
        self.refused.setdefault(applicant)
        # A credit officer reviews close refusals the next business day.
        if self.live.threshold - float(output["score"]) <= REVIEW_BAND:
            morning = _next_business_day(self.clock.now).replace(hour=9, minute=0)
            when = morning + timedelta(minutes=self.rng.randrange(240))
            reviewer = self.rng.choice(REVIEWERS)
            overridden = self.rng.random() < 0.3
            if when <= STORY_END:
                self.agenda.at(when, self.review, receipt.id, reviewer, overridden)

    def review(self, decision_id: str, reviewer: _Person, overridden: bool) -> None:
        reason = (
            "payslips show a lower debt-to-income ratio than scored; approved by hand"
            if overridden
            else "bank statements checked: the refusal follows the credit policy"
        )
        record_review(
            self.ledger,
            decision_id,
            "overridden" if overridden else "upheld",
            reason,
            reviewer.actor,
        )
        self.counts["review.completed"] += 1
        self.month().reviews += 1
        self.month().overridden += overridden

    # -- requests, incidents, and the planted problems ---------------------------------------

    def request(
        self, request_id: str, kind: DsrKind, among: Iterable[str], problem: int | None = None
    ) -> None:
        """Record a data-subject request from an applicant chosen `among` some."""
        self.receive(request_id, kind, self.pick(among), problem)

    def receive(
        self, request_id: str, kind: DsrKind, applicant: str, problem: int | None = None
    ) -> None:
        receipt = receive_request(
            self.ledger,
            applicant,
            request_id,
            kind,
            received_at=self.clock.now,
            personal={"reply_to": f"{applicant.lower()}@mail.example"},
            actor=LEA.actor,
        )
        self.seq[request_id] = receipt.seq
        self.time[request_id] = self.clock.now
        asks = {
            "access": "access request (Art. 15)",
            "explanation": "a refused applicant asks why",
            "contest": "refusal contested (Art. 22)",
            "erasure": "erasure request (Art. 17)",
        }[kind]
        self.tell("dsr.received", f"{request_id}: {asks}", problem)

    def answer(
        self,
        request_id: str,
        what: str = "",
        *,
        ground: str | None = None,
        problem: int | None = None,
    ) -> int:
        receipt = answer_request(
            self.ledger,
            request_id,
            "refused" if ground else "completed",
            ground=ground,
            actor=LEA.actor,
        )
        days = (self.clock.now.date() - self.time[request_id].date()).days
        verb = "refused" if ground else "answered"
        self.tell("dsr.answered", f"{request_id} {verb} on day {days}{what}", problem)
        return receipt.seq

    def extend_the_request(self) -> None:
        reason = "complex request: records held in three systems (Art. 12(3))"
        extend_request(self.ledger, "DSR-2026-005", reason, actor=LEA.actor)
        self.tell("dsr.extended", "DSR-2026-005 extended by 2 months")

    def refuse_the_erasure(self) -> None:
        ground = "Art. 17(3)(b): national law requires keeping credit files for 5 years"
        self.answer("DSR-2026-004", ": Art. 17(3)(b)", ground=ground)

    def refuse_an_applicant(self) -> None:
        applicant = self.chosen["contested"] = self.pick(self.consenting)
        application = {
            "product": "personal loan",
            "amount_eur": 12_000,
            "income_eur": 31_000,
            "debt_eur": 11_800,
            "months_employed": 20,
            "missed_payments": 2,
        }
        receipt, outcome = self.score_one(applicant, application)
        assert outcome == "refuse", "the scripted application must be refused"
        self.contested_decision_id = receipt.id
        self.tell("decision.made", "an applicant is refused a personal loan")

    def contest_the_refusal(self) -> None:
        self.receive("DSR-2026-003", "contest", self.chosen["contested"])

    def review_the_contested_refusal(self) -> None:
        self.review(self.contested_decision_id, RUI, overridden=True)
        self.tell("review.completed", f"{RUI.name} ({RUI.title}) overrides it")

    def withdraw_unnoticed(self) -> None:
        """Problem 1: an applicant withdraws; the credit API's consent cache misses it."""
        applicant = self.chosen["withdrawn"] = self.pick(self.decided)
        self.seq["withdrawn"] = self.withdraw(applicant)
        self.time["withdrawn"] = self.clock.now
        self.tell("consent.withdrawn", "an applicant withdraws consent in the app", 1)

    def score_after_withdrawal(self) -> None:
        receipt, _ = self.score_one(self.chosen["withdrawn"], _application(self.rng))
        self.after_withdrawal.append((receipt.seq, self.clock.now))
        if len(self.after_withdrawal) < 2:
            return
        (first, first_at), (second, second_at) = self.after_withdrawal
        self.tell("decision.made", "…yet is scored twice: stale consent cache", 1, count=2)
        self.plant(
            1,
            "Decisions about an applicant after they withdrew their consent",
            "GDPR Art. 6(1)(a), 7(3)",
            f"consent withdrawn {_when(self.time['withdrawn'])}; decisions based on that "
            f"consent followed at {_when(first_at)} and {_when(second_at)}",
            [self.seq["withdrawn"], first, second],
        )

    def breach(self) -> None:
        self.seq["breach"] = self.report("INC-2026-01", "breach", DORA, severity="medium")
        self.time["breach"] = self.clock.now
        self.tell("incident.reported", "INC-2026-01 breach: 37 letters mis-addressed")

    def tell_the_customers(self) -> None:
        self.notify("subject", "INC-2026-01")
        self.tell("notification.sent", "the 37 customers are told (Art. 34)")

    def notify_the_breach_late(self) -> None:
        aware = self.time["breach"]
        hours = round((self.clock.now - aware).total_seconds() / 3600)
        seq = self.notify("supervisory_authority", "INC-2026-01")
        self.tell("notification.sent", f"supervisory authority told after {hours} hours", 4)
        self.plant(
            4,
            "Personal-data breach notified to the supervisory authority after 72 hours",
            "GDPR Art. 33(1)",
            f"INC-2026-01: aware {_when(aware)}, notified {_when(self.clock.now)} "
            f"({hours} hours), no reason for the delay recorded",
            [self.seq["breach"], seq],
        )

    def refresh_the_loan_book(self) -> None:
        refreshed = self.directory / "data" / "loan-book-2026h1.csv"
        _write_refreshed_loan_book(
            self.directory / "data" / "loan-book-clean.csv", refreshed, self.rng
        )
        derive_dataset(
            self.ledger,
            "loan-book-2026h1",
            ["loan-book-clean"],
            "append repayment outcomes to 2026-06-30; parse partner-bank incomes",
            refreshed,
            code_version="prep@8d01b7a",
            actor=PIPELINE,
        )
        self.tell("dataset.derived", "training set refreshed with H1 2026 outcomes")

    def deploy_on_one_approval(self) -> None:
        """Problem 2: 3.3 goes live on the approval of the person who trained it."""
        deployed = self.deploy(SCORECARD_3_3, retire="3.2")
        self.time["deployed 3.3"] = self.clock.now
        self.partner_feed_broken = True
        self.plant(
            2,
            f"{MODEL}@3.3 deployed on one approval, by the person who trained it",
            "AI Act Art. 9, 17(1); four-eyes rule",
            f"{ANA.name} trained {MODEL}@3.3 ({_day(_at(7, 6))}) and was its only approver "
            f"({_day(_at(7, 13))}); live {_day(self.clock.now)}",
            [self.seq["trained 3.3"], self.seq["approved 3.3"], deployed],
        )

    def serious_incident(self) -> None:
        self.partner_feed_broken = False  # found and fixed this morning
        self.seq["incident"] = self.report("INC-2026-02", "serious_incident", BEN, "serious")
        self.time["incident"] = self.clock.now
        self.tell(
            "incident.reported",
            f"INC-2026-02 serious: {self.partner_feed_refusals:,} refused in error",
        )

    def backdate_a_dpia_review(self) -> None:
        """Problem 6: a DPIA review signed on paper is entered weeks later, back-dated."""
        dated = _at(7, 9, 15, 0)
        summary = "DPIA reviewed for 3.3: no change in residual risk"
        seq = self.assess("dpia", model_ref(MODEL, "3.3"), "pass", DORA, summary, occurred_at=dated)
        self.tell("assessment.completed", f"DPIA review of 3.3 entered, dated {_day(dated)}", 6)
        self.plant(
            6,
            "Evidence entered weeks after the fact",
            "GDPR Art. 5(2), 35(11); AI Act Art. 12",
            f"a DPIA review of {MODEL}@3.3 dated {_day(dated)} was recorded {_day(self.clock.now)}: "
            f"{(self.clock.now - dated).days} days later, after the deployment it should "
            "justify and after INC-2026-02",
            [seq],
        )

    def answer_the_request_late(self) -> None:
        """Problem 3: an access request answered after its deadline, never extended."""
        received = self.time["DSR-2026-006"]
        seq = self.answer("DSR-2026-006", problem=3)
        self.plant(
            3,
            "Access request answered after the one-month deadline, never extended",
            "GDPR Art. 12(3), 15",
            f"DSR-2026-006 received {_day(received)}, due {_due(received)}, answered "
            f"{_day(self.clock.now)}",
            [self.seq["DSR-2026-006"], seq],
        )

    def report_the_incident_late(self) -> None:
        """Problem 5: the serious incident reaches the authority after 15 days."""
        aware = self.time["incident"]
        seq = self.notify("market_surveillance_authority", "INC-2026-02")
        days = (self.clock.now.date() - aware.date()).days
        self.tell("notification.sent", f"market surveillance authority told: day {days}", 5)
        self.plant(
            5,
            "Serious incident reported to the market surveillance authority late",
            "AI Act Art. 73(2)",
            f"INC-2026-02 ({MODEL}@3.3 refused {self.partner_feed_refusals:,} applicants whose "
            f"income a partner feed sent as 0): aware {_when(aware)}, due within 15 days "
            f"({_day(aware + timedelta(days=15))}), reported {_day(self.clock.now)}",
            [self.seq["incident"], seq],
        )

    # -- shared steps -------------------------------------------------------------------------

    def assess(
        self,
        kind: AssessmentKind,
        target: str,
        result: AssessmentResult,
        signer: _Person,
        summary: str,
        occurred_at: datetime | None = None,
    ) -> int:
        receipt = record_assessment(
            self.ledger,
            kind,
            target,
            result,
            signer=signer.id,
            summary=summary,
            actor=signer.actor,
            occurred_at=occurred_at,
        )
        return receipt.seq

    def notify(self, to: NotificationRecipient, about: str) -> int:
        sent = record_notification(self.ledger, to, about, sent_at=self.clock.now, actor=DORA.actor)
        return sent.seq

    def report(self, incident_id: str, kind: IncidentKind, reporter: _Person, severity: str) -> int:
        receipt = report_incident(
            self.ledger,
            incident_id,
            kind,
            aware_at=self.clock.now,
            severity=severity,
            outcome="rights",
            widespread=False,
            actor=reporter.actor,
        )
        return receipt.seq

    # -- bookkeeping --------------------------------------------------------------------------

    def tell(self, event: str, what: str, problem: int | None = None, count: int = 1) -> None:
        """Add a line to the story, dated now. Routine events are counted elsewhere."""
        if event not in _ROUTINE:  # counted where they are recorded
            self.counts[event] += count
        label = event if count == 1 else f"{event} {TIMES}{count:,}"
        line = StoryStep(self.clock.now.date().isoformat(), label, what, problem)
        self.lines.append((self.clock.now, len(self.lines), line))

    def month(self) -> _Month:
        return self.months.setdefault(self.clock.now.strftime("%Y-%m"), _Month())

    def plant(self, number: int, title: str, law: str, detail: str, seqs: list[int]) -> None:
        self.problems[number] = PlantedProblem(number, title, law, detail, tuple(sorted(seqs)))

    def pick(self, among: Iterable[str]) -> str:
        """A consenting applicant for a scripted part, not yet in another one."""
        consenting = set(self.consenting)
        free = [a for a in among if a in consenting and a not in self.cast]
        chosen = self.rng.choice(free or [a for a in self.consenting if a not in self.cast])
        self.cast.add(chosen)
        return chosen

    def told(self) -> list[StoryStep]:
        """The story's lines in time order, each month closed by its routine work."""
        lines = list(self.lines)
        for key, month in self.months.items():
            year, number = int(key[:4]), int(key[5:])
            closing = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
            summary: list[tuple[str, int, str]] = []
            if month.granted:
                summary.append(("consent.granted", month.granted, "applicants give consent"))
            if month.approved or month.refused:
                models = f"{MODEL}@{'/'.join(month.versions)}"
                decided = f"{month.approved:,} approved, {month.refused:,} refused"
                summary.append(
                    ("decision.made", month.approved + month.refused, f"{models}: {decided}")
                )
            if month.reviews:
                reviewed = f"close refusals reviewed, {month.overridden} overridden"
                summary.append(("review.completed", month.reviews, reviewed))
            if month.withdrawn:
                summary.append(
                    ("consent.withdrawn", month.withdrawn, "applicants withdraw consent")
                )
            for position, (event, count, what) in enumerate(summary):
                lines.append((closing, position, StoryStep(key, f"{event} {TIMES}{count:,}", what)))
        lines.sort(key=lambda line: (line[0], line[1]))
        return [line[2] for line in lines]


#: Event types the story counts where it records them, not where it tells of them.
_ROUTINE = frozenset({"consent.granted", "consent.withdrawn", "decision.made", "review.completed"})


def _applicants(decisions: int) -> int:
    """A few hundred applicants for the default run, at least 20 for a small one."""
    return max(20, min(300, decisions // 16))


# -- the files the story hashes -----------------------------------------------------------


def _write_loan_book(raw: Path, clean: Path, rng: random.Random) -> int:
    """Write the raw loan book (personal data) and its cleaned copy; return the row count."""
    raw.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "customer_id",
        "age",
        "income_eur",
        "debt_eur",
        "months_employed",
        "missed_payments",
        "amount_eur",
        "defaulted",
    ]
    rows = []
    for number in rng.sample(range(100_000, 1_000_000), 2_000):
        application = _application(rng)
        incomplete = rng.random() < 0.03
        defaulted = rng.random() < 0.04 + 0.05 * application["missed_payments"]
        rows.append(
            [
                f"H-{number}",
                str(rng.randint(19, 78)),
                str(application["income_eur"]),
                str(application["debt_eur"]),
                "" if incomplete else str(application["months_employed"]),
                str(application["missed_payments"]),
                str(application["amount_eur"]),
                str(int(defaulted)),
            ]
        )
    with raw.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    with clean.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["age_band", *header[2:]])
        for row in rows:
            if all(row):
                band = int(row[1]) // 10 * 10
                writer.writerow([f"{band}-{band + 9}", *row[2:]])
    return len(rows)


def _write_refreshed_loan_book(clean: Path, target: Path, rng: random.Random) -> None:
    """Write the cleaned loan book plus the first half of 2026's outcomes."""
    lines = clean.read_text().splitlines()
    for _ in range(400):
        a = _application(rng)
        band = rng.randint(19, 78) // 10 * 10
        lines.append(
            f"{band}-{band + 9},{a['income_eur']},{a['debt_eur']},{a['months_employed']},"
            f"{a['missed_payments']},{a['amount_eur']},{int(rng.random() < 0.05)}"
        )
    target.write_text("\n".join(lines) + "\n")


# -- GDPR evidence (issue 14) -------------------------------------------------------------


def _gdpr_evidence(story: _Story) -> None:
    """Put on the agenda what the GDPR rules of issue 14 need from the compliant parts of
    the story: the privacy notice the consents name (Art. 13), the data-protection-by-design
    record before the first deployment (Art. 25(1)), and the breach register entry for
    INC-2026-01 (Art. 33(5)). The late breach notification keeps giving no reasons for its
    delay (Art. 33(1)): that is planted problem 4."""

    def publish_the_privacy_notice() -> None:
        path = story.directory / "docs" / f"privacy-notice-{NOTICE_VERSION}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            f"# Privacy notice {NOTICE_VERSION}: credit scoring at bank.example\n\n"
            "We score your application with an automated model (a logistic scorecard) on\n"
            "your income, debts and repayment history, with your explicit consent (GDPR\n"
            "Art. 6(1)(a), 22(2)(c)). Close refusals are reviewed by a credit officer; you may\n"
            "ask for a person to review any decision, give your view and contest it. We keep\n"
            "the data 5 years after the decision. DPO: dpo@bank.example. You may complain to\n"
            "the supervisory authority.\n"
        )
        target = f"system:{SYSTEM}"
        record_document(
            story.ledger, "privacy_notice", target, NOTICE_VERSION, path, actor=DORA.actor
        )
        story.tell("document.versioned", f"privacy notice {NOTICE_VERSION} published (Art. 13)")

    def sign_the_design_record() -> None:
        summary = "scorecard on banded, pseudonymised data; inputs kept as hashes; no free text"
        story.assess("data_protection_by_design", f"system:{SYSTEM}", "pass", DORA, summary)
        story.tell("assessment.completed", "data protection by design signed off (Art. 25)")

    def document_the_breach() -> None:
        document_incident(
            story.ledger,
            "INC-2026-01",
            facts="37 account letters posted on 5-8 June to addresses the customers had left",
            effects="balances seen by the new occupants; no account numbers; fraud risk low",
            remedial_action="addresses re-synced before every mailing; letters recalled",
            actor=DORA.actor,
        )
        story.tell("incident.documented", "INC-2026-01 entered in the breach register (Art. 33(5))")

    story.agenda.at(_at(3, 9, 16, 0), publish_the_privacy_notice)
    story.agenda.at(_at(3, 19, 16, 0), sign_the_design_record)
    story.agenda.at(_at(6, 15, 11, 0), document_the_breach)


# -- GDPR evidence ends ---------------------------------------------------------------------


def _technical_documentation(scorecard: _Scorecard, doc_version: str) -> str:
    weights = "\n".join(f"| {name} | {w:+.3f} |" for name, w in scorecard.weights.items())
    return (
        f"# Technical documentation: {MODEL}@{scorecard.version} (version {doc_version})\n\n"
        "Provider and deployer: bank.example. AI system: credit scoring, high risk under\n"
        "AI Act Annex III point 5(b). Intended purpose: assess the creditworthiness of\n"
        "natural persons applying for consumer credit, with their explicit consent.\n\n"
        f"Model: logistic scorecard. Applications scoring below {scorecard.threshold} are\n"
        "refused; refusals within 0.06 of it are reviewed by trained credit officers.\n\n"
        f"| feature | weight |\n|---|---|\n{weights}\n"
    )


def _records_of_processing() -> str:
    return (
        "# Records of processing activities (GDPR Art. 30(1)): credit scoring\n\n"
        "Controller: bank.example, DPO dpo@bank.example. Purpose: creditworthiness\n"
        f"assessment ({SYSTEM}). Data subjects: applicants for consumer credit. Personal data:\n"
        "income, debts, repayment history. Lawful basis: explicit consent (Art. 6(1)(a),\n"
        "22(2)(c)). Recipients: none outside the bank. Retention: 5 years after the decision.\n"
        "Security: pseudonymised ledger, encrypted personal data (Art. 32).\n"
    )


# -- running it ---------------------------------------------------------------------------


def prepare_directory(directory: Path) -> None:
    """Empty a previous demo's directory; refuse to touch anything else (ConfigError)."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise ConfigError(
                f"{directory} exists and was not made by `auditml demo`; choose another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by auditml demo; safe to delete\n")


def run_demo(
    directory: Path,
    *,
    decisions: int = 5000,
    seed: int = 7,
    on_progress: ProgressCallback | None = None,
) -> DemoResult:
    """Record the story into a fresh ledger in `directory`, prove a decision, verify all.

    `directory` is emptied first if an earlier demo made it; any other existing directory
    is refused. `decisions` (at least `MIN_DECISIONS`) is how many credit decisions the
    story makes; `seed` makes the story repeatable. `on_progress` is called as story time
    passes and during the checks at the end. The directory gets an auditml.toml, so
    ``cd DIRECTORY && auditml log`` works.

    Returns what was recorded, the planted problems and what the checks established.
    Raises ValidationError for too few decisions, ConfigError for a directory that is not
    a demo's, IntegrityError (or SignatureError) if a check fails.
    """
    # Signing and checking PDFs load pyHanko, a fifth of every CLI start: only here.
    from auditml.report.issue import issue_report
    from auditml.report.verify import verify_report

    if decisions < MIN_DECISIONS:
        raise ValidationError(f"the demo needs at least {MIN_DECISIONS} decisions, got {decisions}")
    started = time.perf_counter()
    prepare_directory(directory)
    clock = SimulatedClock(STORY_START)
    key_dir = directory / "keys"
    url = f"sqlite:///{(directory / 'auditml.db').resolve()}"
    days = (STORY_END.date() - STORY_START.date()).days
    total = days + 4

    def progress(done: int, what: str) -> None:
        if on_progress is not None:
            on_progress(done, total, what)

    with Ledger.create(url, origin=ORIGIN, key_dir=key_dir, clock=clock, system=SYSTEM) as ledger:
        story = _Story(ledger, clock, directory, random.Random(seed))
        story.script(decisions)
        today = None
        while (upcoming := story.agenda.next()) is not None:
            when, happening = upcoming
            clock.advance_to(when)
            if when.date() != today:
                today = when.date()
                progress((today - STORY_START.date()).days, f"recording {today:%d %b %Y}")
            happening()
        clock.advance_to(STORY_END)

        # The DPO witnesses the ledger: its cosigned checkpoint goes into the report. (A
        # real witness keeps its state away from the ledger's host; here it is beside it.)
        progress(days, "the DPO's witness cosigns")
        witness_dir = directory / WITNESS_DIR
        witness = init_witness(
            witness_dir, WITNESS_NAME, ledger.verifiers()[0], ledger_key_dir=key_dir
        )
        cosign(ledger, witness_dir)
        write_public(directory / POLICY_FILE, f"witness dpo {witness.to_vkey()}\nquorum 1\n")

        progress(days, "writing the signed report")
        identity = create_signing_identity(
            key_dir,
            organisation="bank.example",
            name=DORA.name,
            role="Data Protection Officer",
            meaning=DEFAULT_SIGNATURE_MEANING,
        )
        report_path = directory / "report.pdf"
        issued = issue_report(ledger, report_path, as_of=STORY_END, identity=identity)
        story.counts["report.issued"] += 1

        progress(days + 1, "signing a checkpoint")
        checkpoint = ledger.checkpoint()
        decision = next(ledger.events(type="decision.made", limit=1, newest_first=True))
        evidence_path = directory / "evidence.json"
        write_public(evidence_path, json.dumps(ledger.prove(decision.seq), indent=2) + "\n")

        progress(days + 2, "verifying every event")
        result = ledger.verify(deep=True)
        for receipt, approver in story.approvals:
            public_key = story.approver_keys[approver].public_key()
            verify_approval_signature(ledger.get(receipt.id), public_key)

        checkpoints = len(ledger.checkpoints())
        events = len(ledger)

    write_config(directory / CONFIG_FILE, url="sqlite:///auditml.db", key_dir="keys")
    # An auditor's check: nothing but the evidence file and the published verifier key.
    progress(days + 3, "checking the evidence offline")
    vkey_path = key_dir / "ledger.vkey"
    trusted = load_vkey_file(vkey_path)
    verify_evidence(json.loads(evidence_path.read_text()), trusted)
    # A regulator's check of the report: the CA and the verifier key they were sent.
    progress(days + 3, "verifying the signed report")
    with Ledger.open(url, key_dir=key_dir) as ledger:
        report_check = verify_report(
            report_path,
            trust=[load_certificate(key_dir / CA_CERT_FILE)],
            vkeys=[trusted[0].to_vkey()],
            ledger=ledger,
        )
    if not report_check.verified:
        raise IntegrityError(
            f"the demo's report does not verify: {'; '.join(report_check.problems)}"
        )
    progress(total, "done")
    return DemoResult(
        directory=directory,
        seed=seed,
        events=events,
        counts=dict(sorted(story.counts.items())),
        decisions=story.decisions,
        applicants=tuple(story.applicants),
        story_start=STORY_START.date(),
        story_end=STORY_END.date(),
        steps=story.told(),
        problems=[story.problems[number] for number in sorted(story.problems)],
        checkpoints=checkpoints,
        checkpoint_size=checkpoint.size,
        checkpoint_root=checkpoint.root,
        evidence_path=evidence_path,
        report_path=report_path,
        report_id=issued.report_id,
        report_pages=issued.pages,
        proved_seq=decision.seq,
        verify=result,
        approvals_verified=len(story.approvals),
        vkey=trusted[0].to_vkey(),
        vkey_path=vkey_path,
        seconds=time.perf_counter() - started,
    )
