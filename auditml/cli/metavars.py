"""How `--help` names the values that options and arguments take, for every command.

Typer labels each value with its Python type: `--debug <bool>` (which reads as though
`--debug true` were wanted, and fails), `--type <list[str]>`, and an argument as
`{file}` in the usage line. auditml's help follows the Unix convention instead: a flag
shows no value; a value is one upper-case word (`TIME`, `FILE`, `PATH`, `N`, or the
option's own name); a repeatable option says "(repeatable)"; a choice lists its values;
an argument is `FILE` when required and `[FILE]` when not.

Every command is built from `Typer` here (the root app and each command group), whose
commands and groups fix their parameters' metavars once, when typer builds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

__all__ = ["ZONED_TIME", "Command", "Group", "Typer", "plain_metavar"]

REPEATABLE = "(repeatable)"

#: What every TIME option takes. The ledger refuses a time without a zone rather than
#: guess one (auditml/events/timefmt.py), so the help says so: "ISO 8601" alone allows none.
ZONED_TIME = "an RFC 3339 time with a time zone, e.g. 2026-04-01T00:00:00Z"


class _PlainArgument(TyperArgument):
    """An argument shown by its upper-case name alone, in the usage line and the panel."""

    def display_type_rich(self, ctx: Any) -> str | None:
        # The name (FILE, TYPE, SEQ|ID) already says what to give; typer would add <path>.
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name + ("..." if self.nargs != 1 else "")]


def plain_metavar(param: object) -> None:
    """Give one typer parameter the metavar auditml's help shows (see the module doc)."""
    if isinstance(param, TyperArgument):
        if param.metavar is None:
            param.metavar = (param.name or "value").upper()
        # Typer builds parameters itself and takes no class for them; _PlainArgument
        # only overrides how the argument is displayed, so rebinding the class is safe.
        param.__class__ = _PlainArgument
        return
    if not isinstance(param, TyperOption):
        return
    if param.is_flag or param.count:
        param.metavar = ""
        return
    if param.metavar is None:
        param.metavar = _default_metavar(param)
    if param.multiple and "repeatable" not in (param.help or ""):
        param.help = f"{param.help} {REPEATABLE}" if param.help else REPEATABLE


def _default_metavar(option: TyperOption) -> str:
    """[a|b] for a choice, PATH for a path, N for a number, else the option's name."""
    described = option.type_descriptor
    if described.is_choice and described.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in described.choices) + "]"
    if described.is_path:
        return "PATH"
    if described.annotation in (int, float):
        return "N"
    return max(option.opts, key=len).lstrip("-").replace("-", "_").upper()


class _PlainMetavars:
    """Mixin for typer's command classes: every parameter, --help included, shows a plain
    metavar."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            plain_metavar(param)

    def get_help_option(self, ctx: Any) -> Any:
        # Created lazily by click, so fixed here rather than in __init__.
        option = super().get_help_option(ctx)  # type: ignore[misc]
        plain_metavar(option)
        return option


class Command(_PlainMetavars, TyperCommand):
    """A typer command whose help shows plain metavars."""


class Group(_PlainMetavars, TyperGroup):
    """A typer command group whose help (and options) show plain metavars."""


class Typer(typer.Typer):
    """typer.Typer whose groups and commands are `Group` and `Command` unless told otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(
        self, *args: Any, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)
