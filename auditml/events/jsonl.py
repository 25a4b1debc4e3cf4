"""Read an import file: one event a line, in the shape of `Ledger.record`'s arguments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditml.errors import ConfigError, ValidationError
from auditml.ledger.canonical import parse_json


def event_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (label, event) for each line of a JSONL file, the label "line N of FILE".

    The file is read line by line, so memory does not grow with it. Blank lines are
    skipped. Raises ConfigError if the file cannot be read and ValidationError, naming
    the line, if a line is not a JSON object, or at the end if the file held no event.
    """
    found = False
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                where = f"line {number} of {path.name}"
                value = parse_json(line, where=where)
                if not isinstance(value, dict):
                    raise ValidationError(f"{where}: expected a JSON object with type and payload")
                found = True
                yield where, value
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if not found:
        raise ValidationError(f"{path} holds no events; write one JSON object a line")
