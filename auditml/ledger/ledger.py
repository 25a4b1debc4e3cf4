"""`Ledger`: the SDK's entry point. Records events, signs checkpoints, proves, verifies.

The pure parts (envelope validation, canonical encoding, Merkle math, the chain
checker, evidence) live in their own modules; this class does the I/O around them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from auditml.collector import collector_paused
from auditml.config import Settings, load_settings
from auditml.errors import (
    ConfigError,
    IntegrityError,
    NotFinalError,
    NotFoundError,
    ProofError,
    SignatureError,
    StorageError,
    TransientStorageError,
    ValidationError,
)
from auditml.events.envelope import (
    FORMAT_VERSION,
    NAME_PATTERN,
    RECORD_KEYS,
    ZERO_HASH,
    Envelope,
    PreparedEvent,
    check_actor,
    check_event_type,
    format_time,
    parse_time,
    prepare_event,
    same_content,
    uuid7,
)
from auditml.events.jsonl import event_lines
from auditml.events.payloads import SEALED_FIELDS
from auditml.events.refs import THINGS
from auditml.ledger import merkle
from auditml.ledger.canonical import canonicalize, canonicalize_checked, parse_json
from auditml.ledger.deep import verify_deep
from auditml.ledger.evidence import ProvedEvent, build_evidence
from auditml.ledger.importing import IMPORT_BATCH, ImportResult, ImportTally
from auditml.ledger.keys import (
    LEDGER_KEY_FILE,
    LEDGER_VKEY_FILE,
    check_key_dir,
    create_ledger_key,
    key_dir_verifiers,
    load_ledger_key,
    promote_next_ledger_key,
    stage_next_ledger_key,
)
from auditml.ledger.merkle import LEAF_PREFIX
from auditml.ledger.note import Checkpoint, Signer, Verifier, open_checkpoint, sign_note
from auditml.ledger.rotation import KeySchedule, follow_rotations
from auditml.ledger.shredding import verify_shredding
from auditml.ledger.store import CheckpointRow, Head, Store, events
from auditml.ledger.things import ADMITTED_TYPES, Admission, KnownThings, needs_lookup
from auditml.ledger.witness import trusted_note
from auditml.ledger.writer import GroupCommitWriter
from auditml.privacy.crypto import (
    check_raw_subject,
    epoch_of,
    lookup_hash,
    new_data_key,
    new_token,
    seal_fields,
    unseal_fields,
    unwrap_class_key,
    unwrap_key,
    wrap_class_key,
    wrap_key,
)
from auditml.privacy.keys import (
    PrivacyKeys,
    check_privacy_keys,
    create_privacy_keys,
    load_privacy_keys,
)

Clock = Callable[[], datetime]
DEFAULT_ACTOR = {"id": "auditml-sdk", "kind": "service"}
#: Runs inside an append's transaction, after its inserts: (connection, frontier, now).
Also = Callable[[Any, merkle.CompactRange, str], None]
#: Tries of a batch whose transaction was lost (PostgreSQL: connection, serialisation).
WRITE_ATTEMPTS = 4
#: `VerifyResult.key_source` when the checkpoint keys were taken from the database.
DATABASE_KEY_SOURCE = "the database's public_keys table (trusted on request), not a ledger.vkey"
#: Seconds erase and purge wait for connections reading an older snapshot to finish,
#: so the deleted keys can be cleared from SQLite's write-ahead log.
SCRUB_WAIT = 30.0
#: How messages name the event of `record` and `submit` (a batch's are numbered from 1).
ONE_EVENT = "the event"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Receipt(NamedTuple):
    """Proof of acceptance: where an event sits in the ledger. Returned once durable."""

    seq: int
    id: str
    leaf_hash: str


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint row: the signed note and what it states."""

    size: int
    root: str
    note: str
    created_at: str


@dataclass(frozen=True)
class VerifyResult:
    """What a successful verification established."""

    depth: str
    size: int
    checkpoints_verified: int
    latest_checkpoint_size: int | None
    trusted_checkpoint_size: int | None
    key_source: str
    seconds: float
    #: True when the checkpoint keys came from the database (`trust_database_keys`), not
    #: from a ledger.vkey held outside it: whoever controls the database controls them.
    keys_from_database: bool = False
    #: True for a ledger restored without its subjects and class keys (export
    #: --no-subjects): whether keys were shredded on the record could not be checked.
    keys_withheld: bool = False

    @property
    def uncovered(self) -> int:
        """Events appended after the latest checkpoint (not yet signed over)."""
        return self.size - (self.latest_checkpoint_size or 0)


class Ledger:
    """An append-only, hash-chained, Merkle-tree ledger of compliance evidence.

    Open one with `Ledger.open()` (an existing ledger) or `Ledger.create()` (a new one);
    use it as a context manager so it is closed when the block ends.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock | None = None,
        system: str = "default",
        actor: Mapping[str, str] | None = None,
        trust_database_keys: bool = False,
    ) -> None:
        self._store = store
        self._settings = settings
        self._trust_database_keys = trust_database_keys
        self._clock = clock or _utcnow
        if not NAME_PATTERN.fullmatch(system):
            raise ValidationError(
                f"system {system!r} must be 1-200 characters of letters, digits and ._:/@-"
            )
        self._system = system
        self._actor = check_actor(actor or DEFAULT_ACTOR, "the default actor")
        self.origin = store.origin()
        self._signer: Signer | None = None
        self._signer_loaded = False
        self._privacy: PrivacyKeys | None = None
        self._writer: GroupCommitWriter | None = None
        self._writer_lock = threading.Lock()
        # The frontier of the tree at the size we last saw, so appends need no reads.
        self._frontier: merkle.CompactRange | None = None
        self._frontier_tip: bytes | None = None
        # Registered datasets and systems, for turning short references into canonical ones.
        self._known = KnownThings()

    # -- opening --------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        clock: Clock | None = None,
        key_dir: str | Path | None = None,
        system: str = "default",
        actor: Mapping[str, str] | None = None,
        group_commit: bool = False,
        trust_database_keys: bool = False,
    ) -> Ledger:
        """Open an existing ledger (url from AUDITML_URL / auditml.toml when omitted).

        With `group_commit`, `record` from many threads shares transactions (see `submit`).
        Checkpoint keys come from the key directory's ledger.vkey; without that file,
        verifying and proving raise ConfigError unless `trust_database_keys` says to trust
        the keys the database lists (which whoever controls the database can replace).
        Raises ConfigError if there is no ledger at that URL.
        """
        settings = load_settings(url=url, key_dir=key_dir)
        ledger = cls(
            Store.connect(settings.url),
            settings,
            clock=clock,
            system=system,
            actor=actor,
            trust_database_keys=trust_database_keys,
        )
        if group_commit:
            ledger._start_writer()
        return ledger

    @classmethod
    def create(
        cls,
        url: str | None = None,
        *,
        origin: str,
        key_dir: str | Path | None = None,
        clock: Clock | None = None,
        system: str = "default",
        actor: Mapping[str, str] | None = None,
    ) -> Ledger:
        """Create a new ledger: the database schema and, if absent, the ledger key.

        `origin` names the ledger in every checkpoint (e.g. "example.com/credit-ledger").
        Raises ConfigError, before writing anything, if the database already holds a
        ledger, or the key directory fails `check_key_dir` or holds a key that cannot be used.
        """
        settings = load_settings(url=url, key_dir=key_dir)
        # Everything that can be refused is checked before anything is written.
        Verifier(origin, bytes(32))
        check_key_dir(settings.key_dir)
        key_path = settings.key_dir / LEDGER_KEY_FILE
        existing_key = load_ledger_key(settings.key_dir, origin) if key_path.exists() else None
        check_privacy_keys(settings.key_dir)
        now = format_time((clock or _utcnow)())
        store = Store.connect(settings.url, must_exist=False)
        try:
            existing = store.existing_origin()
            if existing is not None:
                raise ConfigError(f"this database already holds the ledger {existing!r}")
            other = [k for k in key_dir_verifiers(settings.key_dir) or () if k.name != origin]
            if other:
                raise ConfigError(
                    f"{settings.key_dir} already holds the key of another ledger "
                    f"({other[0].name!r}); give this ledger its own key "
                    "directory (key_dir=, --home or AUDITML_HOME)"
                )
            store.create_schema(origin=origin, created_at=now)
        except BaseException:
            # A refused init leaves no database file (or folder) it made behind.
            store.discard_created()
            raise
        signer = existing_key or create_ledger_key(settings.key_dir, origin)
        create_privacy_keys(settings.key_dir)
        with store.write() as conn:
            verifier = signer.verifier
            store.add_public_key(
                conn,
                key_id=verifier.key_id,
                name=origin,
                vkey=verifier.to_vkey(),
                purpose="checkpoint",
                created_at=now,
            )
        return cls(store, settings, clock=clock, system=system, actor=actor)

    def close(self) -> None:
        """Drain the group-commit writer (if any) and release the database."""
        if self._writer is not None:
            self._writer.close()
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- keys -------------------------------------------------------------------

    def _signing_key(self, *, required: bool) -> Signer | None:
        if not self._signer_loaded:
            try:
                self._signer = load_ledger_key(self._settings.key_dir, self.origin)
            except ConfigError:
                if required:
                    raise
                self._signer = None
            self._signer_loaded = self._signer is not None
        return self._signer

    def _privacy_keys(self) -> PrivacyKeys:
        if self._privacy is None:
            self._privacy = load_privacy_keys(self._settings.key_dir)
        return self._privacy

    def subject_token(self, subject: str) -> str | None:
        """Return the pseudonymous token of a raw subject identifier, or None if unknown.

        Raises ConfigError when the privacy keys are not available.
        """
        subject = check_raw_subject(subject, "looking up a subject")
        lookup = lookup_hash(self._privacy_keys().lookup_secret, subject)
        with self._store.read() as conn:
            found = self._store.subjects_by_lookup(conn, [lookup])
        return found[lookup][0] if lookup in found else None

    def erase(
        self,
        subject: str | None = None,
        *,
        reason: str,
        token: str | None = None,
        request_id: str | None = None,
        actor: Mapping[str, str] | None = None,
    ) -> Receipt:
        """Erase a data subject (GDPR Art. 17) by crypto-shredding; return the receipt of
        the `erasure.completed` event.

        Name the subject by its own identifier or by its token. In one transaction: the
        subject's row in `subjects` (token mapping and data key) is deleted and
        `erasure.completed` is appended; with `request_id`, `dsr.answered` (completed)
        answers that `dsr.received`. Afterwards every proof and verification still passes,
        sealed fields read as erased, and nothing links the identifier to the token.

        When it returns, the deleted key and lookup hash are gone from the database's files
        as far as the database allows (SQLite: zeroed and the write-ahead log truncated;
        PostgreSQL: docs/OPERATIONS.md section 9 says what the operator must do).

        Raises NotFoundError (nothing written) if the subject is unknown or already erased,
        or no `dsr.received` has that request id; NotFinalError (the erasure is recorded)
        if another connection kept reading an older snapshot for SCRUB_WAIT seconds, so
        old copies of the key remain in the write-ahead log until `auditml db scrub`.
        """
        if (subject is None) == (token is None):
            raise ValidationError("erase: name the subject by its identifier or by its token")
        if token is None:
            assert subject is not None
            token = self.subject_token(subject)
            if token is None:
                raise NotFoundError(
                    "erase: this ledger holds no subject with that identifier (never recorded, "
                    "or already erased); nothing was written"
                )
        else:
            with self._store.read() as conn:
                known = self._store.wrapped_keys_by_token(conn, [token])
            if token not in known:
                raise NotFoundError(
                    f"erase: subject {token} is unknown or already erased; nothing was written"
                )
        if request_id is not None and not any(
            e.payload.get("request_id") == request_id for e in self.events(type="dsr.received")
        ):
            raise NotFoundError(
                f"erase: no dsr.received with request id {request_id!r}; record the request "
                "first (receive_request) or leave out the request id"
            )
        who = {} if actor is None else {"actor": actor}
        answer = {} if request_id is None else {"request_id": request_id}
        items: list[dict[str, Any]] = [
            {
                "type": "erasure.completed",
                "payload": {"method": "crypto-shred", "reason": reason, **answer},
                "subject_token": token,
                **who,
            }
        ]
        if request_id is not None:
            items.append(
                {
                    "type": "dsr.answered",
                    "payload": {"request_id": request_id, "outcome": "completed"},
                    **who,
                }
            )
        erased = token

        def shred(conn: Any, _frontier: merkle.CompactRange, _now: str) -> None:
            if self._store.delete_subjects(conn, [erased]) != 1:
                raise NotFoundError(f"erase: subject {erased} is already erased")

        prepared = [self._prepare(item, f"erase ({item['type']})") for item in items]
        self._settle()
        with collector_paused():
            receipt = self._append(prepared, None, shred)[0]
        self._scrub(f"subject {erased} is erased (erasure.completed is seq {receipt.seq})")
        return receipt

    def purge(
        self,
        before: datetime | str,
        *,
        reason: str,
        types: Sequence[str] | None = None,
        actor: Mapping[str, str] | None = None,
    ) -> tuple[Receipt, int]:
        """Crypto-shred the sealed content of event classes whose retention has passed;
        return the `log.purged` receipt and how many (class, month) keys were shredded.

        Sealed values are sealed under a key per event type and month they were recorded
        in (FORMAT 12a). In one transaction, the keys of every whole month before `before`
        are deleted, of the event types in `types` (default: every type with a key), and
        `log.purged` is appended with `up_to` = the start of the first month not purged
        (`before` rounded down to a month). Rows are never deleted: the purged values read
        as erased while every proof still verifies; other types and later months stay
        readable. With nothing to shred, `log.purged` is still recorded (and 0 returned):
        the purge ran and found its retention already applied. Values sealed before class
        keys existed (no epoch) are not purged by class; erase their subjects instead.
        The policy set flags a purge of logs younger than six months (AI Act Art. 19, 26(6)).
        Like `erase`, raises NotFinalError (the purge is recorded) if old copies of the
        keys could not be cleared from the write-ahead log.
        """
        cut = parse_time(before, where="purge --before")
        first_kept = cut.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        up_to = format_time(first_kept)
        keep_from = first_kept.strftime("%Y-%m")
        classes = None
        if types is not None:
            # A misspelt type would purge nothing and still record log.purged for it.
            classes = sorted({check_event_type(name, "purge --type") for name in types})
            if not classes:
                raise ValidationError("purge: --type names event types (at least one)")
        counted: list[int] = []
        item = {
            "type": "log.purged",
            # The types go on the record: verify checks each missing class key against them.
            "payload": {
                "up_to": up_to,
                "reason": reason,
                **({} if classes is None else {"types": classes}),
            },
            **({} if actor is None else {"actor": actor}),
        }
        prepared = [self._prepare(item, "purge")]

        def shred(conn: Any, _frontier: merkle.CompactRange, _now: str) -> None:
            counted.append(self._store.delete_class_keys(conn, keep_from, classes))

        self._settle()
        with collector_paused():
            receipt = self._append(prepared, None, shred)[0]
        self._scrub(f"the purge is recorded (log.purged is seq {receipt.seq})")
        return receipt, counted[-1]

    def _scrub(self, done: str) -> None:
        """Clear the keys just deleted from the database's files, or raise NotFinalError."""
        if not self._store.scrub(SCRUB_WAIT):
            raise NotFinalError(
                f"{done}, but old copies of the deleted keys remain in the write-ahead log "
                f"{self._store.engine.url.database}-wal: another connection kept reading an "
                f"older snapshot for {SCRUB_WAIT:g} s. Run `auditml db scrub` once long reads "
                "(reports, verify --deep, exports) have finished; until then this is not "
                "final on disk"
            )

    def _class_keys(
        self, conn: Any, pairs: set[tuple[str, str]], now: str
    ) -> dict[tuple[str, str], bytes]:
        """Return {(event type, epoch): class key}, creating the keys that do not exist yet.

        Runs inside the append transaction: on PostgreSQL the append lock serialises the
        writers that might create the same key; a conflict still fails the batch (all out).
        """
        if not pairs:
            return {}
        kek = self._privacy_keys().kek
        found = self._store.class_keys_for(conn, sorted(pairs))
        keys = {
            pair: unwrap_class_key(kek, pair[0], pair[1], wrapped)
            for pair, wrapped in found.items()
        }
        created = []
        for name, epoch in sorted(pairs - found.keys()):
            key = new_data_key()
            created.append(
                {
                    "class": name,
                    "epoch": epoch,
                    "wrapped_key": wrap_class_key(kek, name, epoch, key),
                    "created_at": now,
                }
            )
            keys[(name, epoch)] = key
        self._store.insert_class_keys(conn, created)
        return keys

    def _class_key_reader(self, conn: Any) -> Callable[[str, str], bytes | None]:
        """Return a cached lookup of stored class keys: (type, epoch) -> key, or None."""
        cache: dict[tuple[str, str], bytes | None] = {}

        def class_key(event_type: str, epoch: str) -> bytes | None:
            pair = (event_type, epoch)
            if pair not in cache:
                wrapped = self._store.class_keys_for(conn, [pair]).get(pair)
                cache[pair] = (
                    None
                    if wrapped is None
                    else unwrap_class_key(self._privacy_keys().kek, event_type, epoch, wrapped)
                )
            return cache[pair]

        return class_key

    def _resolve_subjects(self, conn: Any, raw: set[str], now: str) -> dict[str, tuple[str, bytes]]:
        """Return {raw id: (token, data key)}, creating subjects seen for the first time."""
        if not raw:
            return {}
        keys = self._privacy_keys()
        lookups = {subject: lookup_hash(keys.lookup_secret, subject) for subject in raw}
        found = self._store.subjects_by_lookup(conn, list(lookups.values()))
        resolved: dict[str, tuple[str, bytes]] = {}
        created = []
        for subject, lookup in lookups.items():
            if lookup in found:
                token, wrapped = found[lookup]
                resolved[subject] = (token, unwrap_key(keys.kek, token, wrapped))
            else:
                token, data_key = new_token(), new_data_key()
                created.append(
                    {
                        "lookup": lookup,
                        "token": token,
                        "created_at": now,
                        "wrapped_key": wrap_key(keys.kek, token, data_key),
                    }
                )
                resolved[subject] = (token, data_key)
        self._store.insert_subjects(conn, created)
        return resolved

    def _known_tokens(
        self,
        conn: Any,
        tokens: set[str],
        *,
        retried: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> dict[str, tuple[str, bytes | None]]:
        """Return {token: (token, data key)} for tokens of subjects the ledger holds.

        `retried`: tokens named only by events already stored (a retry); a subject erased
        since then maps to no key, so the retry still finds its receipt. Raises
        ValidationError for any other token it does not hold (unknown, or erased).
        """
        if not tokens:
            return {}
        kek = self._privacy_keys().kek
        wrapped = self._store.wrapped_keys_by_token(conn, sorted(tokens))
        missing = tokens - wrapped.keys() - retried
        if missing:
            raise ValidationError(
                f"subject token {sorted(missing)[0]} is not a subject of this ledger (unknown, "
                "or erased): nothing can be recorded about it"
            )
        known: dict[str, tuple[str, bytes | None]] = {
            token: (token, unwrap_key(kek, token, key)) for token, key in wrapped.items()
        }
        known.update((token, (token, None)) for token in tokens - wrapped.keys())
        return known

    def _unsealer(self, conn: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
        """Return a function that opens an envelope's sealed fields (keys cached per
        subject and per class and epoch)."""
        cache: dict[str, bytes | None] = {}
        class_key = self._class_key_reader(conn)

        def open_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
            token = envelope.get("subject")
            if token is None or not isinstance(envelope.get("payload"), dict):
                return envelope
            if token not in cache:
                try:
                    kek = self._privacy_keys().kek
                except ConfigError:
                    return envelope  # no keys here: sealed values stay sealed
                wrapped = self._store.wrapped_keys_by_token(conn, [token]).get(token)
                cache[token] = None if wrapped is None else unwrap_key(kek, token, wrapped)
            event_type = envelope["type"]
            payload = unseal_fields(
                envelope["payload"],
                data_key=cache[token],
                token=token,
                event_type=event_type,
                class_keys=lambda epoch: class_key(event_type, epoch),
            )
            return envelope if payload is envelope["payload"] else {**envelope, "payload": payload}

        return open_envelope

    def verifiers(self, given: Sequence[Verifier] = ()) -> tuple[list[Verifier], str]:
        """Return the trusted checkpoint keys and where they came from.

        The keys are `given` (e.g. a vkey an auditor was sent), else the key directory's
        ledger.vkey: a copy held outside the database cannot be swapped by whoever
        controls the database. A key they lack is trusted only when the chain of
        rotations vouches for it: its `key.rotated` event is covered by a checkpoint
        signed by the key it replaced.
        Raises IntegrityError if the database lists any other key; ConfigError if there is
        no ledger.vkey (and none given), unless the ledger was opened with
        `trust_database_keys`.
        """
        with self._store.read() as conn:
            keys, source, _ = self._verifiers(conn, given)
        return keys, source

    def _verifiers(
        self, conn: Any, given: Sequence[Verifier] = ()
    ) -> tuple[list[Verifier], str, list[tuple[int, str]]]:
        """`verifiers()` on conn's snapshot, with the rotations it followed."""
        db_keys = [Verifier.from_vkey(r.vkey) for r in self._store.public_key_rows(conn)]
        rotations = self._rotations(conn)
        bindings = {seq: self._store.checkpoint_at(conn, seq + 1) for seq, _ in rotations}
        vkey_path = self._settings.key_dir / LEDGER_VKEY_FILE
        file_keys = list(given) or key_dir_verifiers(self._settings.key_dir)
        if file_keys is not None:
            where = "the verifier key(s) given" if given else str(vkey_path)
            notes = {seq: row.note if row else None for seq, row in bindings.items()}
            trusted = follow_rotations(file_keys, db_keys, rotations, notes)
            source = where
            if len(trusted) > len(file_keys):
                source = f"{where} and the rotations it vouches for"
            unknown = [k for k in db_keys if k not in trusted]
            if unknown:
                raise IntegrityError(
                    f"the database lists checkpoint key {unknown[0].key_id} that is not in "
                    f"{where}: someone added a key to the database"
                )
            return trusted, source, rotations
        if not self._trust_database_keys:
            raise ConfigError(
                f"no ledger verifier key at {vkey_path}: without it the checkpoint keys "
                "would come from the database, which whoever controls the database can "
                "replace. Point --home or AUDITML_HOME (key_dir=) at the key directory "
                "holding ledger.vkey, or copy the ledger's ledger.vkey (public) there. To "
                "check with the database's keys anyway, say so: `auditml verify "
                "--trust-database-keys` (Ledger.open(..., trust_database_keys=True))"
            )
        return db_keys, DATABASE_KEY_SOURCE, rotations

    # -- recording ----------------------------------------------------------------

    def record(
        self,
        type: str,
        *,
        payload: Mapping[str, Any],
        subject: str | None = None,
        personal: Mapping[str, Any] | None = None,
        actor: Mapping[str, str] | None = None,
        occurred_at: datetime | str | None = None,
        id: str | None = None,
        system: str | None = None,
        subject_token: str | None = None,
    ) -> Receipt:
        """Record one event durably and return its receipt.

        `subject` is the data subject's own identifier: it is turned into a pseudonymous
        token and never stored. A subject the ledger already knows can be named by its
        token instead (`subject_token`, e.g. from the decision a reviewer looks at).
        Personal fields and `personal` are sealed under the subject's key.

        Raises ValidationError (nothing written) for a bad event, StorageError if the
        database refused the write.
        """
        item = _request(locals())
        if self._writer is not None:
            return self._writer.submit(self._prepare(item, ONE_EVENT)).result()
        return self.record_many([item], labels=[ONE_EVENT])[0]

    def submit(
        self,
        type: str,
        *,
        payload: Mapping[str, Any],
        subject: str | None = None,
        personal: Mapping[str, Any] | None = None,
        actor: Mapping[str, str] | None = None,
        occurred_at: datetime | str | None = None,
        id: str | None = None,
        system: str | None = None,
        subject_token: str | None = None,
    ) -> Future[Receipt]:
        """Queue an event for group commit and return at once (fire-and-forget, explicitly).

        The event is validated now (ValidationError is raised here, nothing queued); the
        future resolves to its receipt once durable, or to the error that kept it out.
        `flush()` waits for everything queued; closing the ledger or interpreter exit
        drains the queue.
        """
        prepared = self._prepare(_request(locals()), ONE_EVENT)
        return self._start_writer().submit(prepared)

    def resolve_reference(self, text: str, *, where: str = "reference") -> str:
        """Return the canonical reference `text` means in this ledger now.

        ``credit@3.2`` gives ``model:credit@3.2``; a bare name gives the dataset or system
        registered under it; a canonical reference (``dataset:x``, even one not recorded
        yet) gives itself. What `record` stores for a reference field, before recording.
        Raises ValidationError naming `where` if `text` is malformed, or means nothing
        registered or several things: the message shows the prefixed forms to write.
        """
        self._settle()
        with self._store.read() as conn:
            size = self._store.head(conn).size
            admission = self._known.open(self._store, conn, size, lookup=True)
        return admission.resolve(text, THINGS, where)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every submitted event is durable (or has failed)."""
        if self._writer is not None:
            self._writer.flush(timeout)

    def _settle(self) -> None:
        # Reads, proofs and checkpoints see every event this process has submitted.
        if self._writer is not None:
            self._writer.flush()

    def _start_writer(self) -> GroupCommitWriter:
        # Under a lock: threads submitting their first events at once must share one
        # writer, or flush() would wait on one of several and miss the others' events.
        with self._writer_lock:
            if self._writer is None:
                self._writer = GroupCommitWriter(self._append_batch)
            return self._writer

    def _append_batch(self, prepared: Sequence[PreparedEvent]) -> list[Receipt]:
        # Each event of a group commit was submitted alone: a refusal names it as such.
        with collector_paused():
            return self._append(prepared, [ONE_EVENT] * len(prepared))

    def _prepare(self, item: Mapping[str, Any], where: str) -> PreparedEvent:
        # Everything that can be checked without the database is checked here, in the
        # caller's thread, so that a bad event fails its own call and not a shared batch.
        event = prepare_event(
            item, default_system=self._system, default_actor=self._actor, where=where
        )
        self._check_size(event, where, self._settings.max_payload_bytes)
        return event

    def record_many(
        self, items: Iterable[Mapping[str, Any]], *, labels: Sequence[str] | None = None
    ) -> list[Receipt]:
        """Record a batch all or nothing; each item has the keyword arguments of `record`.

        Every item is validated before anything is written. Raises ValidationError naming
        the item (by `labels[i]`, e.g. "line 7 of events.jsonl", or "event i of the batch",
        counting from 1),
        StorageError if the database refused the write.
        """
        with collector_paused():
            return self._record_many(items, labels)

    def _record_many(
        self, items: Iterable[Mapping[str, Any]], labels: Sequence[str] | None
    ) -> list[Receipt]:
        prepared = []
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise ValidationError(f"{_label(labels, position)}: an event must be a JSON object")
            prepared.append(
                prepare_event(
                    item,
                    default_system=self._system,
                    default_actor=self._actor,
                    where=_label(labels, position),
                )
            )
        if not prepared:
            return []
        return self._append(prepared, labels)

    def import_jsonl(self, path: str | Path, *, batch_size: int = IMPORT_BATCH) -> ImportResult:
        """Record the events of a JSONL file (a `record_many` item a line), all or nothing.

        The file is streamed into one write transaction, a batch at a time: memory grows
        with `batch_size` and the client ids given, not with the file, and a bad line
        anywhere, even the last, rolls the whole import back. A line with the id and
        content of an earlier line is skipped, one with the id and content of an event
        already recorded is not written again; the result counts both. Other writers
        wait until the import commits (docs/adr/0011-streaming-import.md).

        Raises ValidationError naming the line (nothing written), ConfigError if the
        file cannot be read, StorageError if the database refused the write.
        """
        self._settle()
        attempts = 1 if self._store.dialect == "sqlite" else WRITE_ATTEMPTS
        with collector_paused():
            for attempt in range(attempts):
                tally = ImportTally()
                try:
                    self._import_once(Path(path), batch_size, tally)
                    return tally.result()
                except TransientStorageError as exc:
                    if tally.last is not None and self._holds(*tally.last):
                        return tally.result()  # it committed; only the answer was lost
                    if attempt + 1 < attempts:
                        time.sleep(0.1 * 2**attempt)
                        continue
                    raise StorageError(
                        f"{exc}; tried {attempts} times. Nothing of the import was written "
                        "(it is all in or all out): run it again"
                    ) from exc
        raise AssertionError("unreachable")

    def _import_once(self, path: Path, batch_size: int, tally: ImportTally) -> None:
        with self._store.write() as conn:
            tally.start = self._store.head(conn).size
            # Subjects looked up once per import, not once per batch (HMAC, unwrap, query).
            resolved: dict[str, tuple[str, bytes]] = {}
            # One admission for the whole import: a line may name what an earlier one registers.
            admission = self._known.open(self._store, conn, tally.start, lookup=True)
            batch: list[tuple[str, PreparedEvent]] = []
            for where, item in event_lines(path):
                event = self._prepare(item, where)
                if tally.is_new(where, event):
                    batch.append((where, event))
                if len(batch) == batch_size:
                    self._append_import_batch(conn, batch, tally, resolved, admission)
                    batch = []
            if batch:
                self._append_import_batch(conn, batch, tally, resolved, admission)
        self._known.commit(admission)

    def _append_import_batch(
        self,
        conn: Any,
        batch: Sequence[tuple[str, PreparedEvent]],
        tally: ImportTally,
        resolved: dict[str, tuple[str, bytes]],
        admission: Admission,
    ) -> None:
        labels = [where for where, _ in batch]
        prepared = [event for _, event in batch]
        tally.count(
            self._append_once(
                prepared, labels, frozenset(), conn=conn, resolved=resolved, admission=admission
            )
        )

    def _holds(self, event_id: str, leaf_hash: str) -> bool:
        """Whether the ledger holds this event (by id and leaf hash): did a lost commit land?"""
        with self._store.read() as conn:
            found = self._store.bodies_by_id(conn, [event_id])
        return event_id in found and found[event_id][2].hex() == leaf_hash

    def _frontier_at(self, conn: Any, head: Head) -> merkle.CompactRange:
        if (
            self._frontier is not None
            and self._frontier.size == head.size
            and self._frontier_tip == head.last_leaf_hash
        ):
            return merkle.CompactRange(head.size, list(self._frontier.hashes))
        cached, tip = self._frontier, self._frontier_tip
        if cached is not None and tip is not None and 0 < head.size - cached.size <= 4096:
            # Other writers appended since: extend our frontier by their leaves (one read)
            # rather than rebuild it from stored nodes (a read per stored level).
            leaves = self._store.leaf_hashes(conn, cached.size - 1, head.size)
            if leaves and leaves[0] == tip and len(leaves) == head.size - cached.size + 1:
                frontier = merkle.CompactRange(cached.size, list(cached.hashes))
                for leaf in leaves[1:]:
                    frontier.append(leaf)
                return frontier
        subtrees = merkle.CompactRange.subtrees_of(head.size)
        return merkle.CompactRange(head.size, self._store.subtree_hashes(conn, subtrees))

    def _append(
        self,
        prepared: Sequence[PreparedEvent],
        labels: Sequence[str] | None,
        also: Also | None = None,
    ) -> list[Receipt]:
        """Append a batch; `also(conn, frontier, now)` runs in the same transaction after
        the inserts (erasure's delete, a rotation's binding checkpoint)."""
        if self._store.dialect == "sqlite":
            # One file, one lock: a failed SQLite write is not one a retry would fix.
            return self._append_once(prepared, labels, frozenset(), also)
        # Ids fixed before the first try: a retry after a commit whose answer was lost
        # finds them stored and returns their receipts instead of writing them twice.
        fresh = [p if p.id is not None else p._replace(id=uuid7()) for p in prepared]
        generated = frozenset(f.id for f, p in zip(fresh, prepared, strict=True) if p.id is None)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                # New ids cannot be stored yet on the first try; no need to look them up.
                return self._append_once(
                    fresh, labels, generated if attempt == 0 else frozenset(), also
                )
            except TransientStorageError as exc:
                if attempt + 1 < WRITE_ATTEMPTS:
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise StorageError(
                    f"{exc}; tried {WRITE_ATTEMPTS} times. The batch is all in or all out: "
                    f"`Ledger.get({fresh[0].id!r})` tells which, and recording it again with "
                    "the same ids never writes it twice"
                ) from exc
        raise AssertionError("unreachable")

    def _append_once(
        self,
        prepared: Sequence[PreparedEvent],
        labels: Sequence[str] | None,
        generated: frozenset[str | None],
        also: Also | None = None,
        *,
        conn: Any = None,
        resolved: dict[str, tuple[str, bytes]] | None = None,
        admission: Admission | None = None,
    ) -> list[Receipt]:
        """Append a batch in one write transaction, or inside the caller's (`conn`).

        `resolved`: the subjects (raw id: token, data key) that earlier batches of the
        caller's transaction resolved; those of this batch are added to it. `admission`:
        the caller's, who commits it to the cache once its transaction has committed.
        """
        limit = self._settings.max_payload_bytes
        own_admission = admission is None
        with self._store.write() if conn is None else nullcontext(conn) as conn:
            head = self._store.head(conn)
            if admission is None:
                admission = self._known.open(
                    self._store, conn, head.size, lookup=needs_lookup(prepared)
                )
            frontier = self._frontier_at(conn, head)
            wanted = [p.id for p in prepared if p.id is not None and p.id not in generated]
            existing = self._store.bodies_by_id(conn, wanted) if wanted else {}
            now = format_time(self._clock())
            recorded_at = max(now, head.last_recorded_at or now)
            by_token = {p.subject_token for p in prepared if p.subject_token}
            new_by_token = {
                p.subject_token for p in prepared if p.subject_token and p.id not in existing
            }
            raw = {p.subject for p in prepared if p.subject is not None}
            resolved = {} if resolved is None else resolved
            resolved.update(self._resolve_subjects(conn, raw - resolved.keys(), recorded_at))
            subjects: dict[str, tuple[str, bytes | None]] = {s: resolved[s] for s in raw}
            subjects.update(self._known_tokens(conn, by_token, retried=by_token - new_by_token))
            epoch = epoch_of(recorded_at)
            # Only events that do seal something need their class's key for this month.
            class_keys = self._class_keys(
                conn,
                {
                    (p.type, epoch)
                    for p in prepared
                    if (p.subject is not None or p.subject_token is not None)
                    and p.id not in existing
                    and not SEALED_FIELDS[p.type].isdisjoint(p.payload)
                },
                recorded_at,
            )
            stored_class_key = self._class_key_reader(conn) if existing else None
            prev = head.last_leaf_hash.hex() if head.last_leaf_hash else ZERO_HASH
            seq = head.size
            rows: list[tuple[Any, ...]] = []
            nodes: list[tuple[int, int, bytes]] = []
            receipts: list[Receipt] = []
            in_batch: dict[str, tuple[PreparedEvent, Receipt]] = {}
            sha256 = hashlib.sha256
            append_leaf = frontier.append
            for position, event in enumerate(prepared):
                if event.type in ADMITTED_TYPES:
                    # References made canonical before the idempotency check and hashing.
                    event = admission.admit(event, _label(labels, position))
                client_id = event.id
                if client_id is not None and (client_id in existing or client_id in in_batch):
                    where = _label(labels, position)
                    assert stored_class_key is not None or client_id in in_batch
                    receipts.append(
                        self._idempotent(
                            event, where, existing, in_batch, subjects, stored_class_key
                        )
                    )
                    continue
                event_id = client_id or uuid7()
                occurred_at = event.occurred_at or recorded_at
                payload, token = event.payload, None
                named = event.subject if event.subject is not None else event.subject_token
                if named is not None:
                    token, data_key = subjects[named]
                    class_key = class_keys.get((event.type, epoch))
                    if class_key is not None:
                        assert data_key is not None  # only retried events lack a key
                        payload = seal_fields(
                            payload,
                            SEALED_FIELDS[event.type],
                            data_key=data_key,
                            token=token,
                            event_type=event.type,
                            class_key=class_key,
                            epoch=epoch,
                        )
                envelope = {
                    "v": FORMAT_VERSION,
                    "seq": seq,
                    "id": event_id,
                    "type": event.type,
                    "system": event.system,
                    "recorded_at": recorded_at,
                    "occurred_at": occurred_at,
                    "actor": event.actor,
                    "payload": payload,
                    "prev": prev,
                }
                if token is not None:
                    envelope["subject"] = token
                body = canonicalize_checked(envelope, slow=event.slow)
                if len(body) > limit:
                    self._check_size(event, _label(labels, position), limit)
                leaf = sha256(LEAF_PREFIX + body).digest()
                rows.append(
                    (
                        seq,
                        event_id,
                        event.type,
                        event.system,
                        recorded_at,
                        occurred_at,
                        token,
                        body,
                        leaf,
                    )
                )
                completed = append_leaf(leaf)
                if completed:
                    nodes += completed
                prev = leaf.hex()
                receipt = Receipt(seq, event_id, prev)
                receipts.append(receipt)
                if client_id is not None:
                    in_batch[client_id] = (event, receipt)
                seq += 1
            admission.end = seq
            if rows:
                self._store.insert_events(conn, rows)
                self._store.insert_nodes(conn, nodes)
                if also is not None:
                    also(conn, frontier, recorded_at)
                self._maybe_checkpoint(conn, frontier, recorded_at)
        if rows:
            self._frontier = frontier
            self._frontier_tip = bytes.fromhex(prev)
        if own_admission:
            self._known.commit(admission)
        return receipts

    @staticmethod
    def _idempotent(
        event: PreparedEvent,
        where: str,
        existing: Mapping[str, tuple[int, bytes, bytes]],
        in_batch: Mapping[str, tuple[PreparedEvent, Receipt]],
        subjects: Mapping[str, tuple[str, bytes | None]],
        class_key: Callable[[str, str], bytes | None] | None,
    ) -> Receipt:
        """The receipt for a retried event id, or ValidationError if the content differs."""
        assert event.id is not None
        if event.id in existing:
            seq, body, leaf = existing[event.id]
            stored = json.loads(body)
            named = event.subject if event.subject is not None else event.subject_token
            token, data_key = subjects[named] if named is not None else (None, None)
            same_subject = stored.get("subject") == token
            stored_type = stored["type"]
            payload = (
                unseal_fields(
                    stored["payload"],
                    data_key=data_key,
                    token=token,
                    event_type=stored_type,
                    class_keys=None
                    if class_key is None
                    else lambda epoch: class_key(stored_type, epoch),
                )
                if same_subject
                else stored["payload"]
            )
            if not same_content(event, stored, token=token, payload=payload):
                raise ValidationError(
                    f"{where}: id {event.id!r} is already recorded (seq {seq}) with different "
                    "content; event ids are idempotency keys: use a new id for a new event"
                )
            return Receipt(seq, event.id, leaf.hex())
        if event.id in in_batch:
            first, receipt = in_batch[event.id]
            if first != event:
                raise ValidationError(
                    f"{where}: id {event.id!r} appears twice in this batch with different content"
                )
            return receipt
        raise AssertionError("called only for ids already seen")

    @staticmethod
    def _check_size(event: PreparedEvent, where: str, limit: int) -> None:
        size = len(canonicalize(event.payload))
        if size > limit:
            raise ValidationError(
                f"{where} ({event.type}): payload is {size} bytes, over the limit of {limit}; "
                "store large content elsewhere and record its SHA-256, or raise max_payload_bytes"
            )

    # -- checkpoints ------------------------------------------------------------

    def _maybe_checkpoint(self, conn: Any, frontier: merkle.CompactRange, now: str) -> None:
        every_n = self._settings.checkpoint_every_events
        every_s = self._settings.checkpoint_every_seconds
        if not every_n and not every_s:
            return
        if self._signing_key(required=False) is None:
            return
        latest = self._store.checkpoint_rows(conn, latest_only=True)
        last_size = latest[0].size if latest else 0
        # Time is ledger time (the clock), measured from the last checkpoint, so the rule
        # holds across restarts and under simulated clocks alike.
        since = latest[0].created_at if latest else self._store.created_at(conn)
        elapsed = (
            parse_time(now, where="now") - parse_time(since, where="checkpoint")
        ).total_seconds()
        due = (every_n and frontier.size - last_size >= every_n) or (every_s and elapsed >= every_s)
        if not due or frontier.size <= last_size:
            return
        signer = self._signer_in_force(conn, required=False)
        if signer is not None:
            self._sign_checkpoint(conn, signer, frontier.size, frontier.root(), now)

    def _rotations(self, conn: Any) -> list[tuple[int, str]]:
        """Every rotation of the checkpoint key: (seq of key.rotated, new key id)."""
        found = []
        for seq, body in self._store.bodies_of_type(conn, "key.rotated"):
            payload = json.loads(body).get("payload", {})
            if payload.get("purpose") == "checkpoint":
                found.append((seq, str(payload.get("key_id"))))
        return found

    def _signer_in_force(self, conn: Any, *, required: bool) -> Signer | None:
        """The signing key, if it is the one in force; reloaded once if another process
        rotated it. None (or ConfigError when required) when this key was retired."""
        signer = self._signing_key(required=required)
        rotations = self._rotations(conn) if signer is not None else []
        if signer is None or not rotations or rotations[-1][1] == signer.verifier.key_id:
            return signer
        self._signer_loaded = False
        signer = self._signing_key(required=required)
        if signer is not None and signer.verifier.key_id == rotations[-1][1]:
            return signer
        if required:
            raise ConfigError(
                f"the ledger key was rotated to key {rotations[-1][1]} at seq {rotations[-1][0]}, "
                f"but {self._settings.key_dir} holds another key; use the key directory "
                "that holds the new key"
            )
        return None

    def rotate_key(self, actor: Mapping[str, str] | None = None) -> tuple[Receipt, Verifier]:
        """Replace the ledger's checkpoint key; return the key.rotated receipt and the new key.

        One transaction records `key.rotated` (the new key's id) and a checkpoint covering
        it signed by the old key, so the old key vouches for its successor; then the new
        key becomes the signing key and ledger.vkey lists both. Checkpoints signed before
        stay verifiable with the old key; any later one signed by it is refused.
        Raises ConfigError when the current key is not available.
        """
        self._settle()
        old = self._signing_key(required=True)
        assert old is not None
        key_dir = self._settings.key_dir
        new = stage_next_ledger_key(key_dir, self.origin)
        key_id = new.verifier.key_id
        with self._store.read() as conn:
            recorded = [seq for seq, k in self._rotations(conn) if k == key_id]
            row = self._store.event_by(conn, seq=recorded[-1]) if recorded else None
        if row is not None:  # an interrupted rotation recorded it already: only finish it
            receipt = Receipt(row.seq, row.id, bytes(row.leaf_hash).hex())
        else:
            item = {
                "type": "key.rotated",
                "payload": {"key_id": key_id, "purpose": "checkpoint"},
                **({} if actor is None else {"actor": actor}),
            }

            def bind(conn: Any, frontier: merkle.CompactRange, now: str) -> None:
                self._store.add_public_key(
                    conn,
                    key_id=key_id,
                    name=self.origin,
                    vkey=new.verifier.to_vkey(),
                    purpose="checkpoint",
                    created_at=now,
                )
                self._sign_checkpoint(conn, old, frontier.size, frontier.root(), now)

            with collector_paused():
                receipt = self._append([self._prepare(item, "rotate_key")], None, bind)[0]
        promote_next_ledger_key(key_dir, new)
        self._signer, self._signer_loaded = new, True
        return receipt, new.verifier

    def _sign_checkpoint(
        self, conn: Any, signer: Signer, size: int, root: bytes, now: str
    ) -> CheckpointRow:
        note = sign_note(Checkpoint(self.origin, size, root).to_text(), [signer])
        row = CheckpointRow(size, root, note, now)
        self._store.add_checkpoint(conn, row)
        return row

    def checkpoint(self) -> SignedCheckpoint:
        """Sign a checkpoint of the ledger as it stands (or return the one at this size).

        Raises ConfigError when the ledger key is not available.
        """
        self._settle()
        self._signing_key(required=True)
        with self._store.write() as conn:
            head = self._store.head(conn)
            existing = self._store.checkpoint_at(conn, head.size)
            if existing is None:
                signer = self._signer_in_force(conn, required=True)
                assert signer is not None
                frontier = self._frontier_at(conn, head)
                existing = self._sign_checkpoint(
                    conn, signer, head.size, frontier.root(), format_time(self._clock())
                )
        return _signed(existing)

    def checkpoints(self) -> list[SignedCheckpoint]:
        """Return every checkpoint, oldest first."""
        self._settle()
        with self._store.read() as conn:
            return [_signed(row) for row in self._store.checkpoint_rows(conn)]

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        self._settle()
        with self._store.read() as conn:
            rows = self._store.checkpoint_rows(conn, latest_only=True)
        return _signed(rows[0]) if rows else None

    # -- reading --------------------------------------------------------------------

    def __len__(self) -> int:
        self._settle()
        with self._store.read() as conn:
            return self._store.head(conn).size

    def get(self, seq_or_id: int | str) -> Envelope:
        """Return one event by seq or id; raise NotFoundError if there is none."""
        self._settle()
        with self._store.read() as conn:
            row = self._row(conn, seq_or_id)
            return Envelope.from_json(self._unsealer(conn)(json.loads(row.body)))

    def _row(self, conn: Any, seq_or_id: int | str) -> Any:
        # An int is a position, a str an event id (ids may be all digits).
        if isinstance(seq_or_id, int):
            return self._store.event_by(conn, seq=seq_or_id)
        return self._store.event_by(conn, event_id=seq_or_id)

    def now(self) -> datetime:
        """The ledger's clock: what `recorded_at` of an event recorded now would say."""
        return parse_time(self._clock(), where="the ledger clock")

    def events(
        self,
        *,
        type: str | None = None,
        system: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        subject: str | None = None,
        subject_token: str | None = None,
        start: int = 0,
        stop: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[Envelope]:
        """Yield events in seq order (or newest first), from seq `start` to before `stop`.

        Filters: event type, system, occurred_at in [since, until), and the data subject,
        given as the raw identifier (`subject`) or as its token (`subject_token`).
        """
        self._settle()
        where = []
        if subject is not None:
            subject_token = self.subject_token(subject)
            if subject_token is None:
                return  # a subject never recorded (or erased) has no events
        if subject_token is not None:
            where.append(events.c.subject == subject_token)
        if type is not None:
            # A misspelt type would list nothing, as if no such event had happened.
            where.append(events.c.type == check_event_type(type, "type"))
        if system is not None:
            where.append(events.c.system == system)
        if since is not None:
            where.append(events.c.occurred_at >= format_time(parse_time(since, where="since")))
        if until is not None:
            where.append(events.c.occurred_at < format_time(parse_time(until, where="until")))
        count = 0
        with self._store.read() as conn:
            unseal = self._unsealer(conn)
            for row in self._store.event_rows(
                conn, start=start, stop=stop, where=where, descending=newest_first
            ):
                if limit is not None and count >= limit:
                    return
                yield Envelope.from_json(unseal(json.loads(row.body)))
                count += 1

    def envelopes_by_occurrence(
        self, *, recorded_until: datetime, system: str | None = None, stop: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield stored envelopes in (occurred_at, seq) order, as policy checks read them.

        Only entries recorded at or before `recorded_until` (the ledger as it stood then),
        of `system` if given, before seq `stop` if given. Sealed fields stay sealed: rules
        see that they are present, never what they hold. Streams in pages, whatever the
        ledger's size.
        """
        self._settle()
        until = format_time(parse_time(recorded_until, where="recorded_until"))
        with self._store.read(whole_file=True) as conn:
            for body in self._store.bodies_by_occurrence(
                conn, recorded_until=until, system=system, stop=stop
            ):
                yield orjson.loads(body)

    # -- proofs ---------------------------------------------------------------------

    def _proof(self, conn: Any, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        plan = [merkle.perfect_subtrees(begin, end) for begin, end in ranges]
        flat = self._store.subtree_hashes(conn, [s for subtrees in plan for s in subtrees])
        proof, at = [], 0
        for subtrees in plan:
            proof.append(merkle.fold_subtrees(flat[at : at + len(subtrees)]))
            at += len(subtrees)
        return proof

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        """Return the RFC 9162 inclusion proof of seq in the tree of the given size."""
        self._settle()
        if not 0 <= seq < size:
            raise ValidationError(f"seq {seq} is not inside a tree of size {size}")
        with self._store.read() as conn:
            return self._proof(conn, merkle.inclusion_ranges(seq, size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Return the RFC 9162 consistency proof from size1 to size2."""
        self._settle()
        if not 0 <= size1 <= size2:
            raise ValidationError(f"no consistency proof from size {size1} to size {size2}")
        with self._store.read() as conn:
            if size2 > self._store.head(conn).size:
                raise ValidationError(f"the ledger has fewer than {size2} events")
            return self._proof(conn, merkle.consistency_ranges(size1, size2))

    def prove(self, seq_or_id: int | str, size: int | None = None) -> dict[str, Any]:
        """Return an evidence file (auditml.evidence/v1) proving one event."""
        return self.prove_many([seq_or_id], size=size)

    def prove_many(
        self,
        refs: Sequence[int | str],
        size: int | None = None,
        *,
        previous_size: int | None = None,
        findings: Sequence[Mapping[str, Any]] = (),
        policy_set: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return one evidence file proving several events against one checkpoint.

        Without `size`, the latest checkpoint is used, and a new one is signed first if
        it does not cover the events yet. With `previous_size`, the file also carries
        that earlier checkpoint and the consistency proof from it (a report chaining to
        the last one). `findings` and `policy_set` are carried as given. Raises
        NotFoundError for an unknown event or checkpoint size, ConfigError if a
        checkpoint is needed but the key is missing.
        """
        self._settle()
        with self._store.read() as conn:
            rows = [self._row(conn, ref) for ref in refs]
            if size is not None:
                found = self._store.checkpoint_at(conn, size)
                if found is None:
                    raise NotFoundError(
                        f"no checkpoint at size {size}; `auditml checkpoint --list` lists them"
                    )
            else:
                latest = self._store.checkpoint_rows(conn, latest_only=True)
                found = latest[0] if latest else None
        if found is None or any(row.seq >= found.size for row in rows):
            if size is not None:
                raise ValidationError(f"an event is not inside the checkpoint of size {size}")
            signed = self.checkpoint()
            found = CheckpointRow(
                signed.size, bytes.fromhex(signed.root), signed.note, signed.created_at
            )
        keys, _ = self.verifiers()
        previous = None
        with self._store.read() as conn:
            proved = [
                ProvedEvent(
                    row.seq,
                    json.loads(row.body),
                    self._proof(conn, merkle.inclusion_ranges(row.seq, found.size)),
                )
                for row in rows
            ]
            if previous_size is not None:
                earlier = self._store.checkpoint_at(conn, previous_size)
                if earlier is None or previous_size > found.size:
                    raise NotFoundError(
                        f"no checkpoint at size {previous_size} inside the one of size "
                        f"{found.size}; `auditml checkpoint --list` lists them"
                    )
                ranges = merkle.consistency_ranges(previous_size, found.size)
                previous = (earlier.note, self._proof(conn, ranges))
        return build_evidence(
            checkpoint_note=found.note,
            verifier_keys=[k.to_vkey() for k in keys],
            events=proved,
            generated_at=format_time(self._clock()),
            previous=previous,
            findings=findings,
            policy_set=policy_set,
        )

    # -- verification ------------------------------------------------------------------

    def verify(
        self,
        deep: bool = False,
        trusted_checkpoint: str | Path | Mapping[str, Any] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        size: int | None = None,
    ) -> VerifyResult:
        """Verify the ledger; return what was established or raise IntegrityError.

        fast: every checkpoint's signature, and the stored tree against every checkpoint.
        deep: also re-hash every entry, check the chain and columns, rebuild the tree.
        Both: every subject key and class key that is gone was erased or purged on the
        record (auditml.ledger.shredding).
        trusted_checkpoint (an evidence file, its path, or a signed checkpoint note):
        prove the ledger extends a checkpoint held outside the database.
        The IntegrityError names the first bad seq (`.seq`) and what is wrong.

        Writers may append meanwhile: what is verified is the ledger as it stood when
        verification began (its size then, and the checkpoints signed by then), or its
        first `size` entries and the checkpoints inside them (a report verifies the tree
        its checkpoint signs). Raises ValidationError if the ledger holds fewer than
        `size` entries, or the trusted checkpoint is larger than `size`.
        """
        self._settle()
        started = time.perf_counter()
        # The bound (head and checkpoints) and, for fast verification, everything else
        # are read in this one snapshot; deep verification's workers keep to the bound.
        with self._store.read() as conn:
            keys, key_source, rotations = self._verifiers(conn)
            head = self._store.head(conn)
            rows = self._store.checkpoint_rows(conn)
            schedule = KeySchedule.of({k.key_id for k in keys}, rotations)
            signed = [self._open_checkpoint_row(row, keys, schedule) for row in rows]
            if signed and head.size < signed[-1].size:
                raise IntegrityError(
                    f"the ledger holds {head.size} events but a checkpoint was signed at size "
                    f"{signed[-1].size}: events from seq {head.size} on were removed (tail "
                    "truncated)",
                    seq=head.size,
                )
            bound = head.size if size is None else size
            if not 0 <= bound <= head.size:
                raise ValidationError(
                    f"cannot verify the first {bound} entries: the ledger holds {head.size}"
                )
            checkpoints = [c for c in signed if c.size <= bound]
            latest = checkpoints[-1] if checkpoints else None
            trusted = None
            if trusted_checkpoint is not None:
                trusted, trusted_events = self._load_trusted(trusted_checkpoint, keys)
                if head.size < trusted.size:
                    raise IntegrityError(
                        f"the ledger holds {head.size} events, fewer than the trusted "
                        f"checkpoint's {trusted.size}: it was rolled back",
                        seq=head.size,
                    )
                if bound < trusted.size:
                    raise ValidationError(
                        f"the trusted checkpoint (size {trusted.size}) is beyond the {bound} "
                        "entries to verify"
                    )
                self._compare_trusted_events(conn, trusted_events)
            if not deep:
                self._verify_fast(conn, checkpoints, trusted, head.size)
                shredding_checked = verify_shredding(self._store, conn)
        if deep:
            self._verify_deep(bound, checkpoints, trusted, progress)
            # Keys are judged in one snapshot of their own: a key and the event that
            # erases it are written in one transaction.
            with self._store.read() as conn:
                shredding_checked = verify_shredding(self._store, conn)
        if trusted is not None and latest is not None and latest.size >= trusted.size:
            proof = self.consistency_proof(trusted.size, latest.size)
            try:
                merkle.verify_consistency(
                    trusted.size, latest.size, proof, trusted.root, latest.root
                )
            except ProofError as exc:
                raise IntegrityError(
                    f"the latest checkpoint (size {latest.size}) does not extend the trusted checkpoint "
                    f"(size {trusted.size}): {exc}"
                ) from exc
        return VerifyResult(
            depth="deep" if deep else "fast",
            size=bound,
            checkpoints_verified=len(checkpoints),
            latest_checkpoint_size=latest.size if latest else None,
            trusted_checkpoint_size=trusted.size if trusted else None,
            key_source=key_source,
            seconds=time.perf_counter() - started,
            keys_from_database=key_source == DATABASE_KEY_SOURCE,
            keys_withheld=not shredding_checked,
        )

    def _open_checkpoint_row(
        self, row: CheckpointRow, keys: list[Verifier], schedule: KeySchedule
    ) -> Checkpoint:
        allowed = schedule.allowed(row.size)
        try:
            checkpoint = open_checkpoint(row.note, [k for k in keys if k.key_id in allowed])
        except (SignatureError, ValidationError) as exc:
            if len(allowed) < len(keys) and _opens(row.note, keys):
                raise IntegrityError(
                    f"checkpoint at size {row.size} is signed by a retired ledger key (rotated "
                    f"at seq {schedule.rotated_at(row.size)}); only key "
                    f"{', '.join(sorted(allowed))} may sign it: a forgery with an old key"
                ) from exc
            raise SignatureError(
                f"checkpoint at size {row.size}: {exc} (a forged or altered checkpoint)", seq=None
            ) from exc
        if (
            checkpoint.size != row.size
            or checkpoint.root != row.root
            or checkpoint.origin != self.origin
        ):
            raise IntegrityError(
                f"checkpoint at size {row.size}: the table's size/root/origin columns disagree with "
                "the signed note (the row was edited)"
            )
        return checkpoint

    def _load_trusted(
        self, source: str | Path | Mapping[str, Any], keys: list[Verifier]
    ) -> tuple[Checkpoint, list[Mapping[str, Any]]]:
        if isinstance(source, Mapping):
            doc: Any = source
        else:
            try:
                raw = Path(source).read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read trusted checkpoint {source}: {exc.strerror}"
                ) from exc
            where = f"trusted checkpoint {source}"
            # Strict JSON or UTF-8 text: a binary or truncated file is refused, naming it.
            doc = parse_json(raw, where=where) if raw.lstrip().startswith(b"{") else None
            if doc is None:
                try:
                    doc = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ValidationError(
                        f"{where} is neither an evidence file (JSON) nor a signed checkpoint "
                        f"note (text): byte {exc.start} (0x{raw[exc.start]:02x}) is not UTF-8"
                    ) from None
        # An evidence file's checkpoint, or a witness state's last cosigned one.
        note = doc if isinstance(doc, str) else trusted_note(doc, self.origin)
        # Only the ledger's own keys count: keys listed inside the file would let the
        # file vouch for itself.
        checkpoint = open_checkpoint(note, keys)
        if checkpoint.origin != self.origin:
            raise IntegrityError(
                f"the trusted checkpoint is for ledger {checkpoint.origin!r}, not {self.origin!r}"
            )
        if not isinstance(doc, Mapping):
            return checkpoint, []
        listed = doc.get("events", [])
        if not isinstance(listed, list) or not all(
            isinstance(e, Mapping) and isinstance(e.get("envelope"), Mapping) for e in listed
        ):
            raise ValidationError(
                "the trusted checkpoint's events must be a list of objects with an envelope, "
                "as `auditml prove` writes them"
            )
        return checkpoint, [e["envelope"] for e in listed]

    def _compare_trusted_events(self, conn: Any, envelopes: Sequence[Mapping[str, Any]]) -> None:
        """Events carried with the trusted checkpoint must still be in the ledger, unchanged."""
        for envelope in envelopes:
            seq = envelope.get("seq")
            try:
                row = self._store.event_by(conn, seq=seq)
            except NotFoundError:
                raise IntegrityError(
                    f"seq {seq} of the trusted evidence is gone from the ledger (rolled back)",
                    seq=seq,
                ) from None
            if bytes(row.leaf_hash) != merkle.hash_leaf(canonicalize(envelope)):
                raise IntegrityError(
                    f"seq {seq} (id {envelope.get('id')!r}) differs from its copy in the trusted "
                    "evidence: history was rewritten after that checkpoint was signed",
                    seq=seq,
                )

    def _verify_fast(
        self, conn: Any, checkpoints: list[Checkpoint], trusted: Checkpoint | None, size: int
    ) -> None:
        """Count the rows and compare the stored tree with each checkpoint, in conn's
        snapshot, whose ledger holds `size` entries."""
        rows = self._store.count_events(conn)
        if rows != size:
            raise IntegrityError(
                f"the ledger's last seq is {size - 1} but it holds {rows} rows: "
                f"{size - rows} row(s) were deleted; run `auditml verify --deep` to find them"
            )
        for checkpoint in checkpoints:
            self._compare_root(conn, checkpoint, "checkpoint")
        if trusted is not None:
            self._compare_root(conn, trusted, "trusted checkpoint")

    def _compare_root(self, conn: Any, checkpoint: Checkpoint, what: str) -> None:
        subtrees = merkle.CompactRange.subtrees_of(checkpoint.size)
        root = merkle.CompactRange(
            checkpoint.size, self._store.subtree_hashes(conn, subtrees)
        ).root()
        if root != checkpoint.root:
            raise IntegrityError(
                f"the stored tree at size {checkpoint.size} has root {root.hex()[:16]}..., but the "
                f"{what} says {checkpoint.root.hex()[:16]}...: history before seq {checkpoint.size} "
                "was changed; run `auditml verify --deep` to find the first bad seq",
                seq=checkpoint.size - 1 if checkpoint.size else 0,
            )

    def _verify_deep(
        self,
        size: int,
        checkpoints: list[Checkpoint],
        trusted: Checkpoint | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        targets: dict[int, list[tuple[Checkpoint, str]]] = {}
        for checkpoint in checkpoints:
            targets.setdefault(checkpoint.size, []).append((checkpoint, "checkpoint"))
        if trusted is not None:
            targets.setdefault(trusted.size, []).append((trusted, "trusted checkpoint"))
        verify_deep(self._store, self._settings.url, size, targets, progress)


def _request(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The record request (the shape of a `record_many` item) from `record`'s arguments."""
    return {key: arguments[key] for key in RECORD_KEYS}


def _label(labels: Sequence[str] | None, position: int) -> str:
    # Counted from 1, like an import's line numbers: "event 0" would read like seq 0.
    return labels[position] if labels is not None else f"event {position + 1} of the batch"


def _opens(note: str, keys: list[Verifier]) -> bool:
    try:
        open_checkpoint(note, keys)
    except (SignatureError, ValidationError):
        return False
    return True


def _signed(row: CheckpointRow) -> SignedCheckpoint:
    return SignedCheckpoint(row.size, row.root.hex(), row.note, row.created_at)
