"""Rule files that hung or crashed auditml (issue 12, item 4), run as a user runs them.

Rule files are written by people, not by us. Each file here once made `auditml policy
lint`, `policy test` or `check` hang (YAML alias expansion, a comprehension over 10**8
elements), die (SIGSEGV on a chain of `+`), print a traceback (a NUL byte, deep
nesting) or pass lint while it could never work (a megabyte of CEL, 100,000 `!`, a
condition that is not true or false). Now each is refused with an error naming the file
(exit 2; `policy test` reports the rule's tests as errors, exit 1), quickly: every command
runs in a subprocess with a timeout, and must finish well within it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
FIXTURES = SHIPPED / "fixtures" / "gdpr-6-1-dataset-lawful-basis"

# The real entry point, with `check` registered here unless auditml.cli.main already does.
RUN = (
    "from auditml.cli import main, check\n"
    "if not any(c.name == 'check' for c in main.app.registered_commands):\n"
    "    check.register(main.app)\n"
    "main.run()"
)
#: The subprocess is killed after TIMEOUT seconds; a refusal must come within WITHIN (a
#: start of the CLI takes a few seconds on a busy machine; the bugs ran for hours).
TIMEOUT = 180
WITHIN = 60

RULE = """\
id: r
title: Datasets with personal data name their lawful basis
severity: high
references:
  - {law: GDPR, article: "6"}
description: d
remediation: r
check:
  kind: fields_present
  trigger: dataset.registered
  when: WHEN
  fields: [payload.lawful_basis]
tests:
  - {name: names it, fixture: r/pass.jsonl, expect: pass}
  - {name: does not, fixture: r/fail.jsonl, expect: fail}
"""
GOOD_WHEN = "trigger.payload.contains_personal_data"

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    + ["id: *a9", ""]
)
TEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"


def nested_maps(depth: int) -> str:
    body = "true"
    for name in "abcdefgh"[:depth]:
        body = f"{TEN}.map({name}, {body})"
    return f"{body}.size() == 10 && {GOOD_WHEN}"


def auditml(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITML_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**env, "COLUMNS": "200"},
    )
    return done, time.monotonic() - started


def policies(root: Path, *, when: str = GOOD_WHEN, extra: dict[str, str] | None = None) -> Path:
    """A policies folder with one rule (its `when` as given), its fixtures and `extra` files."""
    root.mkdir(parents=True)
    shutil.copy(SHIPPED / "regimes.yaml", root / "regimes.yaml")
    (root / "gdpr").mkdir()
    text = RULE.replace("when: WHEN", "when: " + _quoted(when))
    (root / "gdpr" / "r.yaml").write_text(text, encoding="utf-8")
    (root / "fixtures" / "r").mkdir(parents=True)
    for name in ("pass.jsonl", "fail.jsonl"):
        shutil.copy(FIXTURES / name, root / "fixtures" / "r" / name)
    for name, content in (extra or {}).items():
        (root / name).write_text(content, encoding="utf-8")
    return root


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger holding the rule's fixture events, for `auditml check`."""
    where = tmp_path_factory.mktemp("project")
    done, _ = auditml(
        "--url", f"sqlite:///{where / 'ledger.db'}", "init", "--origin", "t.example/x", cwd=where
    )
    assert done.returncode == 0, done.stderr
    (where / "events.jsonl").write_text((FIXTURES / "pass.jsonl").read_text())
    done, _ = auditml("import", "events.jsonl", cwd=where)
    assert done.returncode == 0, done.stderr
    return where


def refused(done: subprocess.CompletedProcess[str], seconds: float, *needles: str) -> str:
    """The error output of a refusal: exit 2, no traceback, in time, naming `needles`."""
    assert seconds < WITHIN, f"took {seconds:.0f} s"
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr[-2000:])
    return done.stderr


def test_the_minimal_rule_set_itself_is_fine(tmp_path: Path, project: Path) -> None:
    root = policies(tmp_path / "policies")
    done, _ = auditml("policy", "lint", "--policies", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done, _ = auditml("policy", "test", "--policies", str(root), cwd=tmp_path)
    assert done.returncode == 0 and "2 passed, 0 failed" in done.stdout, done.stdout
    done, _ = auditml("check", "--policies", str(root), cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------- #
# YAML                                                                         #
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("command", [["policy", "lint"], ["policy", "test"], ["check"]])
def test_billion_laughs_is_refused_not_expanded(
    tmp_path: Path, project: Path, command: list[str]
) -> None:
    # Hung all three commands before (9**10 nodes from ten lines).
    root = policies(tmp_path / "policies", extra={"gdpr/laughs.yaml": BILLION_LAUGHS})
    done, seconds = auditml(*command, "--policies", str(root), cwd=project)
    refused(done, seconds, "laughs.yaml:1: YAML anchors and aliases", "are not allowed")


@pytest.mark.parametrize("command", [["policy", "lint"], ["policy", "test"]])
def test_nul_byte_deep_nesting_and_odd_values_are_clear_errors_not_tracebacks(
    tmp_path: Path, command: list[str]
) -> None:
    # Both gave a traceback and exit 1 before (ReaderError, RecursionError).
    root = policies(
        tmp_path / "policies",
        extra={
            "gdpr/nul.yaml": "id: x\ntitle: a\x00b\n",
            "gdpr/deep.yaml": "x: " + "[" * 10_000 + "]" * 10_000 + "\n",
            # ValueError tracebacks from PyYAML's int() and datetime() too.
            "gdpr/digits.yaml": "id: " + "9" * 5000 + "\n",
            "gdpr/month.yaml": "id: x\nwhen: 2026-13-01T00:00:00Z\n",
        },
    )
    done, seconds = auditml(*command, "--policies", str(root), cwd=tmp_path)
    refused(
        done,
        seconds,
        "4 problems in the policies under",
        "nul.yaml:2: a NUL byte is not allowed in YAML",
        "deep.yaml:1: nested more than 32 levels deep",
        "digits.yaml:1: cannot read '99999",
        "month.yaml:2: cannot read '2026-13-01T00:00:00Z' (month must be in 1..12)",
    )


LATE = """\
id: late
title: Evidence is recorded soon after it occurred
severity: low
references: [{law: internal, article: "1"}]
description: d
remediation: r
check: {kind: recorded_late, max_delay: P%sD}
"""


@pytest.mark.parametrize("command", [["policy", "lint"], ["policy", "test"], ["check"]])
def test_a_period_of_five_thousand_digits_is_refused_not_a_traceback(
    tmp_path: Path, project: Path, command: list[str]
) -> None:
    # `policy test` and `check` died with Python's ValueError (int max str digits).
    root = policies(tmp_path / "policies", extra={"internal.yaml": LATE % ("9" * 5000)})
    done, seconds = auditml(*command, "--policies", str(root), cwd=project)
    refused(done, seconds, "internal.yaml:7: check.max_delay: period", "more than 9 digits")


# --------------------------------------------------------------------------- #
# CEL                                                                          #
# --------------------------------------------------------------------------- #

HOSTILE_CONDITIONS = {
    # A map() over 10**8 elements: `policy test` ran for hours.
    "map": (nested_maps(8), "ranges over a value the condition computes or writes"),
    # 20,000 `+`: the cel package overflowed its stack evaluating it (SIGSEGV).
    "plus": (
        " + ".join(['"a"'] * 20_000) + f' != "" && {GOOD_WHEN}',
        "is 120,045 characters long; a condition may have at most 4,096",
    ),
    # A megabyte of CEL and 100,000 `!` linted as OK.
    "megabyte": (GOOD_WHEN + " && true" * 124_995, "is 999,998 characters long"),
    "negations": ("!" * 100_000 + GOOD_WHEN, "characters long"),
    # Short enough, too deep.
    "deep": ("!" * 40 + GOOD_WHEN, "nests more than 32 levels deep"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONDITIONS))
def test_costly_conditions_are_refused_by_lint_and_check(
    tmp_path: Path, project: Path, case: str
) -> None:
    when, reason = HOSTILE_CONDITIONS[case]
    root = policies(tmp_path / "policies", when=when)
    done, seconds = auditml("policy", "lint", "--policies", str(root), cwd=tmp_path)
    refused(done, seconds, "r.yaml:11: check.when: CEL expression", "is refused: ", reason)
    done, seconds = auditml("check", "--policies", str(root), cwd=project)
    refused(done, seconds, "r.yaml:r check.when: CEL expression", reason)


@pytest.mark.parametrize("case", ["map", "plus"])
def test_policy_test_reports_a_costly_condition_as_an_error_without_running_it(
    tmp_path: Path, case: str
) -> None:
    when, reason = HOSTILE_CONDITIONS[case]
    root = policies(tmp_path / "policies", when=when)
    done, seconds = auditml("policy", "test", "--policies", str(root), cwd=tmp_path)
    assert seconds < WITHIN and done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "0 passed, 2 failed" in done.stdout
    assert reason in " ".join(done.stdout.split())


def test_a_condition_that_is_not_true_or_false_fails_lint_and_stops_check(
    tmp_path: Path, project: Path
) -> None:
    # Linted as OK before. By the vocabulary, payload.name is text.
    root = policies(tmp_path / "typed", when="trigger.payload.name")
    done, seconds = auditml("policy", "lint", "--policies", str(root), cwd=tmp_path)
    refused(
        done,
        seconds,
        "r.yaml:11: check.when: CEL expression 'trigger.payload.name' gives a string, never "
        "true or false",
    )
    # `check` evaluates it: the first event stops the evaluation with the rule's name.
    done, seconds = auditml("check", "--policies", str(root), cwd=project)
    refused(done, seconds, "r.yaml:r check.when: condition 'trigger.payload.name' gave str")
    # A value the syntax cannot type is tried on the rule's own fixture events.
    when = "trigger.payload.contains_personal_data ? [trigger.payload.name][0] : false"
    root = policies(tmp_path / "sampled", when=when)
    done, seconds = auditml("policy", "lint", "--policies", str(root), cwd=tmp_path)
    refused(
        done,
        seconds,
        "r.yaml:11: check.when: condition",
        "gave str 'Loan applications 2025', not true or false",
        "(evaluated with trigger = event 1 of fixtures/r/pass.jsonl)",
    )
