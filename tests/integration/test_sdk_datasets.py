"""auditml.sdk datasets and digests: streamed file hashes, deterministic directory hashes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from auditml import Ledger, ValidationError
from auditml.events.payloads import validate_payload
from auditml.sdk import derive_dataset, register_dataset, sha256_file, sha256_path
from auditml.sdk import digests as digests_module


def payloads(ledger: Ledger, event_type: str) -> list[dict[str, Any]]:
    found = [event.payload for event in ledger.events(type=event_type)]
    for payload in found:  # every payload fits the vocabulary's model
        validate_payload(event_type, payload, where="read back")
    return found


def make_tree(root: Path, order: list[str]) -> None:
    contents = {"b.csv": b"b,1\n", "a/x.csv": b"x,2\n", "a/y/z.bin": bytes(range(256)), "c": b""}
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[name])


def expected_directory_digest(root: Path) -> str:
    """The documented format, computed independently: sorted `path\\0size\\0sha256\\n` lines."""
    lines = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            relative = path.relative_to(root).as_posix()
            lines.append(f"{relative}\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def test_file_is_hashed_and_registered(ledger: Ledger, tmp_path: Path) -> None:
    data = tmp_path / "loans.csv"
    data.write_bytes(b"id,income\n1,52000\n")
    record = register_dataset(
        ledger,
        "loans-2025",
        data,
        purposes="credit scoring",
        lawful_basis="contract",
        contains_personal_data=True,
        special_categories=["health_data"],
        retention="P5Y",
        collected_at="2025-12-31T23:00:00+01:00",
    )
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    assert record.sha256 == digest and record.dataset_id == "loans-2025"
    [payload] = payloads(ledger, "dataset.registered")
    assert payload == {
        "dataset_id": "loans-2025",
        "name": "loans-2025",
        "uri": data.absolute().as_uri(),
        "sha256": digest,
        "contains_personal_data": True,
        "special_categories": ["health_data"],
        "lawful_basis": "contract",
        "purposes": ["credit scoring"],
        "retention": "P5Y",
        "collected_at": "2025-12-31T22:00:00.000000Z",
    }
    assert ledger.get(record.receipt.seq).id == record.receipt.id


def test_large_file_is_streamed_in_one_mebibyte_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    requested: list[int] = []

    class Spy:
        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()

        def readinto(self, buffer: bytearray) -> int:
            requested.append(len(buffer))
            return int(self.stream.readinto(buffer))

        def read(self, *args: object) -> bytes:  # a whole-file read would land here
            raise AssertionError("the file was read whole")

    real_open = open
    monkeypatch.setattr(
        digests_module,
        "open",
        lambda *args, **kwargs: Spy(real_open(*args, **kwargs)),
        raising=False,
    )
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert set(requested) == {1024 * 1024}
    assert len(requested) == 7  # five full chunks, one partial, one empty read at the end


def test_directory_digest_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    make_tree(first, ["b.csv", "a/x.csv", "a/y/z.bin", "c"])
    make_tree(second, ["c", "a/y/z.bin", "b.csv", "a/x.csv"])
    (second / "empty-dir").mkdir()  # empty directories contribute nothing
    one, two = sha256_path(first), sha256_path(second)
    assert one.sha256 == two.sha256 == expected_directory_digest(first)
    assert (one.files, one.total_bytes, one.symlinks) == (4, 4 + 4 + 256, ())
    (second / "a" / "x.csv").write_bytes(b"x,3\n")
    assert sha256_path(second).sha256 != one.sha256
    (second / "a" / "x.csv").write_bytes(b"x,2\n")
    (second / "a" / "x.csv").rename(second / "a" / "w.csv")  # a rename is a change too
    assert sha256_path(second).sha256 != one.sha256


def test_directory_symlinks_are_recorded_but_not_followed(ledger: Ledger, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_bytes(b"secret,1\n")
    root = tmp_path / "data"
    make_tree(root, ["b.csv", "a/x.csv"])
    without_link = sha256_path(root).sha256
    (root / "link.csv").symlink_to(outside)
    (root / "loop").symlink_to(root)  # a cycle would hang a walker that follows links
    with_links = sha256_path(root)
    assert with_links.symlinks == ("link.csv", "loop")
    assert with_links.files == 2  # the link targets were not read
    assert with_links.sha256 != without_link  # adding a link is a change
    outside.write_bytes(b"changed,2\n")
    assert sha256_path(root).sha256 == with_links.sha256  # content behind a link not covered
    (root / "link.csv").unlink()
    (root / "link.csv").symlink_to(tmp_path / "elsewhere.csv")  # dangling, re-pointed
    assert sha256_path(root).sha256 != with_links.sha256
    record = register_dataset(
        ledger, "linked", root, purposes=["test"], contains_personal_data=False
    )
    assert record.symlinks == ("link.csv", "loop")
    # A link named as the source itself is followed: it was named on purpose.
    top = tmp_path / "top-link"
    top.symlink_to(root / "b.csv")
    assert sha256_path(top).sha256 == hashlib.sha256(b"b,1\n").hexdigest()


def test_uri_needs_an_explicit_sha256(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match=r"s3://bank/loans.parquet is remote.*sha256="):
        register_dataset(
            ledger,
            "loans",
            "s3://bank/loans.parquet",
            purposes=["credit"],
            contains_personal_data=True,
        )
    assert len(ledger) == 0
    record = register_dataset(
        ledger,
        "loans",
        "s3://bank/loans.parquet",
        purposes=["credit"],
        contains_personal_data=True,
        sha256="AB" * 32,
    )
    assert record.sha256 == "ab" * 32 and record.uri == "s3://bank/loans.parquet"
    assert payloads(ledger, "dataset.registered")[0]["uri"] == "s3://bank/loans.parquet"


def test_local_content_must_match_a_given_sha256(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"1\n")
    with pytest.raises(ValidationError, match="not the sha256= given"):
        register_dataset(
            ledger, "d", path, purposes="p", contains_personal_data=False, sha256="0" * 64
        )
    record = register_dataset(
        ledger,
        "d",
        path.absolute().as_uri(),  # file:// URIs are local paths
        purposes="p",
        contains_personal_data=False,
        sha256=hashlib.sha256(b"1\n").hexdigest(),
    )
    assert record.uri == path.absolute().as_uri()
    assert len(ledger) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"source": "missing.csv"}, "no such file or directory: missing.csv"),
        ({"purposes": []}, "purposes needs at least 1"),
        ({"special_categories": ["health"]}, "special_categories must be one of"),
        ({"lawful_basis": "consented"}, "lawful_basis must be one of consent, contract"),
        ({"retention": "5 years"}, "retention must be an ISO 8601 duration"),
        ({"contains_personal_data": "yes"}, "contains_personal_data must be True or False"),
        ({"collected_at": "2025-01-01T00:00:00"}, "collected_at.*has no timezone"),
        ({"dataset_id": ""}, "dataset_id must be a non-empty string"),
    ],
)
def test_obvious_mistakes_are_refused_before_anything_is_written(
    ledger: Ledger, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    (tmp_path / "d.csv").write_bytes(b"1\n")
    arguments: dict[str, Any] = {
        "dataset_id": "d",
        "source": "d.csv",
        "purposes": ["p"],
        "contains_personal_data": False,
        **change,
    }
    with pytest.raises(ValidationError, match=message):
        register_dataset(ledger, **arguments)
    assert len(ledger) == 0


def test_fifo_in_a_dataset_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_tree(root, ["b.csv"])
    os.mkfifo(root / "pipe")
    with pytest.raises(ValidationError, match="FIFO, socket or device"):
        sha256_path(root)


def test_derived_dataset_from_a_path_or_a_digest(ledger: Ledger, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    make_tree(clean, ["b.csv", "a/x.csv"])
    from_path = derive_dataset(
        ledger, "loans-clean", ["loans-2025"], "dedupe; drop free text", clean, code_version="abc1"
    )
    from_digest = derive_dataset(ledger, "loans-sample", "loans-clean", "10% sample", "cd" * 32)
    assert from_path.sha256 == expected_directory_digest(clean)
    assert from_digest.sha256 == "cd" * 32
    assert payloads(ledger, "dataset.derived") == [
        {
            "dataset_id": "loans-clean",
            "inputs": ["dataset:loans-2025"],  # the canonical reference
            "transformation": "dedupe; drop free text",
            "code_version": "abc1",
            "sha256": from_path.sha256,
        },
        {
            "dataset_id": "loans-sample",
            "inputs": ["dataset:loans-clean"],
            "transformation": "10% sample",
            "sha256": "cd" * 32,
        },
    ]
    with pytest.raises(ValidationError, match="inputs needs at least 1"):
        derive_dataset(ledger, "x", [], "t", "cd" * 32)
