"""Adding a witness to a witness policy's text (what `witness init --policy` writes)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditml.errors import ValidationError
from auditml.ledger.witness import (
    CosignatureSigner,
    CosignatureVerifier,
    add_witness,
    check_new_witness_label,
    parse_policy,
)


def key(seed: int, name: str = "example.com/w") -> CosignatureVerifier:
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return CosignatureSigner(f"{name}{seed}", private).verifier


def test_an_empty_policy_becomes_this_witness_alone() -> None:
    text, policy = add_witness("", "dpo", key(1))
    assert text == f"witness dpo {key(1).to_vkey()}\nquorum 1\n"
    assert policy.satisfied(["dpo"]) and policy.describe() == "1 of 1 (dpo)"
    commented, _ = add_witness("# who must see the ledger\n", "dpo", key(1))
    assert commented.startswith("# who must see the ledger\nwitness dpo ")


def test_the_line_goes_before_quorum_k_so_that_k_counts_it() -> None:
    before = (
        f"# two of them\nwitness a {key(1).to_vkey()}\nwitness b {key(2).to_vkey()}\nquorum 2\n"
    )
    text, policy = add_witness(before, "c", key(3))
    assert text.splitlines()[:3] == before.splitlines()[:3]
    assert text.splitlines()[3] == f"witness c {key(3).to_vkey()}"
    assert text.splitlines()[4] == "quorum 2"
    assert policy.satisfied(["a", "c"]) and not policy.satisfied(["c"])
    assert policy.describe() == "2 of 3 (a, b, c)"


def test_a_named_quorum_is_left_as_written() -> None:
    before = (
        f"witness a {key(1).to_vkey()}\nwitness b {key(2).to_vkey()}\n"
        "group both all a b\nquorum both\n"
    )
    text, policy = add_witness(before, "c", key(3))
    assert text.endswith(f"witness c {key(3).to_vkey()}\nquorum both\n")
    assert policy.quorum == "both" and not policy.satisfied(["c"])
    assert policy.satisfied(["a", "b"])


@pytest.mark.parametrize(
    ("before", "label", "seed", "message"),
    [
        ("witness a {k1}\nquorum 1\n", "a", 2, "p.policy already defines 'a'"),
        ("witness a {k1}\ngroup g any a\nquorum g\n", "g", 2, "already defines 'g'"),
        ("witness a {k1}\nquorum 1\n", "b", 1, "already lists this witness key as 'a'"),
        ("witness a {k1}\n", "b", 2, "has no quorum line"),
        ("", "2nd", 2, "not a usable name"),
        ("", "quorum", 2, "not a usable name"),
    ],
)
def test_refusals(before: str, label: str, seed: int, message: str) -> None:
    text = before.format(k1=key(1).to_vkey())
    with pytest.raises(ValidationError, match=message):
        add_witness(text, label, key(seed), where="p.policy")


def test_a_label_is_checked_before_any_key_exists() -> None:
    check_new_witness_label("", "dpo")
    check_new_witness_label(f"witness a {key(1).to_vkey()}\nquorum 1\n", "dpo")
    with pytest.raises(ValidationError, match="already defines 'a'"):
        check_new_witness_label(f"witness a {key(1).to_vkey()}\nquorum 1\n", "a")
    assert parse_policy(add_witness("", "dpo.example/witness", key(1))[0]).witnesses
