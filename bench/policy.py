"""Policy benchmark: `auditml check` with the full shipped rule set over large ledgers.

    python bench/policy.py                       # ledgers of 100k and 1M events
    python bench/policy.py --sizes 20000 100000  # quick

For each size, builds a ledger of a credit-scoring system's life (registration,
datasets, assessments, approvals and deployments, consents and withdrawals, decisions
with human reviews, access requests and breaches, all in the AI Act's Annex III period;
some decisions come after a withdrawal and some breaches are notified late, so there are
findings to keep),
then runs `auditml check --format json` in a subprocess and prints its wall time and
peak RSS. Baseline, in the same run: the same subprocess streaming the same events
without any rule (what reading the ledger costs), so the ratio is the rules' price.
Targets: 1M events <= 60 s and <= 1 GiB peak RSS. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditml import Ledger

START = datetime(2026, 8, 10, 8, 0, tzinfo=UTC)
SYSTEM = "credit-scoring"
SYSTEM_REF = f"system:{SYSTEM}"
PURPOSE = "creditworthiness assessment"
SUBJECTS = 5000
HEX = "ab" * 32
#: The accuracy each release's instructions declare and its evaluation meets (AI Act 15(3)).
TARGETS = [{"metric": "auc", "level": 0.8, "direction": "at_least"}]


class Clock:
    """The ledger's clock follows the story, so evidence is recorded as it happens."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(kind: str, at: datetime, payload: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": _iso(at), "payload": payload, **envelope}


def _person(name: str) -> dict[str, str]:
    return {"id": name, "kind": "human"}


def governance(at: datetime, version: str) -> list[dict[str, Any]]:
    """What a release needs: training, assessments, documents, two approvals, deployment."""
    target = f"model:credit@{version}"
    step = timedelta(minutes=5)
    events = [
        _event(
            "model.trained",
            at,
            {
                "model": "credit",
                "version": version,
                "datasets": ["dataset:loans"],
                "params": {"c": 1},
                "metrics": {"auc": 0.87},
                "artifact_sha256": HEX,
            },
            actor=_person("ana"),
        )
    ]
    for n, (kind, what) in enumerate(
        [("dpia", target), ("bias", target), ("evaluation", target), ("risk", SYSTEM_REF)], 1
    ):
        payload = {"kind": kind, "target": what, "result": "pass", "signer": "dora"}
        if kind == "evaluation":
            payload["metrics"] = {"auc": 0.87}
        events.append(_event("assessment.completed", at + n * step, payload))
    for kind, extra in (("tech_doc", {}), ("instructions", {"declared_metrics": TARGETS})):
        events.append(
            _event(
                "document.versioned",
                at + 6 * step,
                {"kind": kind, "target": target, "version": version, "sha256": HEX, **extra},
            )
        )
    for n, who in enumerate(("ben", "dora"), 7):
        events.append(
            _event(
                "approval.granted",
                at + n * step,
                {"target": target, "stage": "deployment", "rationale": "ok"},
                actor=_person(who),
            )
        )
    events.append(
        _event(
            "model.deployed",
            at + 10 * step,
            {"model": "credit", "version": version, "environment": "production"},
        )
    )
    return events


def opening(at: datetime) -> list[dict[str, Any]]:
    """The system's registration and the evidence that precedes its first decision."""
    step = timedelta(minutes=1)
    events = [
        _event(
            "system.registered",
            at,
            {
                "name": SYSTEM,
                "role": "both",
                "risk_class": "high",
                "annex_iii_point": "5(b)",
                "purposes": [PURPOSE],
                "public_authority": False,
            },
        ),
        _event(
            "dataset.registered",
            at + step,
            {
                "dataset_id": "loans",
                "name": "loan book",
                "uri": "s3://bank/loans",
                "sha256": HEX,
                "contains_personal_data": True,
                "special_categories": [],
                "lawful_basis": "consent",
                "purposes": [PURPOSE],
                "retention": "P5Y",
                "collected_at": _iso(at),
            },
        ),
        *(
            _event(
                "document.versioned",
                at + 2 * step,
                {"kind": kind, "target": SYSTEM_REF, "version": "1", "sha256": HEX},
            )
            for kind in ("ropa", "privacy_notice", "qms", "pmm_plan", "declaration_of_conformity")
        ),
        *(
            _event(
                "assessment.completed",
                at + 2 * step,
                {"kind": kind, "target": SYSTEM_REF, "result": "pass", "signer": "dora"},
            )
            for kind in ("conformity", "data_protection_by_design")
        ),
        _event(
            "assessment.completed",
            at + 3 * step,
            {"kind": "fria", "target": SYSTEM_REF, "result": "pass", "signer": "dora"},
        ),
        _event(
            "notification.sent",
            at + 4 * step,
            {"to": "market_surveillance_authority", "about": f"fria:{SYSTEM}", "sent_at": _iso(at)},
        ),
        _event(
            "registration.completed",
            at + 4 * step,
            {"database": "eu", "target": SYSTEM_REF, "reference": "EU-1"},
        ),
        _event("notice.given", at + 5 * step, {"audience": "subjects", "target": SYSTEM_REF}),
    ]
    for n, person in enumerate(("olga", "piet", "rui")):
        events.append(
            _event(
                "training.completed",
                at + (6 + n) * step,
                {"person": person, "course": "human oversight"},
            )
        )
    events += governance(at + 10 * step, "1.0")
    for n in range(SUBJECTS):
        events.append(
            _event(
                "consent.granted",
                at + timedelta(hours=2, milliseconds=n),
                {"purpose": PURPOSE, "explicit": True, "notice_version": "1"},
                subject=f"applicant-{n}",
            )
        )
    return events


def story(count: int, seed: int = 1) -> list[list[dict[str, Any]]]:
    """`count` events in batches, occurred_at increasing, spread over about six months."""
    rng = random.Random(seed)
    batches = [opening(START)]
    made = sum(len(b) for b in batches)
    at = START + timedelta(hours=3)
    gap = timedelta(days=180) / max(count, 1)
    number = 0
    versions = 1
    while made < count:
        # A batch is at most six hours of the story, recorded as it ends.
        batch: list[dict[str, Any]] = []
        ends = at + timedelta(hours=6)
        while len(batch) < count - made and at < ends:
            at += gap
            number += 1
            subject = f"applicant-{rng.randrange(SUBJECTS)}"
            roll = rng.random()
            if roll < 0.02:  # a decision a person took part in, reviewed the next day
                decision_id = f"d{number}"
                batch.append(decision(at, subject, decision_id, automated=False))
                reviewer = rng.choice(("olga", "piet", "rui"))
                review = {"decision_id": decision_id, "outcome": "upheld", "reason": "checked"}
                batch.append(
                    _event(
                        "review.completed",
                        at + timedelta(hours=20),
                        review,
                        actor=_person(reviewer),
                        subject=subject,
                    )
                )
            elif roll < 0.0205:  # an access request answered within a week
                request = f"r{number}"
                received = {"request_id": request, "kind": "access", "received_at": _iso(at)}
                answered = {"request_id": request, "outcome": "completed"}
                batch.append(_event("dsr.received", at, received, subject=subject))
                batch.append(
                    _event("dsr.answered", at + timedelta(days=6), answered, subject=subject)
                )
            elif roll < 0.0203:  # consent withdrawn; mostly granted again a week later
                withdrawn = {"purpose": PURPOSE}
                batch.append(_event("consent.withdrawn", at, withdrawn, subject=subject))
                if rng.random() < 0.8:
                    again = {"purpose": PURPOSE, "explicit": True, "notice_version": "1"}
                    batch.append(
                        _event("consent.granted", at + timedelta(days=7), again, subject=subject)
                    )
            elif roll < 0.0206:  # a breach, notified within 40 hours (one in five late)
                incident = f"i{number}"
                reported = {
                    "incident_id": incident,
                    "kind": "breach",
                    "aware_at": _iso(at),
                    "severity": "low",
                    "widespread": False,
                }
                sent = {"to": "supervisory_authority", "about": incident, "sent_at": ""}
                delay = timedelta(hours=80 if rng.random() < 0.2 else 40)
                sent["sent_at"] = _iso(at + delay)
                documented = {
                    "incident_id": incident,
                    "facts": "a letter to an old address",
                    "effects": "one balance seen",
                    "remedial_action": "address verified",
                }
                batch.append(_event("incident.reported", at, reported))
                batch.append(_event("incident.documented", at + timedelta(days=2), documented))
                batch.append(_event("notification.sent", at + delay, sent))
            else:
                batch.append(decision(at, subject, f"d{number}", automated=True))
        if at - START > timedelta(days=30 * versions):  # a release a month
            versions += 1
            batch += governance(at + timedelta(minutes=1), f"{versions}.0")
            at += timedelta(hours=1)
        batch.sort(key=lambda event: event["occurred_at"])
        batches.append(batch)
        made += len(batch)
    return batches


def decision(at: datetime, subject: str, event_id: str, *, automated: bool) -> dict[str, Any]:
    payload = {
        "model": "credit",
        "version": "1.0",
        "purpose": PURPOSE,
        "lawful_basis": "consent",
        "input_sha256": HEX,
        "output": {"score": 0.5},
        "solely_automated": automated,
        "legal_effect": True,
    }
    return _event("decision.made", at, payload, subject=subject, id=event_id)


def build(directory: Path, count: int) -> tuple[int, datetime]:
    clock = Clock()
    url = f"sqlite:///{directory / 'auditml.db'}"
    with Ledger.create(
        url, origin="bench.example/policy", key_dir=directory / "keys", clock=clock, system=SYSTEM
    ) as ledger:
        for batch in story(count):
            # Recorded a little after the last event of the batch occurred.
            last = max(datetime.fromisoformat(e["occurred_at"]) for e in batch)
            clock.now = max(clock.now, last + timedelta(hours=1))
            ledger.record_many(batch)
        size = len(ledger)
    return size, clock.now


STREAM_ONLY = """
import sys
from datetime import datetime
from auditml import Ledger
from auditml.policy.stream import ledger_events
as_of = datetime.fromisoformat(sys.argv[2])
with Ledger.open(sys.argv[1], key_dir=sys.argv[3]) as ledger:
    print(sum(1 for _ in ledger_events(ledger, as_of=as_of)))
"""


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) of that child alone (wait4), its stdout."""
    started = time.perf_counter()
    with subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        # Read before waiting (a full pipe would block the child), then reap it with
        # wait4, which reports this child's own peak RSS.
        out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed ({child.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--build", nargs=2, metavar=("DIR", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        size, last = build(Path(args.build[0]), int(args.build[1]))
        print(size, last.isoformat())
        return
    auditml = str(Path(sys.executable).with_name("auditml"))
    results = []
    for size in sorted(args.sizes):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            # Built in a child, so that this process stays small: a child forked from a
            # large parent would count the parent's pages in its peak RSS.
            built, _, out = timed(
                [sys.executable, __file__, "--build", str(directory), str(size)], directory
            )
            events_text, last_text = out.split()
            events, last = int(events_text), datetime.fromisoformat(last_text)
            as_of = _iso(last + timedelta(days=1))
            env_url = f"sqlite:///{directory / 'auditml.db'}"
            base_s, base_mb, counted = timed(
                [sys.executable, "-c", STREAM_ONLY, env_url, as_of, str(directory / "keys")],
                directory,
            )
            check_s, check_mb, out = timed(
                [auditml, "check", "--format", "json", "--as-of", as_of], directory
            )
            data = json.loads(out)
            verdicts: dict[str, int] = {}
            for rule in data["rules"]:
                verdicts[rule["verdict"]] = verdicts.get(rule["verdict"], 0) + 1
            results.append((events, check_s))
            print(
                f"{events:>9,} events (built in {built:.0f} s): read alone {base_s:6.1f} s "
                f"({base_mb:,.0f} MiB); "
                f"auditml check {check_s:6.1f} s ({check_s / base_s:.1f}x), peak RSS "
                f"{check_mb:,.0f} MiB; {len(data['rules'])} rules: "
                + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
                + f"; {len(data['findings'])} findings kept; streamed {counted.strip()}"
            )
            assert int(counted) == data["events"] == events, (counted, data["events"], events)
    if len(results) > 1:
        (n1, t1), (n2, t2) = results[0], results[-1]
        growth = (t2 / t1) / (n2 / n1)
        print(f"time grows {t2 / t1:.1f}x for {n2 / n1:.0f}x the events ({growth:.2f} of linear)")
    print(f"targets: 1M events <= 60 s, <= 1,024 MiB peak RSS (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
