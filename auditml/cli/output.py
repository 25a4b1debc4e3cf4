"""Shared console output: rich for people, JSON for machines."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any, ParamSpec

from rich.console import Console
from rich.markup import escape

from auditml.errors import IntegrityError, ProofError, SignatureError

# No emoji codes: nothing auditml prints means one, and event data may hold `:word:`
# (an event id like `run:smile:1` would otherwise print a face).
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)

# C0 controls, DEL and C1 controls: ESC and CSI start terminal commands (colours, the
# window title, the clipboard), so data must never send them to the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

P = ParamSpec("P")


def visible(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\n`)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def shown(value: object) -> str:
    """Untrusted text (event data, names from files) for a Rich string: printed as it is,
    never read as markup (`[/]`, `[bold red]`, `[link=...]`), and no control characters.

    Use it for every value that did not come from auditml itself, in `console.print`
    strings, table cells and titles; a `rich.text.Text` takes `visible(text)`.
    """
    return escape(visible(str(value)))


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
