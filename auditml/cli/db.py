"""`auditml db`: the ledger database's schema revision, and upgrading it."""

from __future__ import annotations

from typing import Annotated

import typer

from auditml.cli.metavars import Typer
from auditml.cli.output import console, print_json
from auditml.cli.state import OPTIONS
from auditml.config import load_settings
from auditml.errors import ConfigError, NotFinalError
from auditml.ledger import roles, schema
from auditml.ledger.store import Store

app = Typer(
    help="The ledger database: schema status and upgrade, scrubbing, least-privilege grants.",
    no_args_is_help=True,
)


def _store() -> Store:
    return Store.connect(load_settings(url=OPTIONS.url, key_dir=OPTIONS.home).url)


@app.command()
def status(
    json_out: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Print the schema revision of the ledger database and the one this auditml needs."""
    store = _store()
    try:
        with store.read() as conn:
            found = schema.revision(conn)
    finally:
        store.close()
    next_step: str | None = None
    if found is None:
        next_step = "auditml init"
    elif found != schema.HEAD:
        next_step = "auditml db upgrade"
    if json_out:
        print_json({"revision": found, "head": schema.HEAD, "next_step": next_step})
        return
    state = "no ledger" if found is None else f"revision {found}"
    verdict = "up to date" if next_step is None else f"run `{next_step}`"
    console.print(f"{state}; this auditml uses revision {schema.HEAD}: {verdict}", highlight=False)


@app.command()
def upgrade() -> None:
    """Run the migrations the ledger database lacks, in one transaction (all or none).

    Back up the database first. Safe to run again: an up-to-date ledger is left as it is.
    """
    store = _store()
    try:
        before, after = store.upgrade_schema()
    finally:
        store.close()
    if before == after:
        console.print(f"already at revision {after}; nothing to do", highlight=False)
    else:
        console.print(f"upgraded the ledger schema from revision {before} to {after}")


@app.command()
def scrub(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for connections reading an older snapshot.")
    ] = 30.0,
) -> None:
    """Make erasures and purges final on disk: clear deleted keys from SQLite's WAL.

    `erase` and `purge` do this themselves; run it when they said a long read (a report,
    verify --deep, an export) kept it from completing. Exit 1 if one still does.
    """
    store = _store()
    try:
        if store.dialect != "sqlite":
            raise ConfigError(
                "on PostgreSQL, deleted keys leave the table files when the tables' owner runs "
                "VACUUM FULL subjects, class_keys, and leave the WAL, replicas and backups as "
                "those expire: see docs/OPERATIONS.md section 9"
            )
        final = store.scrub(wait)
        wal = f"{store.engine.url.database}-wal"
    finally:
        store.close()
    if not final:
        raise NotFinalError(
            f"a connection kept reading an older snapshot for {wait:g} s, so {wal} still "
            "holds old copies of deleted keys; run this again once it has finished"
        )
    console.print(
        f"scrubbed: {wal} is checkpointed and empty: deleted keys are gone from the database files"
    )


@app.command()
def grants(
    writer: Annotated[str, typer.Option(help="The role pipelines record as (must exist).")] = (
        "auditml_writer"
    ),
    reader: Annotated[str, typer.Option(help="The role auditors and reports read as.")] = (
        "auditml_reader"
    ),
) -> None:
    """Print the GRANT statements of least-privilege roles for a PostgreSQL ledger.

    Review them and run them as the tables' owner (e.g. `| psql`); nothing is executed here.
    """
    store = _store()
    try:
        if store.dialect != "postgresql":
            raise ConfigError("roles apply to PostgreSQL ledgers; SQLite has no users")
        with store.read() as conn:
            current = str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
    finally:
        store.close()
    for statement in roles.grants(current, writer=writer, reader=reader):
        print(f"{statement};")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="db")
