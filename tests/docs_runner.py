"""Run the code blocks of a Markdown document as a new user would (docs are code).

A document's fenced ```python and ```sh blocks run in order in one working directory: the
Python blocks as one script (they share variables, as the README promises), then the shell
blocks as one bash session (they share variables and the directory, as a reader's terminal
does), with the test's virtual environment first on PATH and HOME in the working directory. The document steers the run with HTML comments, which readers of the rendered page
do not see:

- `<!-- docs-test: skip REASON -->` right before a block: do not run it (say why).
- `<!-- docs-test: replace OLD => NEW -->` anywhere: in every block, OLD stands for NEW. NEW may
  name `{tmp}` (the working directory), `{pg_host}`, `{pg_port}` and `{suffix}` (unique per
  run, for names that are global on a PostgreSQL server).
- `<!-- docs-test: setup` ... `-->`: shell lines run first (what the document assumes exists).

`pip install` lines are dropped: the test environment has what the README's commands install,
and tests/unit/test_docs_install.py checks what they name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(\w+)\s*(.*?)\s*-->", re.S)
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, text and the line of its opening fence."""

    language: str
    text: str
    line: int
    skip: str | None


@dataclass(frozen=True)
class Document:
    path: Path
    blocks: list[Block]
    replacements: list[tuple[str, str]]
    setup: str


def parse(path: Path) -> Document:
    """The blocks and directives of a Markdown file."""
    text = path.read_text()
    lines = text.splitlines()
    replacements: list[tuple[str, str]] = []
    setup = []
    for kind, body in DIRECTIVE.findall(text):
        if kind == "replace":
            old, new = body.split(" => ", 1)
            replacements.append((old.strip(), new.strip()))
        elif kind == "setup":
            setup.append(body)
        elif kind != "skip":
            raise ValueError(f"{path}: unknown docs-test directive {kind!r}")
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if not opened or not opened.group(1):
            index += 1
            continue
        start, body = index, []
        index += 1
        while not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        before = next((line for line in reversed(lines[:start]) if line.strip()), "")
        skipped = DIRECTIVE.fullmatch(before.strip())
        skip = skipped.group(2) if skipped and skipped.group(1) == "skip" else None
        blocks.append(Block(opened.group(1), "\n".join(body) + "\n", start + 1, skip))
        index += 1
    return Document(path, blocks, replacements, "\n".join(setup))


@dataclass(frozen=True)
class Run:
    """What running one piece of a document printed."""

    where: str
    code: str
    output: str


def run_document(
    path: Path, workdir: Path, *, pg_host: str = "", pg_port: str = "", timeout: float = 600
) -> list[Run]:
    """Run every block of the document that is not skipped; raise on the first failure."""
    document = parse(path)
    values = {"tmp": str(workdir), "pg_host": pg_host, "pg_port": pg_port}
    values["suffix"] = uuid.uuid4().hex[:8]

    def concrete(code: str) -> str:
        for old, new in document.replacements:
            code = code.replace(old, new.format(**values))
        return "\n".join(
            line for line in code.splitlines() if not line.lstrip().startswith("pip install")
        )

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AUDITML_") and not key.startswith("PG")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(workdir)
    env["COLUMNS"] = "120"
    runs: list[Run] = []
    name = path.relative_to(ROOT)

    def run(where: str, argv: list[str], code: str) -> None:
        done = subprocess.run(
            argv,
            input=code,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        output = done.stdout
        if done.returncode != 0:
            raise AssertionError(
                f"{where} exited {done.returncode}\n--- code ---\n{code}\n--- output ---\n{output}"
            )
        runs.append(Run(where, code, output))

    if document.setup:
        run(f"{name} (setup)", ["bash", "-euo", "pipefail"], concrete(document.setup))
    script = [
        f"# {name}:{block.line}\n{concrete(block.text)}"
        for block in document.blocks
        if block.language == "python" and block.skip is None
    ]
    if script:
        run(f"{name} (the Python blocks)", [sys.executable, "-"], "\n".join(script))
    # Each block announces itself on stderr, so a failure shows which block it was in.
    shell = [
        f"echo '### {name}:{block.line}' >&2\n{concrete(block.text)}"
        for block in document.blocks
        if block.language == "sh" and block.skip is None
    ]
    if shell:
        run(f"{name} (the shell blocks)", ["bash", "-euo", "pipefail"], "\n".join(shell))
    return runs
