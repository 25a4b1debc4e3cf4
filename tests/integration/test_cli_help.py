"""Every `auditml ... --help` as a person reads it: plain metavars, zoned times, `--json`.

The commands are found by walking the click tree typer builds, so a command added later
is held to the same rules without editing this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

import pytest
import typer.main
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from auditml.cli.main import app

ROOT = typer.main.get_command(app)


def walk(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = dict(walk(ROOT))
LEAVES = {path: command for path, command in COMMANDS.items() if not hasattr(command, "commands")}


@cache
def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def options(command: object) -> list[TyperOption]:
    return [p for p in getattr(command, "params", []) if isinstance(p, TyperOption)]


# Typer's own labels: <bool>, <str>, <path>, <int>, <int range>, <list[str]>, <a|b>.
TYPE_LABEL = re.compile(r"<[a-z][a-z_ |\[\]]*>")


def test_the_walk_finds_every_command_group_and_subcommand() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "verify", "check", "db", "db status", "witness init", "policy adopt"} <= names
    assert len(LEAVES) >= 30


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "auditml")
def test_help_shows_plain_metavars(path: tuple[str, ...]) -> None:
    text = help_text(path)
    assert not TYPE_LABEL.search(text), TYPE_LABEL.search(text)
    assert "<bool>" not in text and "<list" not in text
    assert "{" not in text and "}" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    for param in getattr(COMMANDS[path], "params", []):
        if isinstance(param, TyperArgument):
            shown = param.metavar or ""
            assert shown == shown.upper(), f"argument {param.name} shows as {shown!r}"
            assert (shown if param.required else f"[{shown}]") in usage.split()


@pytest.mark.parametrize(
    "path", [p for p, c in LEAVES.items() if any(o.is_flag for o in options(c))], ids=" ".join
)
def test_a_flag_shows_no_value(path: tuple[str, ...]) -> None:
    text = help_text(path)
    for option in options(COMMANDS[path]):
        if option.is_flag:
            row = next(line for line in text.splitlines() if f" {option.opts[0]} " in line)
            # The flag is followed by its help (or its --no- twin), never by a value.
            after = row.split(option.opts[0], 1)[1].split()
            value_like = after[0].isupper() or after[0].startswith("<")
            assert after[0].startswith("--no-") or not value_like, row


def test_a_repeatable_option_says_so() -> None:
    repeatable = [
        (path, option)
        for path, command in LEAVES.items()
        for option in options(command)
        if option.multiple
    ]
    assert {("purge", "--type"), ("verify-evidence", "--key")} <= {
        (" ".join(path), option.opts[0]) for path, option in repeatable
    }
    for path, option in repeatable:
        # The option's own row of the options panel (the description may name it too).
        starts = re.compile(rf"^[│|*\s]*{re.escape(option.opts[0])}\s")
        row = next(line for line in help_text(path).splitlines() if starts.match(line))
        assert f" {option.metavar} " in row and "<list" not in row
        assert "repeatable" in (option.help or ""), (path, option.opts)


def test_purge_help_before_and_after() -> None:
    text = help_text(("purge",))
    assert re.search(r"--type\s+TYPE\s+An event type", text)
    assert re.search(r"--before\s+TIME\s+Shred every whole month before this time", text)
    assert re.search(r"--help\s+Show this message", text)
    assert "Usage: auditml import [OPTIONS] FILE" in help_text(("import",))
    assert "Usage: auditml schema [OPTIONS] [TYPE]" in help_text(("schema",))


TIME_OPTIONS = {
    ("record", "--occurred-at"),
    ("log", "--since"),
    ("log", "--until"),
    ("check", "--as-of"),
    ("report", "--from"),
    ("report", "--to"),
    ("report", "--as-of"),
    ("purge", "--before"),
}


def test_every_time_option_says_the_zone_is_required() -> None:
    found = {
        (" ".join(path), option.opts[0]): option
        for path, command in LEAVES.items()
        for option in options(command)
        if option.metavar == "TIME"
    }
    assert set(found) == TIME_OPTIONS
    for (command, name), option in found.items():
        text = " ".join(help_text((command,)).split())
        assert "RFC 3339 time with a time zone, e.g. 2026-04-01T00:00:00Z" in text, name
        assert "time zone" in (option.help or ""), (command, name)
    for path in LEAVES:  # "ISO 8601" alone allows a time without a zone, which is refused
        assert "ISO 8601" not in help_text(path), path
