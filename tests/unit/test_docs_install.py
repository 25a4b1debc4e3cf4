"""The docs never send anyone to a package that is not ours (issue 12, item 2).

`auditml` on PyPI is an unrelated project; ours is distributed as `auditml-ledger`.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from importlib.metadata import version
from pathlib import Path

import auditml

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "auditml-ledger"
#: Third-party tools the docs name for readers to install, each a project we checked is
#: the one meant (the PyPI page links to its upstream repository).
THIRD_PARTY = {"scikit-learn", "pyhanko-cli", "rfc8785"}
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "examples").glob("*.py")),
]


def installed_names(line: str) -> list[str]:
    """The requirement arguments of one `pip install ...` command (flags and paths dropped)."""
    command = line.split("pip install", 1)[1].split("#", 1)[0]
    command = re.split(r"&&|;|\||`|\)", command, maxsplit=1)[0]
    names = []
    for word in shlex.split(command):
        if word.startswith("-") or word.startswith((".", "/")) or word.endswith(".whl"):
            continue
        if re.match(r"^[.\w-]+\.whl\[", word) or word.startswith("'."):
            continue
        names.append(re.split(r"[\[<>=~!@ ]", word, maxsplit=1)[0].lower())
    return names


def test_the_distribution_is_auditml_ledger_and_the_package_auditml() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    assert project["scripts"] == {"auditml": "auditml.cli.main:run"}
    assert version(DISTRIBUTION) == auditml.__version__ == project["version"]


def test_no_doc_installs_a_package_that_is_not_ours() -> None:
    seen: list[str] = []
    for document in DOCUMENTS:
        for number, line in enumerate(document.read_text().splitlines(), 1):
            if "pip install" not in line:
                continue
            for name in installed_names(line):
                where = f"{document.relative_to(ROOT)}:{number}"
                assert name == DISTRIBUTION or name in THIRD_PARTY, f"{where} installs {name!r}"
                seen.append(name)
    assert "scikit-learn" in seen  # the scan reads the docs it should


def test_the_scan_catches_the_old_instruction() -> None:
    assert installed_names("pip install auditml") == ["auditml"]
    assert installed_names("pip install 'auditml[postgres]'  # x") == ["auditml"]
    assert installed_names("pip install ./auditml_ledger-0.1.0-py3-none-any.whl") == []
