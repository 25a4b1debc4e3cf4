"""A report stopped part way leaves nothing behind (issue 13): `auditml report` killed with
SIGTERM used to leave its tmpXXXX work folder in the output folder.

The report's work lives in the system's temporary folder (TMPDIR here, to watch it), and
SIGTERM, SIGHUP and Ctrl-C stop the command by an exception, so that folder is removed too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import deployed

from auditml import Ledger
from auditml.config import write_config
from auditml.report.identity import create_signing_identity

#: The CLI as a shell runs it in the foreground: SIGINT and SIGHUP at their defaults,
#: whatever this test process does with them.
CLI = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "from auditml.cli.main import run; run()"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    keys = tmp_path / ".auditml"
    with Ledger.create(
        f"sqlite:///{tmp_path / 'auditml.db'}", origin="t.example/k", key_dir=keys
    ) as ledger:
        ledger.record("model.deployed", payload=deployed())
    create_signing_identity(keys, organisation="Example", name="Jane Doe", role="DPO", meaning="m")
    write_config(tmp_path / "auditml.toml", url="sqlite:///auditml.db", key_dir=".auditml")
    (tmp_path / "out").mkdir()
    (tmp_path / "tmp").mkdir()
    return tmp_path


def _stop_mid_report(project: Path, signum: int) -> int:
    """Start a report, send `signum` while it renders the PDF; return the exit status."""
    scratch = project / "tmp"
    report = subprocess.Popen(
        [sys.executable, "-c", CLI, "report", "-o", "out/report.pdf"],
        cwd=project,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    # The renderer's own work folder: the WeasyPrint child is starting or running.
    while not any(scratch.glob("auditml-render-*")):
        assert report.poll() is None and time.monotonic() < deadline, "rendering never began"
        time.sleep(0.01)
    time.sleep(0.2)
    report.send_signal(signum)
    return report.wait(timeout=120)


@pytest.mark.parametrize(
    "signum",
    [
        signal.SIGTERM,
        signal.SIGINT,
        pytest.param(signal.SIGHUP, marks=pytest.mark.slow),
    ],
)
def test_a_report_stopped_mid_run_leaves_nothing_in_the_output_folder(
    project: Path, signum: int
) -> None:
    status = _stop_mid_report(project, signum)
    assert status != 0, "the report finished before it was stopped"
    assert list((project / "out").iterdir()) == []
    assert list((project / "tmp").iterdir()) == []
    with Ledger.open(f"sqlite:///{project / 'auditml.db'}", key_dir=project / ".auditml") as ledger:
        assert [e.type for e in ledger.events()] == ["model.deployed"]  # no report.issued
