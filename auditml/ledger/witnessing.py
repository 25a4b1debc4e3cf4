"""A witness's files and its work against a ledger: init, cosign, verify with a policy.

The pure format (cosignatures, policies, the state document) is `auditml.ledger.witness`;
this module does the I/O around it: the witness key (Ed25519 PKCS#8 PEM, mode 0600, in
the witness's own directory), its state file (written atomically: temporary file, fsync,
rename, under a lock), and the `cosignatures` table.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditml.errors import ConfigError, IntegrityError, ProofError, ValidationError
from auditml.events.envelope import format_time
from auditml.ledger import merkle
from auditml.ledger.evidence import EVIDENCE_FORMAT
from auditml.ledger.keys import (
    check_key_dir,
    ignore_in_git,
    load_private_key,
    new_key_pem,
    write_private,
    write_public,
)
from auditml.ledger.ledger import Ledger, VerifyResult
from auditml.ledger.note import Note, Verifier, open_checkpoint
from auditml.ledger.store import Store
from auditml.ledger.witness import (
    CosignatureRecord,
    CosignatureSigner,
    CosignatureVerifier,
    QuorumCheckpoint,
    WitnessPolicy,
    add_signature_lines,
    last_witnessed,
    quorum_checkpoint,
    refuse_unless_extends,
    state_document,
)

WITNESS_KEY_FILE = "witness.key"
WITNESS_VKEY_FILE = "witness.vkey"
STATE_FILE = "witness-state.json"
_LEDGER_KEY_FILES = ("ledger.key", "ledger.vkey")


def init_witness(
    state_dir: Path, name: str, ledger_keys: list[Verifier], *, ledger_key_dir: Path | None
) -> CosignatureVerifier:
    """Create the witness key, its vkey and an empty state trusting ledger_keys.

    Raises ConfigError if state_dir is the ledger's key directory (a witness whose key
    sits next to the ledger's is no independent witness) or already holds a witness.
    """
    if not ledger_keys:
        raise ConfigError("the ledger key file holds no verifier key; pass the ledger.vkey")
    resolved = state_dir.resolve()
    if (ledger_key_dir is not None and resolved == ledger_key_dir.resolve()) or any(
        (state_dir / f).exists() for f in _LEDGER_KEY_FILES
    ):
        raise ConfigError(
            f"{state_dir} is the ledger's key directory; a witness keeps its key and state "
            "apart from the ledger's: choose another --state directory"
        )
    if (state_dir / STATE_FILE).exists() or (state_dir / WITNESS_KEY_FILE).exists():
        raise ConfigError(f"{state_dir} already holds a witness; refusing to overwrite it")
    CosignatureVerifier(name, bytes(32))  # validates the name before anything is written
    key, pem = new_key_pem()
    signer = CosignatureSigner(name, key)
    write_private(state_dir / WITNESS_KEY_FILE, pem)
    ignore_in_git(state_dir)
    write_public(state_dir / WITNESS_VKEY_FILE, signer.verifier.to_vkey() + "\n")
    save_state(state_dir, state_document(signer.verifier, ledger_keys, {}))
    return signer.verifier


def load_witness_key(state_dir: Path, name: str) -> CosignatureSigner:
    """Load the witness's signing key; ConfigError if missing, readable by others, or locked."""
    path = state_dir / WITNESS_KEY_FILE
    missing = f"no witness key at {path}; run `auditml witness init` first"
    return CosignatureSigner(name, load_private_key(path, missing))


def load_state(state_dir: Path) -> dict[str, Any]:
    """Read the witness state; ConfigError if it is missing or not a witness state, or
    its directory fails `check_key_dir` (the state holds the keys the witness trusts)."""
    check_key_dir(state_dir)
    path = state_dir / STATE_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"no witness state at {path}; run `auditml witness init`") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the witness state {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("logs"), dict):
        raise ConfigError(f"{path} is not an auditml witness state file")
    return doc


def save_state(state_dir: Path, doc: dict[str, Any]) -> None:
    """Replace the state file atomically: temporary file, fsync, rename, fsync directory."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".tmp-state-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, state_dir / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    # One cosigning at a time per witness: two runs must not both advance from one state.
    with open(state_dir / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Cosigned:
    """What `cosign` did: the size and root cosigned, and whether it was new."""

    origin: str
    size: int
    root: bytes
    previous_size: int | None
    new: bool


def _latest_note(ledger: Ledger) -> str:
    latest = ledger.latest_checkpoint()
    if latest is None or latest.size < len(ledger):
        try:
            latest = ledger.checkpoint()
        except ConfigError:
            if latest is None:
                raise
    return latest.note


def cosign(ledger: Ledger, state_dir: Path, *, now: Callable[[], float] = time.time) -> Cosigned:
    """Check the ledger's latest checkpoint against the witness state and cosign it.

    The checkpoint must carry a valid signature by a ledger key from the state (never
    keys from the database) and extend the last checkpoint this witness cosigned.
    Raises IntegrityError (state untouched, nothing written) on a rollback, a split view
    or an inconsistent checkpoint. The state is saved before the cosignature is stored.
    """
    load_state(state_dir)  # a clear error for a directory that holds no witness
    with _locked(state_dir):
        state = load_state(state_dir)
        witness = CosignatureVerifier.from_vkey(str(state.get("witness", "")))
        signer = load_witness_key(state_dir, witness.name)
        if signer.verifier != witness:
            raise ConfigError(f"{state_dir / WITNESS_KEY_FILE} is not the key the state names")
        ledger_keys = [Verifier.from_vkey(v) for v in state.get("ledger_keys", [])]
        note = _latest_note(ledger)
        checkpoint = open_checkpoint(note, ledger_keys)
        origin = checkpoint.origin
        if origin != ledger.origin:
            raise IntegrityError(
                f"the ledger {ledger.origin!r} showed a checkpoint of {origin!r}; refusing to cosign"
            )
        last = last_witnessed(state, origin)
        refusal = refuse_unless_extends(origin, last, checkpoint.size, checkpoint.root)
        if refusal is not None:
            raise IntegrityError(f"{refusal}; refusing to cosign (witness state unchanged)")
        if last is not None and checkpoint.size > last.size:
            try:
                proof = ledger.consistency_proof(last.size, checkpoint.size)
                merkle.verify_consistency(
                    last.size, checkpoint.size, proof, last.root, checkpoint.root
                )
            except (ProofError, IntegrityError, ValidationError) as exc:
                raise IntegrityError(
                    f"the checkpoint of size {checkpoint.size} is not consistent with the one of "
                    f"size {last.size} this witness cosigned ({exc}): history was rewritten; "
                    "refusing to cosign (witness state unchanged)"
                ) from exc
        if last is not None and checkpoint.size == last.size:
            line = _own_line(last.note, witness)
            new = False
        else:
            logs = dict(state["logs"])
            # Never a timestamp older than one this witness already issued (a clock set
            # back must not make a later cosignature look earlier).
            issued = [int(entry.get("timestamp", 0)) for entry in logs.values()]
            stamp = max([int(now()), *issued])
            line = signer.cosign_line(Note.parse(note).text, stamp)
            logs[origin] = {
                "size": checkpoint.size,
                "root": checkpoint.root.hex(),
                "checkpoint": add_signature_lines(note, [line]),
                "cosigned_at": format_time(ledger.now()),
                "timestamp": stamp,
            }
            save_state(state_dir, state_document(witness, ledger_keys, logs))
            new = True
    row = {
        "size": checkpoint.size,
        "key_id": witness.key_id,
        "witness": witness.name,
        "root": checkpoint.root,
        "checkpoint": note,
        "signature": line,
        "created_at": format_time(ledger.now()),
    }
    store = Store.connect(ledger.settings.url)
    try:
        with store.write() as conn:
            store.add_cosignature(conn, row)
    finally:
        store.close()
    return Cosigned(origin, checkpoint.size, checkpoint.root, last.size if last else None, new)


def _own_line(note: str, witness: CosignatureVerifier) -> str:
    prefix = f"\u2014 {witness.name} "
    for line in note.splitlines():
        if line.startswith(prefix):
            return line
    raise ConfigError("the witness state's checkpoint carries no cosignature of this witness")


def cosignature_records(ledger: Ledger) -> list[CosignatureRecord]:
    """Every stored cosignature, newest size first."""
    store = Store.connect(ledger.settings.url)
    try:
        with store.read() as conn:
            rows = store.cosignature_rows(conn)
    finally:
        store.close()
    return [
        CosignatureRecord(
            r.size,
            r.key_id,
            r.witness,
            bytes(r.root) if not isinstance(r.root, str) else r.root.encode(),
            r.checkpoint,
            r.signature,
            r.created_at,
        )
        for r in rows
    ]


def verify_with_policy(
    ledger: Ledger,
    policy: WitnessPolicy,
    *,
    deep: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[VerifyResult, QuorumCheckpoint | None]:
    """Verify the ledger extends the newest checkpoint a quorum of witnesses cosigned.

    Raises IntegrityError if no checkpoint meets the quorum, or the ledger does not
    extend it (rewritten or rolled back since the witnesses saw it).
    """
    keys = list(policy.logs) or ledger.verifiers()[0]
    found = quorum_checkpoint(cosignature_records(ledger), policy, keys, ledger.origin)
    if found is None:
        if policy.quorum is None:
            return ledger.verify(deep=deep, progress=progress), None
        raise IntegrityError(
            f"no checkpoint of {ledger.origin!r} is cosigned by the quorum the policy requires "
            f"({policy.describe()}); have the witnesses run `auditml witness cosign`"
        )
    trusted = {"format": EVIDENCE_FORMAT, "checkpoint": found.note, "events": []}
    try:
        result = ledger.verify(deep=deep, trusted_checkpoint=trusted, progress=progress)
    except IntegrityError as exc:
        raise IntegrityError(
            f"the ledger does not extend the checkpoint of size {found.size} cosigned by "
            f"{', '.join(found.witnesses)}: {exc}",
            seq=exc.seq,
        ) from exc
    return result, found


def witnessed_evidence(
    ledger: Ledger, size: int, root: bytes
) -> tuple[dict[str, Any], list[str]] | None:
    """For a report at checkpoint (size, root): the newest cosigned checkpoint inside it
    (the note with every cosignature line over it) and the consistency proof from it to
    `size`, plus the witnesses' key names; None when nothing is cosigned yet.

    The cosignatures are carried, not judged: a reader checks them with the witness keys
    they trust (`auditml verify --witness-policy`). Raises SignatureError if the cosigned
    checkpoint is not the ledger's, ProofError if (size, root) does not extend it.
    """
    by_size: dict[int, list[CosignatureRecord]] = {}
    for record in cosignature_records(ledger):
        if record.size <= size:
            by_size.setdefault(record.size, []).append(record)
    if not by_size:
        return None
    newest = max(by_size)
    records = by_size[newest]
    cosigned = open_checkpoint(records[0].checkpoint, ledger.verifiers()[0])
    same = [r for r in records if r.root == cosigned.root]
    note = add_signature_lines(records[0].checkpoint, [r.signature for r in same])
    proof = ledger.consistency_proof(newest, size)
    merkle.verify_consistency(newest, size, proof, cosigned.root, root)
    witnessed = {"checkpoint": note, "consistency_proof": [h.hex() for h in proof]}
    return witnessed, sorted({r.witness for r in same})
