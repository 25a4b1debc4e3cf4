"""Storage: the only module that talks to the database (SQLAlchemy Core).

Tables (docs/FORMAT.md section 13): `events`, `tree_nodes`, `checkpoints`, `public_keys`,
`ledger_info`. All of them carry integrity and are append-only: triggers refuse
UPDATE and DELETE. Appends serialise on a database lock (SQLite `BEGIN IMMEDIATE`).

`tree_nodes` holds the hash of every complete perfect subtree whose level is a
positive multiple of NODE_STRIDE. Any other subtree is at most 2**(NODE_STRIDE-1)
stored hashes away, so a proof still costs O(log n) reads while the table holds
about n/15 rows instead of n (see docs/FORMAT.md, "Stored tree nodes").
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from auditml.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    StorageError,
    TransientStorageError,
)
from auditml.ledger import merkle, schema

NODE_STRIDE = 4
SeqInt = BigInteger().with_variant(Integer(), "sqlite")
#: The largest seq or size either database can store (a signed 64-bit integer).
SEQ_MAX = 2**63 - 1

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("seq", SeqInt, primary_key=True, autoincrement=False),
    Column("id", String(128), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("system", String(200), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("subject", String(128)),
    Column("body", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)
Index("ix_events_type", events.c.type)
Index("ix_events_subject", events.c.subject)
# Policy checks read the ledger in (occurred_at, seq) order: this index lets them stream it.
Index("ix_events_occurred", events.c.occurred_at, events.c.seq)
# Revision 0004: the events that sealed values under a class key (their body names an epoch),
# by type and time, so verify finds what a (type, month) sealed without reading every event.
# The queries repeat these predicates word for word: that is how SQLite picks the index.
SEALING = {
    "sqlite": "subject IS NOT NULL AND instr(body, X'2265706f6368223a22') > 0",
    "postgresql": (
        "subject IS NOT NULL AND position(decode('2265706f6368223a22', 'hex') in body) > 0"
    ),
}
Index(
    "ix_events_sealing",
    events.c.type,
    events.c.recorded_at,
    sqlite_where=text(SEALING["sqlite"]),
    postgresql_where=text(SEALING["postgresql"]),
)

tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", SeqInt, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", SeqInt, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

public_keys = Table(
    "public_keys",
    metadata,
    Column("key_id", String(8), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("vkey", Text, nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
)

ledger_info = Table(
    "ledger_info",
    metadata,
    Column("origin", String(200), primary_key=True),
    Column("format", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    # Revision 0004: restored from an export without subjects and class keys.
    Column("keys_withheld", Boolean, nullable=False, default=False),
)

# Witness cosignatures (revision 0002): each row holds the ledger-signed checkpoint note
# the witness checked and its C2SP cosignature line, so it verifies on its own.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("size", SeqInt, primary_key=True, autoincrement=False),
    Column("key_id", String(8), primary_key=True),
    Column("witness", String(200), nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False),
    Column("signature", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

# A mutable table, and it carries no integrity: deleting a row is how erasure
# works (the subject's token becomes unlinkable and its sealed fields unreadable).
subjects = Table(
    "subjects",
    metadata,
    Column("lookup", LargeBinary(32), primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("wrapped_key", LargeBinary(60), nullable=False),
    Column("created_at", String(32), nullable=False),
)

# Mutable too (revision 0003), and it carries no integrity either: one key per event type
# ("class") and month ("epoch") that every sealed value of that type recorded in that
# month is also sealed under. Deleting rows is how a retention purge works.
class_keys = Table(
    "class_keys",
    metadata,
    Column("class", String(64), primary_key=True),
    Column("epoch", String(7), primary_key=True),
    Column("wrapped_key", LargeBinary(60), nullable=False),
    Column("created_at", String(32), nullable=False),
)


def _as_bytes(value: Any) -> bytes:
    # SQL run by hand can turn a BLOB into TEXT; keep the bytes so checks fail cleanly.
    return value.encode() if isinstance(value, str) else bytes(value)


# PostgreSQL appends serialise on this transaction-scoped advisory lock, keyed by
# (auditml, the ledger's schema) so that ledgers in one database do not wait on each other.
_PG_LOCK = "SELECT pg_advisory_xact_lock(1635083369, hashtext(current_schema()))"
# SQLSTATEs after which a write can simply be tried again: serialisation failure,
# deadlock, and the connection exceptions (class 08) and admin shutdown (57P01).
_TRANSIENT_STATES = ("40001", "40P01", "57P01", "57P02", "57P03")


def _transient(exc: DBAPIError) -> bool:
    """Whether a failed write may be retried (it was rolled back or never reached the server)."""
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state.startswith("08") or state in _TRANSIENT_STATES


@dataclass(frozen=True)
class Head:
    """The end of the ledger: its size and what the next entry must chain to."""

    size: int
    last_leaf_hash: bytes | None
    last_recorded_at: str | None


@dataclass(frozen=True)
class CheckpointRow:
    size: int
    root: bytes
    note: str
    created_at: str


EVENT_COLUMNS = (
    events.c.seq,
    events.c.id,
    events.c.type,
    events.c.system,
    events.c.recorded_at,
    events.c.occurred_at,
    events.c.subject,
    events.c.body,
    events.c.leaf_hash,
)


_MMAP_SIZE = 1 << 30
# How long a SQLite connection waits for a lock another one holds.
_BUSY_SECONDS = 60


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling would defer BEGIN; take it over so that
    # writers take the lock up front (BEGIN IMMEDIATE) and readers see a snapshot.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        # Reads through a memory map instead of one read() system call per page.
        cursor.execute(f"PRAGMA mmap_size={_MMAP_SIZE}")
        # Large batches touch many index pages; keep them in memory (64 MiB).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted content is overwritten with zeros, so an erased subject's key and lookup
        # hash leave the pages (and, once `scrub` truncates the WAL, the files).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


#: The database URLs auditml opens (docs/OPERATIONS.md section 1), for messages.
URL_FORMS = "sqlite:///PATH (a file) or postgresql+psycopg://USER@HOST:PORT/DATABASE"


def _ledger_url(url: str) -> URL:
    """Parse a ledger database URL; raise ConfigError unless it is SQLite or PostgreSQL
    through psycopg 3 (the one driver auditml ships an extra for; `postgresql://` is
    taken to mean it)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"cannot use database URL {url!r}: {exc}; write {URL_FORMS}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    if backend == "postgresql" and driver in ("", "psycopg"):
        # postgresql:// means psycopg here whatever SQLAlchemy's default driver is.
        return parsed.set(drivername="postgresql+psycopg")
    if backend in ("postgres", "postgresql"):
        fixed = _shown(parsed.set(drivername="postgresql+psycopg"))
        raise ConfigError(
            f"database URL {_shown(parsed)}: auditml talks to PostgreSQL through psycopg 3; "
            f"write {fixed} (and install the postgres extra: pip install 'auditml[postgres]')"
        )
    raise ConfigError(
        f"database URL {_shown(parsed)}: auditml keeps ledgers in SQLite or PostgreSQL, not "
        f"{parsed.drivername}; write {URL_FORMS}"
    )


def _shown(url: URL) -> str:
    """A URL as messages show it: quoted, its password masked."""
    return repr(url.render_as_string(hide_password=True))


def _create_private_file(path: Path) -> Path | None:
    """Create an empty SQLite file with mode 0600 (SQLite would make it 0644); return it,
    or None if it exists already.

    The ledger holds wrapped subject keys and sealed personal data, so it is readable by
    its owner alone; SQLite gives its -wal and -shm files the database file's mode.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot create the ledger database {path}: {exc.strerror}") from exc
    return path


class Store:
    """A ledger's database. Open with `Store.connect(url)`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # What `connect` created, for `discard_created`: a new SQLite file, and the
        # folders made for it (innermost first).
        self._created_file: Path | None = None
        self._created_folders: list[Path] = []
        self.dialect = engine.dialect.name
        # Hot paths pass bound parameters straight to the driver; only the placeholder
        # style differs between drivers.
        self._ph = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_event_sql = (
            "INSERT INTO events (seq, id, type, system, recorded_at, occurred_at, subject, body, "
            f"leaf_hash) VALUES ({', '.join([self._ph] * 9)})"
        )
        self._insert_node_sql = (
            f"INSERT INTO tree_nodes (level, idx, hash) VALUES ({self._ph}, {self._ph}, {self._ph})"
        )

    @classmethod
    def connect(cls, url: str, *, must_exist: bool = True) -> Store:
        """Open the database at url.

        Without `must_exist`, a missing SQLite file (and its folders) is created; if the
        caller then refuses to go on, `discard_created` removes them again.

        Raises ConfigError if the URL is malformed or names a database auditml does not
        use (anything but SQLite and PostgreSQL through psycopg), if the PostgreSQL
        driver is not installed, or (must_exist) if the SQLite file is missing.
        """
        parsed = _ledger_url(url)
        created_file: Path | None = None
        missing: list[Path] = []
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database)
            if must_exist and not path.exists():
                raise ConfigError(
                    f"no ledger at {path}; run `auditml init` here, or set AUDITML_URL / --url"
                )
            missing = [folder for folder in path.parents if not folder.exists()]
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the folder of the ledger database {path}: {exc.strerror}"
                ) from exc
            created_file = _create_private_file(path)
        sqlite = parsed.get_backend_name() == "sqlite"
        try:
            engine = create_engine(
                parsed,
                connect_args={"timeout": _BUSY_SECONDS} if sqlite else {},
                # A server restart or a killed backend leaves dead connections in the
                # pool; test each before use rather than fail the next write on it.
                pool_pre_ping=not sqlite,
            )
        except ImportError as exc:
            raise ConfigError(
                f"the database URL {_shown(parsed)} needs the psycopg driver, which is not "
                f"installed ({exc}); install auditml's postgres extra: "
                "pip install 'auditml[postgres]'"
            ) from exc
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigError(f"cannot use database URL {_shown(parsed)}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine)
        store = cls(engine)
        store._created_file, store._created_folders = created_file, missing
        return store

    def discard_created(self) -> None:
        """Close the store and remove the SQLite file and folders `connect` created.

        For a caller that refused to go on (`init` in a key directory of another
        ledger, a restore that failed): nothing it made is left behind. Files and
        folders that existed before are never touched.
        """
        self.close()
        if self._created_file is not None:
            # The database and the journal files SQLite keeps beside it.
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self._created_file}{suffix}").unlink(missing_ok=True)
        for folder in self._created_folders:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break  # something else was put there meanwhile: leave it and its parents
        self._created_file, self._created_folders = None, []

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions -------------------------------------------------------

    @contextmanager
    def read(self, *, whole_file: bool = False) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot.

        `whole_file`: the caller reads most of the database once (a policy check). Through
        the memory map every page read would stay resident in this process, so SQLite's
        bounded page cache is used instead (set before the transaction: SQLite ignores
        the change inside one).
        """
        unmapped = whole_file and self.dialect == "sqlite"
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    # SQLite's read transactions are snapshots already.
                    conn = conn.execution_options(
                        isolation_level="REPEATABLE READ", postgresql_readonly=True
                    )
                # On the driver's connection: SQLAlchemy would begin a transaction first.
                dbapi = conn.connection.dbapi_connection
                if unmapped and dbapi is not None:
                    dbapi.execute("PRAGMA mmap_size=0")
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if unmapped and dbapi is not None:
                        dbapi.execute(f"PRAGMA mmap_size={_MMAP_SIZE}")
        except DBAPIError as exc:
            raise StorageError(f"cannot read the ledger database: {exc.orig}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the ledger's append lock; all or nothing.

        Raises TransientStorageError when the transaction was lost in a way that is safe
        to retry (connection lost, serialisation failure), StorageError otherwise.
        """
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql(_PG_LOCK)
                    yield conn
        except DBAPIError as exc:
            kind = TransientStorageError if _transient(exc) else StorageError
            raise kind(f"the ledger database refused the write: {exc.orig}") from exc

    def scrub(self, wait: float) -> bool:
        """Make rows deleted so far (erasures, purges) leave the database's files, as far as
        the database allows; return whether that is done.

        SQLite: secure_delete has zeroed them in their pages, but the pages as they were
        stay in the write-ahead log until it is checkpointed and truncated. This does both
        (`wal_checkpoint(TRUNCATE)`), waiting up to `wait` seconds for connections that
        read an older snapshot (idle ones do not hold it up); False if one still does.
        PostgreSQL: True, as nothing more is in a writer's power (the owner's VACUUM FULL,
        WAL recycling and backups: docs/OPERATIONS.md section 9).
        """
        if self.dialect != "sqlite":
            return True
        try:
            with self.engine.connect() as conn:
                # On the driver's connection: outside any transaction, as a checkpoint must be.
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                dbapi.execute(f"PRAGMA busy_timeout={round(wait * 1000)}")
                try:
                    busy, _, _ = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    dbapi.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
        except DBAPIError as exc:
            raise StorageError(f"cannot checkpoint the ledger database: {exc.orig}") from exc
        return not busy

    # -- schema -------------------------------------------------------------

    def create_schema(self, *, origin: str, created_at: str) -> None:
        """Create the schema (migrations to the newest revision) and name the ledger.

        Raises ConfigError if the database already holds a ledger.
        """
        with self.write() as conn:
            if self.engine.dialect.has_table(conn, "ledger_info"):
                existing = conn.execute(select(ledger_info.c.origin)).scalar()
                raise ConfigError(f"this database already holds the ledger {existing!r}")
            self.restore_schema(conn, origin=origin, ledger_format=1, created_at=created_at)

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Run the migrations this database lacks: (revision before, revision after)."""
        with self.write() as conn:
            if schema.revision(conn) is None:
                raise ConfigError(
                    f"{self.engine.url!r} holds no auditml ledger; run `auditml init` first"
                )
            return schema.upgrade(conn)

    def existing_origin(self) -> str | None:
        """The origin of the ledger this database holds, or None for an empty database."""
        with self.read() as conn:
            if not self.engine.dialect.has_table(conn, "ledger_info"):
                return None
            value = conn.execute(select(ledger_info.c.origin)).scalar()
        return None if value is None else str(value)

    def origin(self) -> str:
        """Return the ledger's origin.

        Raises ConfigError when the database has no ledger, or one whose schema revision
        is not the one this auditml uses.
        """
        where = repr(self.engine.url)  # SQLAlchemy masks a password in the URL's repr
        try:
            with self.read() as conn:
                schema.require_current(conn, where)
                value = conn.execute(select(ledger_info.c.origin)).scalar()
        except (StorageError, SQLAlchemyError) as exc:
            raise ConfigError(f"cannot open the ledger at {where}: {exc}") from exc
        if value is None:
            raise ConfigError(f"{where} holds no auditml ledger; run `auditml init` first")
        return str(value)

    @staticmethod
    def created_at(conn: Connection) -> str:
        return str(conn.execute(select(ledger_info.c.created_at)).scalar_one())

    # -- the head and appends (call inside write()) -------------------------

    @staticmethod
    def head(conn: Connection) -> Head:
        row = conn.execute(
            select(events.c.seq, events.c.leaf_hash, events.c.recorded_at)
            .order_by(events.c.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return Head(0, None, None)
        return Head(row.seq + 1, _as_bytes(row.leaf_hash), row.recorded_at)

    def insert_events(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert event rows: (seq, id, type, system, recorded_at, occurred_at, subject, body, leaf_hash)."""
        conn.exec_driver_sql(self._insert_event_sql, list(rows))

    def insert_nodes(self, conn: Connection, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Persist the completed subtrees whose level is stored (a multiple of NODE_STRIDE)."""
        stored = [node for node in nodes if node[0] % NODE_STRIDE == 0]
        if stored:
            conn.exec_driver_sql(self._insert_node_sql, stored)

    def bodies_by_id(
        self, conn: Connection, ids: Sequence[str]
    ) -> dict[str, tuple[int, bytes, bytes]]:
        """Return {id: (seq, body, leaf_hash)} for the ids that exist."""
        found: dict[str, tuple[int, bytes, bytes]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join([self._ph] * len(chunk))
            sql = f"SELECT id, seq, body, leaf_hash FROM events WHERE id IN ({marks})"
            for event_id, seq, body, leaf in conn.exec_driver_sql(sql, tuple(chunk)):
                found[event_id] = (seq, _as_bytes(body), _as_bytes(leaf))
        return found

    def subtree_hashes(self, conn: Connection, subtrees: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the hash of each complete perfect subtree (level, index), in order.

        Subtrees at a stored level are read directly; others are rebuilt from the
        stored level below them (at most 2**(NODE_STRIDE-1) hashes each).
        Raises IntegrityError if a needed hash is missing (a damaged or truncated ledger).
        """
        # Every request becomes a run of hashes at a stored level (0 = the leaves).
        plans = []
        wanted: dict[int, set[int]] = {}
        for level, index in subtrees:
            base = level - level % NODE_STRIDE
            span = 1 << (level - base)
            plans.append((base, index * span, span))
            wanted.setdefault(base, set()).update(range(index * span, (index + 1) * span))
        found: dict[tuple[int, int], bytes] = {}
        for base, indexes in wanted.items():
            ordered = sorted(indexes)
            for start in range(0, len(ordered), 500):
                chunk = ordered[start : start + 500]
                marks = ", ".join([self._ph] * len(chunk))
                if base == 0:
                    sql = f"SELECT seq, leaf_hash FROM events WHERE seq IN ({marks})"
                    params: tuple[Any, ...] = tuple(chunk)
                else:
                    sql = f"SELECT idx, hash FROM tree_nodes WHERE level = {self._ph} AND idx IN ({marks})"
                    params = (base, *chunk)
                for index, digest in conn.exec_driver_sql(sql, params):
                    found[(base, index)] = _as_bytes(digest)
        result = []
        for base, begin, span in plans:
            try:
                layer = [found[(base, i)] for i in range(begin, begin + span)]
            except KeyError as exc:
                raise IntegrityError(
                    f"tree hash {exc.args[0]} (level, index) is missing: the ledger is truncated "
                    "or damaged; run `auditml verify --deep`",
                    seq=exc.args[0][1] << exc.args[0][0],
                ) from exc
            while len(layer) > 1:
                layer = [
                    merkle.hash_children(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)
                ]
            result.append(layer[0])
        return result

    def _raw_pages(
        self, conn: Connection, sql: str, start: int, stop: int | None, page: int
    ) -> Iterator[tuple[Any, ...]]:
        # Straight from the driver's cursor in keyset pages: the verifier streams
        # millions of rows and per-row result objects would cost more than the checks.
        # Each page is fetched whole and its cursor closed before rows are handed out,
        # so a consumer that stops early leaves nothing open behind.
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        while stop is None or start < stop:
            limit = page if stop is None else min(page, stop - start)
            cursor = dbapi.cursor()
            try:
                cursor.execute(sql, (start, limit))
                rows = cursor.fetchall()
            finally:
                cursor.close()
            yield from rows
            if len(rows) < limit:
                return
            start = rows[-1][0] + 1

    def raw_event_rows(
        self, conn: Connection, *, start: int = 0, stop: int | None = None, page: int = 20000
    ) -> Iterator[tuple[Any, ...]]:
        """Yield events [start, stop) in seq order as (seq, columns, body, leaf_hash) tuples.

        The deep verifier's stream. `columns` is the JSON array (UTF-8 bytes) of id, type,
        system, recorded_at, occurred_at and subject, built by the database: one value
        instead of six strings costs a third less per row.
        """
        columns = "id, type, system, recorded_at, occurred_at, subject"
        packed = (
            f"CAST(json_array({columns}) AS BLOB)"
            if self.dialect == "sqlite"
            else f"convert_to(json_build_array({columns})::text, 'UTF8')"
        )
        sql = (
            f"SELECT seq, {packed}, body, leaf_hash "
            f"FROM events WHERE seq >= {self._ph} ORDER BY seq LIMIT {self._ph}"
        )
        return self._raw_pages(conn, sql, start, stop, page)

    def bodies_by_occurrence(
        self,
        conn: Connection,
        *,
        recorded_until: str,
        system: str | None = None,
        stop: int | None = None,
        page: int = 5000,
    ) -> Iterator[bytes]:
        """Yield stored bodies in (occurred_at, seq) order, recorded at or before the time
        (and before seq `stop`, if given).

        Keyset pages over ix_events_occurred, so memory stays one page whatever the size.
        """
        ph = self._ph
        filters = f"recorded_at <= {ph}"
        base: tuple[Any, ...] = (recorded_until,)
        if system is not None:
            filters, base = f"{filters} AND system = {ph}", (*base, system)
        if stop is not None:
            filters, base = f"{filters} AND seq < {ph}", (*base, stop)
        first = (
            f"SELECT occurred_at, seq, body FROM events WHERE {filters} "
            f"ORDER BY occurred_at, seq LIMIT {ph}"
        )
        after = (
            f"SELECT occurred_at, seq, body FROM events WHERE {filters} "
            # A row value, not an OR: the index range starts exactly after the last row
            # even within a run of equal times (a batch recorded without occurred_at).
            f"AND (occurred_at, seq) > ({ph}, {ph}) "
            f"ORDER BY occurred_at, seq LIMIT {ph}"
        )
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        sql, params = first, (*base, page)
        while True:
            cursor = dbapi.cursor()
            try:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
            finally:
                cursor.close()
            for row in rows:
                yield _as_bytes(row[2])
            if len(rows) < page:
                return
            occurred, seq = rows[-1][0], rows[-1][1]
            sql, params = after, (*base, occurred, seq, page)

    def stored_nodes_in(
        self, conn: Connection, start: int, stop: int, *, min_level: int = 1, max_level: int = 64
    ) -> dict[tuple[int, int], bytes]:
        """Return {(level, index): hash} of stored nodes within leaves [start, stop)."""
        found: dict[tuple[int, int], bytes] = {}
        sql = (
            f"SELECT idx, hash FROM tree_nodes WHERE level = {self._ph} AND idx >= {self._ph} "
            f"AND idx < {self._ph} ORDER BY idx"
        )
        first = max(NODE_STRIDE, -(-min_level // NODE_STRIDE) * NODE_STRIDE)
        for level in range(first, min(max_level, 64) + 1, NODE_STRIDE):
            low, high = start >> level, stop >> level
            for index, digest in conn.exec_driver_sql(sql, (level, low, high)):
                found[(level, index)] = _as_bytes(digest)
        return found

    @staticmethod
    def count_nodes(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(tree_nodes)).scalar_one())

    def first_node_beyond(self, conn: Connection, size: int) -> tuple[int, int] | None:
        """The (level, index) of the first stored node covering entries at or past size."""
        for node_level, node_index, _ in self.stored_nodes(conn):
            if (node_index + 1) << node_level > size:
                return node_level, node_index
        return None

    def subjects_by_lookup(
        self, conn: Connection, lookups: Sequence[bytes]
    ) -> dict[bytes, tuple[str, bytes]]:
        """Return {lookup hash: (token, wrapped data key)} for the subjects that exist."""
        found: dict[bytes, tuple[str, bytes]] = {}
        for start in range(0, len(lookups), 500):
            chunk = lookups[start : start + 500]
            marks = ", ".join([self._ph] * len(chunk))
            sql = f"SELECT lookup, token, wrapped_key FROM subjects WHERE lookup IN ({marks})"
            for lookup, token, wrapped in conn.exec_driver_sql(sql, tuple(chunk)):
                found[_as_bytes(lookup)] = (token, _as_bytes(wrapped))
        return found

    def wrapped_keys_by_token(self, conn: Connection, tokens: Sequence[str]) -> dict[str, bytes]:
        """Return {token: wrapped data key} for the tokens whose subject is not erased."""
        found: dict[str, bytes] = {}
        for start in range(0, len(tokens), 500):
            chunk = tokens[start : start + 500]
            marks = ", ".join([self._ph] * len(chunk))
            sql = f"SELECT token, wrapped_key FROM subjects WHERE token IN ({marks})"
            for token, wrapped in conn.exec_driver_sql(sql, tuple(chunk)):
                found[token] = _as_bytes(wrapped)
        return found

    def leaf_hashes(self, conn: Connection, start: int, stop: int) -> list[bytes]:
        """The leaf hashes of entries [start, stop), in seq order."""
        sql = f"SELECT leaf_hash FROM events WHERE seq >= {self._ph} AND seq < {self._ph} ORDER BY seq"
        return [_as_bytes(leaf) for (leaf,) in conn.exec_driver_sql(sql, (start, stop))]

    def bodies_of_type(self, conn: Connection, event_type: str) -> list[tuple[int, bytes]]:
        """Return (seq, body) of every event of one type, in seq order (rare types only)."""
        sql = f"SELECT seq, body FROM events WHERE type = {self._ph} ORDER BY seq"
        return [(seq, _as_bytes(body)) for seq, body in conn.exec_driver_sql(sql, (event_type,))]

    def bodies_of_types(
        self, conn: Connection, types: Sequence[str], start: int, stop: int
    ) -> Iterator[tuple[str, str, bytes]]:
        """Yield (type, system, body) of the events of `types` in [start, stop), in seq order.

        Over ix_events_type, whose entries are ordered by seq within a type (SQLite keeps
        the rowid, here seq, as the index's last column), so the cost follows the events
        of those types in the range, not the ledger (auditml.ledger.things).
        """
        marks = ", ".join([self._ph] * len(types))
        sql = (
            f"SELECT type, system, body FROM events WHERE type IN ({marks}) "
            f"AND seq >= {self._ph} AND seq < {self._ph} ORDER BY seq"
        )
        for event_type, system, body in conn.exec_driver_sql(sql, (*types, start, stop)):
            yield event_type, system, _as_bytes(body)

    def delete_subjects(self, conn: Connection, tokens: Sequence[str]) -> int:
        """Delete subjects by token (erasure: their data keys are gone); return how many.

        Call after appending their `erasure.completed`, in the same transaction: on
        PostgreSQL the writer role can only delete through auditml_erase_subject, which
        deletes only subjects whose erasure is recorded (migration 0004).
        """
        if self.dialect == "postgresql":
            return sum(
                int(conn.exec_driver_sql("SELECT auditml_erase_subject(%s)", (token,)).scalar_one())
                for token in tokens
            )
        deleted = 0
        for start in range(0, len(tokens), 500):
            chunk = tokens[start : start + 500]
            marks = ", ".join([self._ph] * len(chunk))
            cursor = conn.exec_driver_sql(
                f"DELETE FROM subjects WHERE token IN ({marks})", tuple(chunk)
            )
            deleted += cursor.rowcount
        return deleted

    def class_keys_for(
        self, conn: Connection, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], bytes]:
        """Return {(class, epoch): wrapped class key} for the pairs that have a key."""
        wanted = set(pairs)
        if not wanted:
            return {}
        classes = sorted({c for c, _ in wanted})
        epochs = sorted({e for _, e in wanted})
        found: dict[tuple[str, str], bytes] = {}
        ph = self._ph
        sql = (
            f"SELECT class, epoch, wrapped_key FROM class_keys WHERE class IN "
            f"({', '.join([ph] * len(classes))}) AND epoch IN ({', '.join([ph] * len(epochs))})"
        )
        for name, epoch, wrapped in conn.exec_driver_sql(sql, (*classes, *epochs)):
            if (name, epoch) in wanted:
                found[(name, epoch)] = _as_bytes(wrapped)
        return found

    @staticmethod
    def insert_class_keys(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert class key rows: class, epoch, wrapped_key, created_at."""
        if rows:
            conn.execute(insert(class_keys), list(rows))

    def delete_class_keys(
        self, conn: Connection, before_epoch: str, classes: Sequence[str] | None
    ) -> int:
        """Delete the class keys of epochs before `before_epoch` (of `classes`, else of
        every class); return how many (a retention purge: their sealed values are gone).

        Call after appending the `log.purged` that covers them, in the same transaction:
        on PostgreSQL the writer role can only delete through auditml_purge_class_keys,
        which deletes only keys a recorded `log.purged` covers (migration 0004).
        """
        if self.dialect == "postgresql":
            if classes is not None and not classes:
                return 0
            sql = "SELECT auditml_purge_class_keys(%s, %s)"
            chosen = None if classes is None else list(classes)
            return int(conn.exec_driver_sql(sql, (before_epoch, chosen)).scalar_one())
        ph = self._ph
        sql = f"DELETE FROM class_keys WHERE epoch < {ph}"
        params: tuple[str, ...] = (before_epoch,)
        if classes is not None:
            if not classes:
                return 0
            sql += f" AND class IN ({', '.join([ph] * len(classes))})"
            params += tuple(classes)
        return int(conn.exec_driver_sql(sql, params).rowcount)

    @staticmethod
    def class_key_rows(conn: Connection) -> list[Any]:
        """Every class_keys row (class, epoch, wrapped_key, created_at), in (class, epoch) order."""
        stmt = select(class_keys).order_by(class_keys.c["class"], class_keys.c.epoch)
        return list(conn.execute(stmt))

    # -- shredding on the record (auditml.ledger.shredding) ----------------------

    @staticmethod
    def keys_withheld(conn: Connection) -> bool:
        """Whether the ledger was restored from an export without subjects and class keys."""
        return bool(conn.execute(select(ledger_info.c.keys_withheld)).scalar_one())

    @staticmethod
    def tokens_without_key(conn: Connection) -> list[str]:
        """Subject tokens that events name with neither a subjects row nor an
        erasure.completed event about them, in order."""
        sql = (
            "SELECT d.subject FROM (SELECT DISTINCT subject FROM events "
            "WHERE subject IS NOT NULL) d "
            "WHERE NOT EXISTS (SELECT 1 FROM subjects s WHERE s.token = d.subject) "
            "AND NOT EXISTS (SELECT 1 FROM events x "
            "WHERE x.type = 'erasure.completed' AND x.subject = d.subject) "
            "ORDER BY d.subject"
        )
        return [token for (token,) in conn.exec_driver_sql(sql)]

    def first_seq_of_subject(self, conn: Connection, token: str) -> int:
        sql = f"SELECT min(seq) FROM events WHERE subject = {self._ph}"
        return int(conn.exec_driver_sql(sql, (token,)).scalar_one())

    @staticmethod
    def recorded_span(conn: Connection) -> tuple[str, str] | None:
        """The recorded_at of the first and the last event (None: no events)."""
        last = Store.head(conn).last_recorded_at
        first = conn.execute(select(events.c.recorded_at).where(events.c.seq == 0)).scalar()
        return None if first is None or last is None else (str(first), last)

    def sealing_bodies(
        self, conn: Connection, event_type: str, epoch: str | None, *, page: int = 100
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (seq, body) of the events of a type (recorded in the epoch's month, if
        given) that have a subject and whose body names an epoch, in (recorded_at, seq)
        order: those that may hold values sealed under a class key. Keyset pages in the
        order of ix_events_sealing, so the database reads that index and nothing else."""
        ph = self._ph
        sql = f"SELECT recorded_at, seq, body FROM events WHERE {SEALING[self.dialect]} AND type = {ph}"
        params: tuple[Any, ...] = (event_type,)
        if epoch is not None:
            sql += f" AND recorded_at >= {ph} AND recorded_at < {ph}"
            params += (epoch, epoch + "~")  # "~" sorts after every "-DDTHH..." suffix
        sql += f" AND (recorded_at, seq) > ({ph}, {ph}) ORDER BY recorded_at, seq LIMIT {ph}"
        after: tuple[str, int] = ("", -1)
        while True:
            rows = list(conn.exec_driver_sql(sql, (*params, *after, page)))
            for _, seq, body in rows:
                yield seq, _as_bytes(body)
            if len(rows) < page:
                return
            after = (rows[-1][0], rows[-1][1])

    @staticmethod
    def class_key_pairs(conn: Connection) -> set[tuple[str, str]]:
        """The (class, epoch) of every class key held."""
        stmt = select(class_keys.c["class"], class_keys.c.epoch)
        return {(name, epoch) for name, epoch in conn.execute(stmt)}

    @staticmethod
    def insert_subjects(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert subject rows: lookup, token, wrapped_key, created_at."""
        if rows:
            conn.execute(insert(subjects), list(rows))

    @staticmethod
    def leaf_and_time(conn: Connection, seq: int) -> tuple[bytes, str] | None:
        """Return (leaf_hash, recorded_at) of one event, or None if it does not exist."""
        row = conn.execute(
            select(events.c.leaf_hash, events.c.recorded_at).where(events.c.seq == seq)
        ).first()
        return None if row is None else (_as_bytes(row.leaf_hash), row.recorded_at)

    # -- event reads ------------------------------------------------------------

    @staticmethod
    def event_rows(
        conn: Connection,
        *,
        start: int = 0,
        stop: int | None = None,
        page: int = 5000,
        where: Sequence[Any] = (),
        columns: Sequence[Any] = EVENT_COLUMNS,
        descending: bool = False,
    ) -> Iterator[Any]:
        """Yield event rows in seq order, fetched in keyset pages of `page` rows."""
        cursor = start
        upper = stop
        while True:
            stmt = select(*columns).where(*where)
            if descending:
                if upper is not None:
                    stmt = stmt.where(events.c.seq < upper)
                stmt = stmt.where(events.c.seq >= start).order_by(events.c.seq.desc())
            else:
                stmt = stmt.where(events.c.seq >= cursor).order_by(events.c.seq)
                if stop is not None:
                    stmt = stmt.where(events.c.seq < stop)
            rows = conn.execute(stmt.limit(page)).all()
            yield from rows
            if len(rows) < page:
                return
            if descending:
                upper = rows[-1].seq
            else:
                cursor = rows[-1].seq + 1

    @staticmethod
    def event_by(conn: Connection, *, seq: int | None = None, event_id: str | None = None) -> Any:
        """Return the events row at `seq` or with `event_id`; raise NotFoundError if none.

        A seq beyond the database's integers (`prove 10**30`) is not sent to it: no event
        can be there, and the driver would fail to convert it.
        """
        if seq is not None:
            row = None
            if isinstance(seq, int) and 0 <= seq <= SEQ_MAX:
                row = conn.execute(select(*EVENT_COLUMNS).where(events.c.seq == seq)).first()
            if row is None:
                size = Store.head(conn).size
                held = f"{size} event(s) (seq 0 to {size - 1})" if size else "no events yet"
                raise NotFoundError(
                    f"no event at seq {seq}; the ledger holds {held}; `auditml log` lists them"
                )
            return row
        row = conn.execute(select(*EVENT_COLUMNS).where(events.c.id == event_id)).first()
        if row is None:
            raise NotFoundError(
                f"no event with id {event_id!r} in this ledger; `auditml log` lists events"
            )
        return row

    @staticmethod
    def count_events(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())

    @staticmethod
    def stored_nodes(conn: Connection) -> Iterator[tuple[int, int, bytes]]:
        rows = conn.execute(
            select(tree_nodes.c.level, tree_nodes.c.idx, tree_nodes.c.hash).order_by(
                tree_nodes.c.level, tree_nodes.c.idx
            )
        )
        for row in rows:
            yield row.level, row.idx, _as_bytes(row.hash)

    # -- checkpoints and keys ---------------------------------------------------

    @staticmethod
    def add_checkpoint(conn: Connection, row: CheckpointRow) -> None:
        conn.execute(
            insert(checkpoints).values(
                size=row.size, root=row.root, note=row.note, created_at=row.created_at
            )
        )

    @staticmethod
    def checkpoint_rows(conn: Connection, *, latest_only: bool = False) -> list[CheckpointRow]:
        stmt = select(checkpoints).order_by(
            checkpoints.c.size.desc() if latest_only else checkpoints.c.size
        )
        if latest_only:
            stmt = stmt.limit(1)
        return [
            CheckpointRow(r.size, _as_bytes(r.root), r.note, r.created_at)
            for r in conn.execute(stmt)
        ]

    @staticmethod
    def checkpoint_at(conn: Connection, size: int) -> CheckpointRow | None:
        if not 0 <= size <= SEQ_MAX:
            return None  # beyond the database's integers: no checkpoint can have that size
        r = conn.execute(select(checkpoints).where(checkpoints.c.size == size)).first()
        return None if r is None else CheckpointRow(r.size, _as_bytes(r.root), r.note, r.created_at)

    @staticmethod
    def add_public_key(
        conn: Connection, *, key_id: str, name: str, vkey: str, purpose: str, created_at: str
    ) -> None:
        exists = conn.execute(
            select(public_keys.c.key_id).where(public_keys.c.key_id == key_id)
        ).first()
        if exists is None:
            conn.execute(
                insert(public_keys).values(
                    key_id=key_id, name=name, vkey=vkey, purpose=purpose, created_at=created_at
                )
            )

    @staticmethod
    def public_key_rows(conn: Connection) -> list[Any]:
        return list(conn.execute(select(public_keys).order_by(public_keys.c.created_at)))

    @staticmethod
    def add_cosignature(conn: Connection, row: dict[str, Any]) -> bool:
        """Insert a cosignature row (size, key_id, witness, root, checkpoint, signature,
        created_at) unless that witness key already cosigned that size; return whether."""
        exists = conn.execute(
            select(cosignatures.c.size).where(
                cosignatures.c.size == row["size"], cosignatures.c.key_id == row["key_id"]
            )
        ).first()
        if exists is not None:
            return False
        conn.execute(insert(cosignatures).values(**row))
        return True

    @staticmethod
    def cosignature_rows(conn: Connection) -> list[Any]:
        """Every cosignature row, newest checkpoint size first."""
        return list(
            conn.execute(
                select(cosignatures).order_by(cosignatures.c.size.desc(), cosignatures.c.key_id)
            )
        )

    # -- export and import (auditml.ledger.export*) ------------------------------

    def raw_bodies(
        self, conn: Connection, *, start: int = 0, page: int = 20000
    ) -> Iterator[tuple[Any, ...]]:
        """Yield (seq, body) of every event from start on, in seq order (keyset pages)."""
        sql = f"SELECT seq, body FROM events WHERE seq >= {self._ph} ORDER BY seq LIMIT {self._ph}"
        return self._raw_pages(conn, sql, start, None, page)

    @staticmethod
    def ledger_info_row(conn: Connection) -> Any:
        """The one ledger_info row: origin, format, created_at."""
        return conn.execute(select(ledger_info)).one()

    @staticmethod
    def subject_rows(conn: Connection, *, page: int = 5000) -> Iterator[Any]:
        """Yield every subjects row (lookup, token, wrapped_key, created_at) in token order."""
        stmt = select(subjects).order_by(subjects.c.token).execution_options(yield_per=page)
        yield from conn.execute(stmt)

    @staticmethod
    def restore_schema(
        conn: Connection,
        *,
        origin: str,
        ledger_format: int,
        created_at: str,
        keys_withheld: bool = False,
    ) -> None:
        """Create the schema on conn (inside the caller's write) and name the ledger: for a
        new ledger, or one being restored from an export (`keys_withheld`: one made
        without its subjects and class keys)."""
        schema.upgrade(conn)
        conn.execute(
            insert(ledger_info).values(
                origin=origin,
                format=ledger_format,
                created_at=created_at,
                keys_withheld=keys_withheld,
            )
        )
