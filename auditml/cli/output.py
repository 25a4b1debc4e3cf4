"""Shared console output: rich for people, JSON for machines."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec

from rich.console import Console

from auditml.errors import IntegrityError, ProofError, SignatureError

console = Console()
errors = Console(stderr=True)

P = ParamSpec("P")


def print_json(value: Any) -> None:
    """Write value as indented JSON to stdout (no colour, stable key order)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def integrity_failure(exc: IntegrityError) -> dict[str, Any]:
    """The JSON a verifying command prints under --json when the evidence fails.

    `error` is "signature" (a signed note or cosignature does not verify), "proof" (a
    Merkle proof does not) or "integrity" (anything else: a hash, the chain, a row);
    `first_bad_seq` is the first ledger position found bad, or null when the failure is
    not tied to one.
    """
    kind = (
        "signature"
        if isinstance(exc, SignatureError)
        else "proof"
        if isinstance(exc, ProofError)
        else "integrity"
    )
    return {"ok": False, "error": kind, "message": str(exc), "first_bad_seq": exc.seq}


def json_on_failure(command: Callable[P, None]) -> Callable[P, None]:
    """Make a command that takes `json_out` print an IntegrityError as JSON on stdout too.

    The error still reaches `main.run`, which prints it on stderr and exits 1, so a script
    reading stdout gets `{"ok": false, ...}` instead of nothing.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except IntegrityError as exc:
            if kwargs.get("json_out"):
                print_json(integrity_failure(exc))
            raise

    return run
