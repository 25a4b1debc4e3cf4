"""A real PostgreSQL server for the tests, and a fresh schema per test.

Which server: AUDITML_TEST_POSTGRES_URL when set (`.ci/run` sets it to the machine's
server); otherwise a throwaway cluster from the local binaries (initdb and pg_ctl in a
temporary directory, on a free port), started once per test process. With neither, the
PostgreSQL tests skip with the reason, unless AUDITML_REQUIRE_POSTGRES=1 (CI), where they
fail instead.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ENV_URL = "AUDITML_TEST_POSTGRES_URL"
ENV_REQUIRE = "AUDITML_REQUIRE_POSTGRES"

_server: str | None = None
_problem: str | None = None


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _throwaway_cluster() -> str:
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError(f"{ENV_URL} is not set and no initdb/pg_ctl was found")
    root = Path(tempfile.mkdtemp(prefix="auditml-pg-"))
    data, port = root / "data", _free_port()
    # initdb refuses to run as root; the server then runs as the postgres user.
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    quiet = {"check": True, "capture_output": True, "timeout": 120}
    subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], **quiet)
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -k {root} -c fsync=on"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        **quiet,
    )

    def stop() -> None:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def server_url() -> str:
    """The SQLAlchemy URL of a database on a running server; skips or fails without one."""
    global _server, _problem
    if _server is None and _problem is None:
        try:
            _server = os.environ.get(ENV_URL) or _throwaway_cluster()
            with psycopg.connect(libpq(_server), connect_timeout=10):
                pass
        except (RuntimeError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
            detail = getattr(exc, "stderr", None) or exc
            _problem = f"no PostgreSQL server for the tests: {detail!s}"[:500]
            _server = None
    if _server is None:
        assert _problem is not None
        if os.environ.get(ENV_REQUIRE) == "1":
            pytest.fail(_problem)
        pytest.skip(_problem)
    return _server


def libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string (for psycopg.connect)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new empty schema on the server; the URL of it, dropped afterwards.

    A schema rather than a database: creating one costs a millisecond, not a checkpoint.
    """
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq(url), autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={name}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(libpq(url), autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")
