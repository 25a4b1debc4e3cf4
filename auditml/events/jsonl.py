"""Read an import file: one event a line, in the shape of `Ledger.record`'s arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditml.errors import ConfigError, ValidationError
from auditml.ledger.canonical import parse_json


def read_event_lines(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the events of a JSONL file and a label ("line N of FILE") for each.

    Blank lines are skipped. Raises ConfigError if the file cannot be read and
    ValidationError, naming the line, if a line is not a JSON object.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    items: list[dict[str, Any]] = []
    labels: list[str] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"line {number} of {path.name}"
        value = parse_json(line, where=where)
        if not isinstance(value, dict):
            raise ValidationError(f"{where}: expected a JSON object with type and payload")
        items.append(value)
        labels.append(where)
    if not items:
        raise ValidationError(f"{path} holds no events; write one JSON object a line")
    return items, labels
