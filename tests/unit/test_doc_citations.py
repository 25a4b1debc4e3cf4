"""Citations name documents a reader of this repository has: DESIGN.md and LAW.md are the
project's working notes, kept outside it, so code, help and docs cite docs/ instead."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\b(?:DESIGN|LAW)(?:\.md\b| \d)")
SOURCES = ("auditml", "docs", "policies", "report_templates", "tests", "examples", "bench")


def test_no_citation_of_a_document_outside_the_repository() -> None:
    files = [ROOT / "README.md"] + [
        path
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*")
        if path.suffix in {".py", ".md", ".yaml", ".html", ".toml"}
        # The ADRs record decisions taken against the design notes of their day.
        and "adr" not in path.relative_to(ROOT).parts
        and path != Path(__file__).resolve()
    ]
    cited = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not cited, "\n".join(cited)
