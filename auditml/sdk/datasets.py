"""Record where training data came from and where it went: `dataset.registered`,
`dataset.derived` and `dataset.deleted`.

A dataset is identified by the SHA-256 of its content, computed here from a local file
or directory (streamed, see `auditml.sdk.digests`) or given by the caller for remote data.

Example::

    from auditml.sdk import register_dataset
    register_dataset(ledger, "loans-2025", "data/loans.parquet", purposes=["credit scoring"],
                     lawful_basis="contract", contains_personal_data=True, retention="P5Y")
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Unpack
from urllib.parse import unquote, urlparse

from auditml.errors import ValidationError
from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions
from auditml.sdk.choices import (
    DATASET_DISPOSALS,
    LAWFUL_BASES,
    SPECIAL_CATEGORIES,
    SPECIAL_CATEGORY_CONDITIONS,
    DatasetDisposal,
    LawfulBasis,
    SpecialCategory,
    SpecialCategoryCondition,
)
from auditml.sdk.digests import sha256_path

__all__ = ["DatasetRecord", "delete_dataset", "derive_dataset", "register_dataset"]

# "scheme://..." marks a URI (s3://, gs://, https://, file://); anything else is a path.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# ISO 8601 durations in whole units, as the vocabulary accepts them (P5Y, P6M, PT72H, P2W).
_TIME = r"T(?:\d+H(?:\d+M)?(?:\d+S)?|\d+M(?:\d+S)?|\d+S)"
_DATE = r"(?:\d+Y(?:\d+M)?(?:\d+D)?|\d+M(?:\d+D)?|\d+D)"
_DURATION = re.compile(rf"P(?:\d+W|{_DATE}(?:{_TIME})?|{_TIME})")


@dataclass(frozen=True)
class DatasetRecord:
    """What was recorded about a dataset, and where in the ledger."""

    dataset_id: str
    #: SHA-256 of the content, lowercase hex.
    sha256: str
    #: Where the data lives as recorded (`dataset.registered` only; None for derived).
    uri: str | None
    receipt: Receipt
    #: Symbolic links inside a hashed directory that were not followed (relative paths):
    #: the content behind them is not covered by `sha256`. Worth a warning in your logs.
    symlinks: tuple[str, ...] = ()


def register_dataset(
    ledger: Ledger,
    dataset_id: str,
    source: str | os.PathLike[str],
    *,
    purposes: str | Iterable[str],
    contains_personal_data: bool,
    name: str | None = None,
    lawful_basis: LawfulBasis | None = None,
    special_categories: Iterable[SpecialCategory] = (),
    special_category_condition: SpecialCategoryCondition | None = None,
    retention: str | None = None,
    collected_at: datetime | str | None = None,
    sha256: str | None = None,
    **options: Unpack[EventOptions],
) -> DatasetRecord:
    """Hash a dataset and record `dataset.registered`; return what was recorded.

    `source` is a local file, a local directory, or a URI (``s3://``, ``https://``,
    ``file://``...). Local data is hashed here (streamed; directories as described in
    `auditml.sdk.digests`, symlinks not followed); `sha256` given as well is then checked
    against the content. Remote data cannot be read here: pass its `sha256`. The recorded
    ``uri`` is the URI as given, or the absolute ``file://`` URI of a local path.
    `name` defaults to `dataset_id`; `retention` is an ISO 8601 duration such as ``P5Y``.
    With `special_categories`, `special_category_condition` names the GDPR Art. 9(2) point
    that allows processing them (``"a"`` explicit consent ... ``"j"`` research).
    `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        record = register_dataset(ledger, "loans-2025", "data/loans/", purposes="credit scoring",
                                  contains_personal_data=True, lawful_basis="contract")
        print(record.sha256, record.receipt.seq)

    Raises ValidationError (nothing recorded) for a bad argument, a path that cannot be
    read, a URI without `sha256`, or a `sha256` that does not match local content.
    """
    where = "register_dataset"
    dataset_id = _common.text(dataset_id, "dataset_id", where)
    uri, digest, symlinks = _locate(source, sha256, where)
    if retention is not None and not (
        isinstance(retention, str) and _DURATION.fullmatch(retention)
    ):
        raise ValidationError(
            f"{where}: retention must be an ISO 8601 duration in whole units such as P5Y, P6M "
            f"or P30D, got {retention!r}"
        )
    payload = _common.compact(
        {
            "dataset_id": dataset_id,
            "name": _common.text(name, "name", where) if name is not None else dataset_id,
            "uri": uri,
            "sha256": digest,
            "contains_personal_data": _common.flag(
                contains_personal_data, "contains_personal_data", where
            ),
            "special_categories": [
                _common.choice(category, SPECIAL_CATEGORIES, "special_categories", where)
                for category in _common.names(
                    special_categories, "special_categories", where, min_items=0
                )
            ],
            "lawful_basis": None
            if lawful_basis is None
            else _common.choice(lawful_basis, LAWFUL_BASES, "lawful_basis", where),
            "special_category_condition": None
            if special_category_condition is None
            else _common.choice(
                special_category_condition,
                SPECIAL_CATEGORY_CONDITIONS,
                "special_category_condition",
                where,
            ),
            "purposes": _common.names(purposes, "purposes", where),
            "retention": retention,
            "collected_at": None
            if collected_at is None
            else _common.timestamp(collected_at, "collected_at", where),
        }
    )
    receipt = _common.record(ledger, "dataset.registered", payload, options)
    return DatasetRecord(dataset_id, digest, uri, receipt, symlinks)


def derive_dataset(
    ledger: Ledger,
    dataset_id: str,
    inputs: str | Iterable[str],
    transformation: str,
    source_or_sha256: str | os.PathLike[str],
    code_version: str | None = None,
    **options: Unpack[EventOptions],
) -> DatasetRecord:
    """Record `dataset.derived`: `dataset_id` was made from the `inputs` datasets (their ids,
    stored as ``dataset:ID``).

    `source_or_sha256` is the new dataset's local file or directory (hashed here) or its
    SHA-256 (64 hex characters). `code_version` is what did the transformation, e.g.
    ``git_revision()``. `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        derive_dataset(ledger, "loans-2025-clean", ["loans-2025"], "dedupe; drop free text",
                       "data/clean.parquet", code_version=git_revision())

    Raises ValidationError (nothing recorded) for a bad argument, an unreadable path, or
    inputs that would make the dataset derived from itself (directly or not).
    """
    where = "derive_dataset"
    symlinks: tuple[str, ...] = ()
    if isinstance(source_or_sha256, str) and _common.SHA256_HEX.fullmatch(source_or_sha256):
        digest = source_or_sha256.lower()
    else:
        hashed = sha256_path(_local_path(source_or_sha256, where))
        digest, symlinks = hashed.sha256, hashed.symlinks
    payload = _common.compact(
        {
            "dataset_id": _common.text(dataset_id, "dataset_id", where),
            "inputs": _common.names(inputs, "inputs", where),
            "transformation": _common.text(transformation, "transformation", where),
            "code_version": _common.optional_text(code_version, "code_version", where),
            "sha256": digest,
        }
    )
    receipt = _common.record(ledger, "dataset.derived", payload, options)
    return DatasetRecord(payload["dataset_id"], digest, None, receipt, symlinks)


def delete_dataset(
    ledger: Ledger,
    dataset_id: str,
    method: DatasetDisposal = "deleted",
    *,
    reason: str | None = None,
    **options: Unpack[EventOptions],
) -> Receipt:
    """Record `dataset.deleted`: `dataset_id` was deleted or anonymised (GDPR Art. 5(1)(e)).

    Record it once every copy is gone (backups included, as your retention policy says),
    or once the data can no longer identify anyone (`method` ``"anonymised"``). The
    dataset is stored as the reference ``dataset:<id>``; a reference given already
    prefixed is kept. `reason` says why, e.g. the retention period ended. `options` are
    the envelope fields (actor, occurred_at, id, system).

    Example::

        delete_dataset(ledger, "loans-2019", reason="5-year retention ended (Art. 5(1)(e))")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    where = "delete_dataset"
    name = _common.text(dataset_id, "dataset_id", where)
    payload = _common.compact(
        {
            "target": name if name.startswith("dataset:") else f"dataset:{name}",
            "method": _common.choice(method, DATASET_DISPOSALS, "method", where),
            "reason": _common.optional_text(reason, "reason", where),
        }
    )
    return _common.record(ledger, "dataset.deleted", payload, options)


def _locate(source: object, sha256: str | None, where: str) -> tuple[str, str, tuple[str, ...]]:
    """Return (uri to record, content digest, unfollowed symlinks) for a dataset source."""
    if sha256 is not None and not (
        isinstance(sha256, str) and _common.SHA256_HEX.fullmatch(sha256)
    ):
        raise ValidationError(f"{where}: sha256 must be 64 hex characters, got {sha256!r}")
    expected = sha256.lower() if sha256 is not None else None
    if isinstance(source, str) and _URI.match(source) and not source.startswith("file://"):
        if expected is None:
            raise ValidationError(
                f"{where}: {source} is remote and cannot be hashed here; pass sha256= with the "
                "SHA-256 of its content (or download it and pass the local path)"
            )
        return source, expected, ()
    path = _local_path(source, where)
    hashed = sha256_path(path)
    if expected is not None and expected != hashed.sha256:
        raise ValidationError(
            f"{where}: the content of {path} has SHA-256 {hashed.sha256}, not the sha256= given "
            f"({expected}); the data changed, or the digest belongs to another copy"
        )
    return path.absolute().as_uri(), hashed.sha256, hashed.symlinks


def _local_path(source: object, where: str) -> Path:
    """The local path named by a path, a path string or a ``file://`` URI."""
    if isinstance(source, str) and source.startswith("file://"):
        parsed = urlparse(source)
        if parsed.netloc not in ("", "localhost"):
            raise ValidationError(f"{where}: {source} names another host; pass sha256= instead")
        return Path(unquote(parsed.path))
    if isinstance(source, str | os.PathLike) and str(source):
        path = Path(source)
        if not path.exists():
            raise ValidationError(
                f"{where}: no such file or directory: {path}; for remote data pass its URI "
                "(e.g. s3://bucket/key) with sha256="
            )
        return path
    raise ValidationError(
        f"{where}: the source must be a file or directory path or a URI, got "
        f"{type(source).__name__}"
    )
