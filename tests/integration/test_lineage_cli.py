"""`auditml lineage` end to end: a real ledger, the real command in a subprocess, exit codes.

Model and dataset questions run against a ledger filled by `auditml import`. Subject
questions need events with a subject, which `record` refuses until the privacy layer
is wired, so they run the command in-process over envelope dicts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import derived
from rich.console import Console
from typer.testing import CliRunner

from auditml.cli import lineage as lineage_cli
from auditml.cli.state import OPTIONS
from auditml.events.envelope import Envelope

# The command is registered in auditml/cli/main.py by its owner; until then the launcher
# registers it, and once it is there the launcher leaves it alone.
LAUNCHER = """
from auditml.cli import lineage
from auditml.cli.main import app, run
if not any(c.callback is lineage.lineage for c in app.registered_commands):
    lineage.register(app)
run()
"""
AUDITML = [sys.executable, "-c", LAUNCHER]
SYSTEM = "credit-scoring"


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide console keeps each tree line on one line, so the assertions can read it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [*AUDITML, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def registered(
    dataset_id: str, *, personal: bool, purposes: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "type": "dataset.registered",
        "payload": {
            "dataset_id": dataset_id,
            "name": dataset_id.title(),
            "uri": f"s3://data/{dataset_id}",
            "sha256": "ab" * 32,
            "contains_personal_data": personal,
            "special_categories": extra.pop("special", []),
            "purposes": purposes,
            **extra,
        },
    }


def trained(version: str, *datasets: str) -> dict[str, Any]:
    return {
        "type": "model.trained",
        "payload": {
            "model": "credit",
            "version": version,
            "datasets": list(datasets),
            "params": {},
            "metrics": {"auc": 0.8},
            "artifact_sha256": "ef" * 32,
        },
    }


def deploy(action: str, version: str, environment: str) -> dict[str, Any]:
    return {
        "type": f"model.{action}",
        "payload": {"model": "credit", "version": version, "environment": environment},
    }


# raw (personal, consent) and health (special category) meet in "joined"; "features"
# is derived from raw twice over (through clean and through joined): a diamond.
PROVENANCE = [
    registered("raw", personal=True, purposes=["marketing"], lawful_basis="consent"),  # 0
    registered(
        "health",
        personal=True,
        purposes=["research"],
        lawful_basis="consent",
        special=["health_data"],
    ),  # 1
    derived("clean", "raw"),  # 2
    derived("joined", "raw", "health"),  # 3
    derived("features", "clean", "joined"),  # 4
    trained("1.0", "clean"),  # 5
    trained("2.0", "features", "ghost"),  # 6: ghost is never registered
    deploy("deployed", "1.0", "production"),  # 7
    deploy("deployed", "2.0", "staging"),  # 8
    deploy("retired", "1.0", "production"),  # 9
    deploy("deployed", "2.0", "production"),  # 10
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ledger for the whole module: every test here only reads it."""
    directory = tmp_path_factory.mktemp("lineage")
    done = auditml("init", "--origin", "bank.example/credit", cwd=directory)
    assert done.returncode == 0, done.stderr
    lines = [
        json.dumps({**event, "system": SYSTEM, "occurred_at": f"2026-02-{seq + 1:02d}T09:00:00Z"})
        for seq, event in enumerate(PROVENANCE)
    ]
    (directory / "events.jsonl").write_text("\n".join(lines) + "\n")
    imported = auditml("import", "events.jsonl", cwd=directory)
    assert imported.returncode == 0, imported.stderr
    return directory


def test_model_upstream_tree_shows_facts_and_the_unregistered_gap(project: Path) -> None:
    done = auditml("lineage", "credit@2.0", cwd=project)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("credit@2.0  deployed in production, staging")
    out = done.stdout
    assert "production: DEPLOYED since 2026-02-11 09:00 (seq 10)" in out
    assert "features  derived from clean, joined (seq 4): build features" in out
    assert (
        'health  registered (seq 1) "Health"  personal data  special categories: health_data  '
        "lawful basis: consent  purposes: research"
    ) in out
    assert "raw (shown above)" in out  # the diamond: raw is reached twice
    assert "ghost  WARNING: never registered nor derived" in out
    assert "WARNING: 1 dataset(s) used but never registered: ghost." in out
    assert "6 dataset(s) upstream; personal data: yes; special categories: health_data" in out
    assert done.stderr == ""


def test_model_upstream_json(project: Path) -> None:
    done = auditml("lineage", "credit@2.0", "--json", "--system", SYSTEM, cwd=project)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    as_reference = auditml("lineage", "model:credit@2.0", "--json", "--system", SYSTEM, cwd=project)
    assert json.loads(as_reference.stdout) == result
    assert [(d["dataset_id"], d["provenance"], d["depth"]) for d in result["datasets"]] == [
        ("features", "derived", 1),
        ("ghost", "unregistered", 1),
        ("clean", "derived", 2),
        ("joined", "derived", 2),
        ("health", "registered", 3),
        ("raw", "registered", 3),
    ]
    health = result["datasets"][-2]
    assert health["via"] == "joined"
    assert health["registration"]["special_categories"] == ["health_data"]
    assert health["registration"]["lawful_basis"] == "consent"
    assert result["unregistered"] == ["ghost"]
    assert [t["seq"] for t in result["trainings"]] == [6]
    assert {d["environment"]: d["currently_deployed"] for d in result["deployments"]} == {
        "production": True,
        "staging": True,
    }


def test_dataset_impact_tree_and_json(project: Path) -> None:
    done = auditml("lineage", "--dataset", "raw", cwd=project)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.splitlines()[0].startswith('raw  registered (seq 0) "Raw"  personal data')
    assert "derived clean" in out and "derived joined" in out
    assert "derived features (shown above)" in out
    assert "model credit@1.0  not deployed now" in out
    assert "production: retired 2026-02-10 09:00 (seq 9)" in out
    assert "model credit@2.0  deployed in production, staging" in out
    assert (
        "3 derived dataset(s); 2 model version(s) trained on this data, 1 of them deployed now"
        in out
    )
    result = json.loads(auditml("lineage", "--dataset", "raw", "--json", cwd=project).stdout)
    as_reference = auditml("lineage", "--dataset", "dataset:raw", "--json", cwd=project)
    assert json.loads(as_reference.stdout) == result
    assert [(d["dataset_id"], d["depth"]) for d in result["derived"]] == [
        ("clean", 1),
        ("joined", 1),
        ("features", 2),
    ]
    assert [
        (m["version"], m["trained_on"], m["currently_deployed_in"]) for m in result["models"]
    ] == [("1.0", ["clean"], []), ("2.0", ["features"], ["production", "staging"])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["credit"], "'credit' is not MODEL@VERSION; name a model version like credit@3.2"),
        ([], "give exactly one of MODEL@VERSION, --dataset, --subject-token"),
        (["credit@2.0", "--dataset", "raw"], "give exactly one of"),
        (["credit@3.0"], "trained versions of credit: 1.0, 2.0"),
        (["--dataset", "rwa"], "no event registers, derives or uses dataset 'rwa'"),
        (["--dataset", "raw", "--system", "other"], "drop --system to search all"),
        (
            ["--subject-token", "tok-nobody"],
            "no consent, decision or erasure event is about subject token 'tok-nobody'",
        ),
    ],
)
def test_bad_questions_exit_2_with_advice(project: Path, args: list[str], message: str) -> None:
    done = auditml("lineage", *args, cwd=project)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_no_ledger_here_is_a_configuration_error(tmp_path: Path) -> None:
    done = auditml("lineage", "credit@1.0", cwd=tmp_path)
    assert done.returncode == 2 and "run `auditml init`" in done.stderr


# -- subject questions, in-process over envelope dicts -----------------------------------------


class DictLedger:
    """Stands in for `Ledger` where `lineage` reads: len() and events(type=, system=).

    The dicts become `Envelope`s as `Ledger.events` yields them.
    """

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    def __enter__(self) -> DictLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __len__(self) -> int:
        return len(self._events)

    def events(self, *, type: str, system: str | None) -> Iterator[Envelope]:
        for event in self._events:
            if event["type"] == type and system in (None, event["system"]):
                yield Envelope.from_json(
                    {
                        "v": 1,
                        "recorded_at": event["occurred_at"],
                        "actor": {"id": "credit-api", "kind": "service"},
                        "prev": "0" * 64,
                        **event,
                    }
                )


def with_subjects() -> list[dict[str, Any]]:
    subject_events: list[tuple[str, dict[str, Any], str]] = [
        ("consent.granted", {"purpose": "marketing", "explicit": True}, "tok-ana"),
        ("consent.granted", {"purpose": "research", "explicit": False}, "tok-ana"),
        ("consent.withdrawn", {"purpose": "marketing"}, "tok-ana"),
        *[
            (
                "decision.made",
                {
                    "model": "credit",
                    "version": version,
                    "purpose": "creditworthiness",
                    "lawful_basis": "contract",
                    "input_sha256": "12" * 32,
                    "output": {"score": 0.5},
                    "solely_automated": False,
                    "legal_effect": True,
                },
                "tok-ana",
            )
            for version in ("1.0", "2.0", "2.0")
        ],
        ("erasure.completed", {"method": "crypto-shred"}, "tok-ana"),
    ]
    items = [(e["type"], e["payload"], None) for e in PROVENANCE] + subject_events
    return [
        {
            "seq": seq,
            "id": f"ev-{seq}",
            "type": event_type,
            "system": SYSTEM,
            "occurred_at": f"2026-02-{seq + 1:02d}T09:00:00.000000Z",
            "payload": payload,
            **({"subject": subject} if subject else {}),
        }
        for seq, (event_type, payload, subject) in enumerate(items)
    ]


@pytest.fixture
def run_in_process(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(OPTIONS, "open_ledger", lambda: DictLedger(with_subjects()))
    # A wide console keeps each tree line on one line (rich writes to the runner's stdout).
    monkeypatch.setattr(lineage_cli, "console", Console(width=250))
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Only here so that `lineage` is a subcommand, as under `auditml`."""

    lineage_cli.register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["lineage", *args], catch_exceptions=False)


def test_subject_tree_for_an_erased_subject_who_withdrew_consent(run_in_process: Any) -> None:
    done = run_in_process("--subject-token", "tok-ana")
    assert done.exit_code == 0, done.output
    out = done.output
    assert out.splitlines()[0] == "subject tok-ana  ERASED 2026-02-18 09:00 (seq 17)"
    assert (
        "marketing: WITHDRAWN 2026-02-14 09:00 (seq 13); granted 2026-02-12 09:00 (seq 11, explicit)"
        in out
    )
    assert "research: granted 2026-02-13 09:00 (seq 12, not explicit)" in out
    assert "(inferred by purpose match: no event links a subject to a dataset)" in out
    assert "matches consent for: marketing" in out and "matches consent for: research" in out
    assert "model credit@2.0  deployed in production, staging" in out
    assert "credit@2.0: 2 decision(s), first 2026-02-16 09:00 (seq 15)" in out
    assert "credit@1.0: 1 decision(s)" in out


def test_subject_json(run_in_process: Any) -> None:
    done = run_in_process("--subject-token", "tok-ana", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["basis"] == "purpose-match" and result["erased"] is True
    assert result["erasure"]["seq"] == 17
    assert [(c["purpose"], c["status"]) for c in result["consents"]] == [
        ("marketing", "withdrawn"),
        ("research", "granted"),
    ]
    assert [m["dataset_id"] for m in result["matched_datasets"]] == ["health", "raw"]
    assert [d["dataset_id"] for d in result["derived"]] == ["clean", "joined", "features"]
    assert [(m["version"], m["trained_on"]) for m in result["models"]] == [
        ("1.0", ["clean"]),
        ("2.0", ["features"]),
    ]
    assert [(d["version"], d["count"]) for d in result["decisions"]] == [("1.0", 1), ("2.0", 2)]
