"""Event data is printed as it is: never read as Rich markup or emoji, never sent to the
terminal as control characters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AUDITML = [sys.executable, "-c", "from auditml.cli.main import run; run()"]


def auditml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITML, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400", "HOME": str(cwd)},
    )


def test_log_and_check_print_markup_in_event_data_literally(tmp_path: Path) -> None:
    assert auditml("init", "--origin", "bank.example/credit", cwd=tmp_path).returncode == 0
    system = {"name": "default", "role": "provider", "risk_class": "high", "purposes": ["x"]}
    system["public_authority"] = False  # so that the deployment rules apply
    registered = auditml(
        "record", "system.registered", "--payload", json.dumps(system), cwd=tmp_path
    )
    assert registered.returncode == 0, registered.stderr
    # Values are cut at 20 characters in the listing: one hostile string per field.
    deployed = {
        "model": "[link=https://x.example]m[/link]",
        "version": "[bold red]x[/]",
        "environment": "\x1b]0;pwned\x07",
    }
    recorded = auditml(
        "record", "model.deployed", "--payload", json.dumps(deployed), "--actor-id", "[/]",
        "--id", "run:smile:1", cwd=tmp_path,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    listed = auditml("log", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr  # `[/]` as actor id crashed the listing
    row = next(line for line in listed.stdout.splitlines() if "model.deployed" in line)
    assert "│ [/] " in row and "version=[bold red]x[/]" in row  # shown, not styled
    assert "model=[link=https://x.e..." in row
    assert "\x1b" not in listed.stdout and "environment=\\x1b]0;pwned\\x07" in row
    checked = auditml("check", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr  # failing findings, quoting the event
    flat = " ".join(checked.stdout.split())
    assert "[link=https://x.example]m[/link] [bold red]x[/] was deployed to" in flat, flat
    assert "\x1b" not in checked.stdout
    assert "Traceback" not in checked.stderr
    ids = auditml("prove", "run:smile:1", "--output", "e.json", cwd=tmp_path)
    assert ids.returncode == 0, ids.stderr
    assert "\N{SMILING FACE WITH OPEN MOUTH}" not in listed.stdout + checked.stdout + ids.stdout
