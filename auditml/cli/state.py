"""Options every command shares (set by the top-level callback)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditml.ledger.ledger import Ledger


@dataclass
class GlobalOptions:
    url: str | None = None
    home: Path | None = None
    debug: bool = False

    def open_ledger(self, *, trust_database_keys: bool = False) -> Ledger:
        return Ledger.open(
            self.url,
            key_dir=self.home,
            actor=cli_actor(),
            trust_database_keys=trust_database_keys,
        )


OPTIONS = GlobalOptions()


def cli_actor() -> dict[str, str]:
    """The person running the command, as the actor of what they record."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "cli"
    return {"id": user, "kind": "human"}
