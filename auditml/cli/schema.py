"""`auditml schema [TYPE]`: the event types of vocabulary v1 and their payload schemas."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from auditml.cli.output import console, print_json
from auditml.events.payloads import PAYLOAD_MODELS, SEALED_FIELDS, SUBJECT_REQUIRED, json_schema


def schema(
    event_type: Annotated[
        str | None,
        typer.Argument(
            metavar="TYPE", help="An event type, e.g. decision.made.", show_default=False
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the event types and their fields, or print one type's payload JSON Schema."""
    if event_type is not None:
        # Always JSON: a schema is for tools. Unknown types raise ValidationError (exit 2).
        print_json(json_schema(event_type))
        return
    if json_out:
        print_json(json_schema())
        return
    # Fields one per line, sealed ones marked: three columns fit an 80-column terminal.
    table = Table(
        title="auditml vocabulary v1",
        title_justify="left",
        caption="Every type also takes an optional `personal` object (sealed). "
        "Sealed fields are stored encrypted under the subject's key and need a subject.",
        caption_justify="left",
        show_lines=True,
    )
    table.add_column("type", no_wrap=True)
    table.add_column("required fields", overflow="fold")
    table.add_column("optional fields", overflow="fold")
    for name, model in PAYLOAD_MODELS.items():
        sealed = SEALED_FIELDS[name]
        required: list[str] = []
        optional: list[str] = []
        for field, info in model.model_fields.items():
            if field != "personal":
                label = f"{field} [dim](sealed)[/]" if field in sealed else field
                (required if info.is_required() else optional).append(label)
        note = "\n[dim]subject required[/]" if name in SUBJECT_REQUIRED else ""
        table.add_row(name + note, "\n".join(required), "\n".join(optional))
    console.print(table)


def register(root: typer.Typer) -> None:
    root.command()(schema)
