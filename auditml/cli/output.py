"""Shared console output: rich for people, JSON for machines."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()
errors = Console(stderr=True)


def print_json(value: Any) -> None:
    """Write value as indented JSON to stdout (no colour, stable key order)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
