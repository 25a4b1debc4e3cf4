"""Docs are code: the README tour and the commands of docs/ run as a reader would run them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
from docs_runner import ROOT, parse, run_document
from pg_server import server_url
from sqlalchemy.engine import make_url

from auditml.cli.main import app


def test_the_readme_tour_runs(tmp_path: Path) -> None:
    runs = run_document(ROOT / "README.md", tmp_path)
    python = runs[0].output
    assert "Receipt(seq=" in python and "sub_" in python and "c-1042" not in python
    shell = " ".join("".join(run.output for run in runs[1:]).split())
    assert "valid: 1 event(s) included in bank.example/credit-ledger" in shell
    assert "cosigned by dpo.example/witness (quorum: 1 of 1" in shell
    assert "11 files match MANIFEST" in shell and "restored bank.example/credit-ledger" in shell


def test_every_block_runs_or_says_why_not() -> None:
    for name in ("README.md", "docs/VERIFYING.md", "docs/OPERATIONS.md"):
        for block in parse(ROOT / name).blocks:
            assert block.language in {"python", "sh", "text"}, f"{name}:{block.line}: a language"
            assert block.skip is None or block.skip.strip(), f"{name}:{block.line}: say why"


def test_the_operations_guide_runs_on_postgresql(tmp_path: Path) -> None:
    server = make_url(server_url())
    runs = run_document(
        ROOT / "docs/OPERATIONS.md",
        tmp_path,
        pg_host=str(server.host),
        pg_port=str(server.port),
    )
    output = "".join(run.output for run in runs)
    assert "permission denied" not in output


def commands_in_prose(text: str) -> list[str]:
    """Every inline `auditml ...` span of a Markdown text (tables included)."""
    return [span.replace("\\|", "|") for span in re.findall(r"`(auditml [^`]*)`", text)]


def check_command(span: str) -> str | None:
    """What is wrong with a command as the prose writes it, or None. Placeholders, `[...]`
    optional parts and `a|b` alternatives are read as a person reads them."""
    if "|" in span.split("[", 1)[0]:
        return None  # a list of subcommands (`policy list|show ID|...`)
    words = shlex.split(re.sub(r"\[[^\]]*\]", " ", span))[1:]
    command: Any = typer.main.get_command(app)  # typer 0.29 vendors its own click
    used: list[str] = []
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            used.append(word.split("=", 1)[0])
        elif word in getattr(command, "commands", {}):
            if used and command.name == "auditml":
                used = []  # global options (--url, --home) come before the command
            command = command.commands[word]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    unknown = [option for option in used if option not in known and option != "--help"]
    if unknown:
        return f"`{span}`: {command.name} has no {', '.join(unknown)}"
    has_arguments = len(shlex.split(re.sub(r"\[[^\]]*\]", " ", span))) > 2
    missing = [
        param.opts[-1]
        for param in command.params
        if param.param_type_name == "option" and param.required and not set(param.opts) & set(used)
    ]
    if has_arguments and missing:
        return f"`{span}`: {command.name} requires {', '.join(missing)}"
    return None


def test_commands_written_in_the_prose_exist_with_their_options() -> None:
    problems = []
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for document in documents:
        for span in commands_in_prose(document.read_text()):
            problem = check_command(span)
            if problem:
                problems.append(f"{document.relative_to(ROOT)}: {problem}")
    assert not problems, "\n".join(problems)


def test_the_prose_check_catches_a_missing_required_option() -> None:
    assert check_command("auditml purge --before TIME --type decision.made") == (
        "`auditml purge --before TIME --type decision.made`: purge requires --reason"
    )
    assert "has no --bogus" in str(check_command("auditml verify --bogus"))
    assert check_command("auditml purge --before T --reason R [--type TYPE ...]") is None


def test_the_verifying_guide_runs_on_a_real_report(tmp_path: Path) -> None:
    """Every command a regulator is given, on a report made as the organisation makes one."""
    runs = run_document(ROOT / "docs/VERIFYING.md", tmp_path)
    output = "".join(run.output for run in runs)
    assert "Signature is Valid." in output and "Certificate is Trusted." in output
    assert "INTACT:TRUSTED" in output
    said = " ".join(output.split())
    assert "valid: report.pdf" in said and "under the CA you trust" in said
    assert "signed by the ledger key you gave" in said
    digests = re.findall(r"^([0-9a-f]{64})  ", output, re.M)
    assert len(digests) >= 4  # evidence.json, the ledger key, the CA, the signing certificate
