"""`auditml init`, `record`, `import`, `log`: create a ledger, write to it, read it."""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from auditml.cli.metavars import ZONED_TIME
from auditml.cli.output import console, print_json, shown, visible
from auditml.cli.state import OPTIONS, cli_actor
from auditml.config import (
    DEFAULT_KEY_DIR,
    Settings,
    config_path,
    load_settings,
    write_config,
)
from auditml.errors import ConfigError, ValidationError
from auditml.ledger.canonical import parse_json
from auditml.ledger.ledger import Ledger
from auditml.report.identity import (
    SIGNING_CERT_FILE,
    check_new_signing_identity,
    create_signing_identity,
    fingerprint,
    load_certificate,
)


def init(
    origin: Annotated[
        str | None,
        typer.Option(
            help="Name of this ledger in every checkpoint, e.g. example.com/credit-ledger."
        ),
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option(
            help="Organisation named in the report-signing certificates (default: the "
            "origin's host)."
        ),
    ] = None,
    signer_name: Annotated[
        str | None,
        typer.Option(help="Who signs reports (default: signer_name in auditml.toml, or you)."),
    ] = None,
) -> None:
    """Create a ledger here: the database, the ledger key (mode 0600), the report-signing
    certificates and auditml.toml."""
    settings = load_settings(url=OPTIONS.url, key_dir=OPTIONS.home)
    name = origin or f"auditml.local/{secrets.token_hex(4)}"
    # Every refusal comes before the first file is written, so a corrected re-run works.
    make_signing_identity = _signing_identity_step(
        settings,
        organisation=organisation or name.split("/", 1)[0],
        name=signer_name or settings.signer_name or cli_actor()["id"],
    )
    path = config_path()
    if not path.exists() and not path.parent.is_dir():
        raise ConfigError(
            f"cannot write the settings file {path}: the folder {path.parent} does not exist; "
            "create it, or set AUDITML_CONFIG to a file in an existing folder"
        )
    with Ledger.create(settings.url, origin=name, key_dir=settings.key_dir) as ledger:
        keys, _ = ledger.verifiers()
    signer_note = make_signing_identity()
    if not path.exists():
        write_config(
            path, url=OPTIONS.url or settings.url, key_dir=str(OPTIONS.home or DEFAULT_KEY_DIR)
        )
    # A password in the URL is masked (use ~/.pgpass or PGPASSWORD rather than the URL).
    shown = make_url(settings.url).render_as_string(hide_password=True)
    console.print(f"[green]created[/] ledger [bold]{name}[/] at {shown}", highlight=False)
    console.print(f"  ledger key   {settings.key_dir / 'ledger.key'} (mode 0600)")
    console.print(f"  verifier key {keys[0].to_vkey()}", soft_wrap=True, highlight=False)
    console.print(f"  report signer {signer_note}", soft_wrap=True, highlight=False)
    console.print(f"  settings     {path}")
    console.print(
        "Give the verifier key to your auditors out of band: it is how they check checkpoints."
    )


def _signing_identity_step(
    settings: Settings, *, organisation: str, name: str
) -> Callable[[], str]:
    """Check, writing nothing, what init does about the report-signing identity: create
    one in the key directory unless one is configured or exists.

    Returns the step that does it and says where the identity is. Raises ConfigError if
    the identity cannot be created (see `check_new_signing_identity`).
    """
    if settings.signer_pkcs12 or settings.signer_key or settings.signer_cert:
        return lambda: "from auditml.toml (your own certificate; nothing created)"
    key_dir = settings.key_dir
    if (key_dir / SIGNING_CERT_FILE).exists():
        found = load_certificate(key_dir / SIGNING_CERT_FILE)
        return lambda: f"{key_dir / SIGNING_CERT_FILE} (existing; sha256 {fingerprint(found)})"
    check_new_signing_identity(key_dir, organisation=organisation, name=name)

    def create() -> str:
        identity = create_signing_identity(
            key_dir,
            organisation=organisation,
            name=name,
            role=settings.signer_role,
            meaning=settings.signature_meaning,
        )
        return (
            f"{key_dir / SIGNING_CERT_FILE} (CA {key_dir / 'report-ca.pem'}, keys mode 0600; "
            f"sha256 {fingerprint(identity.certificate)})"
        )

    return create


def record(
    event_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="Event type, e.g. model.deployed.")
    ],
    payload: Annotated[str, typer.Option(metavar="JSON", help="The payload as a JSON object.")],
    occurred_at: Annotated[
        str | None,
        typer.Option(metavar="TIME", help=f"When it happened, {ZONED_TIME} (default: now)."),
    ] = None,
    event_id: Annotated[
        str | None, typer.Option("--id", help="Idempotency key for this event.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="The AI system this concerns.")] = None,
    subject: Annotated[
        str | None,
        typer.Option(help="The data subject's identifier (stored only as a pseudonymous token)."),
    ] = None,
    personal: Annotated[
        str | None,
        typer.Option(metavar="JSON", help="Personal data as a JSON object (stored sealed)."),
    ] = None,
    actor_id: Annotated[str | None, typer.Option(help="Who did it (default: you).")] = None,
    actor_kind: Annotated[str, typer.Option(help="human or service.")] = "human",
    actor_role: Annotated[str | None, typer.Option(help="Their role, e.g. dpo.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Record one event and print its receipt."""
    value = parse_json(payload, where="--payload")
    if not isinstance(value, dict):
        raise ValidationError('--payload must be a JSON object, e.g. \'{"model": "credit"}\'')
    personal_value = None if personal is None else parse_json(personal, where="--personal")
    if personal_value is not None and not isinstance(personal_value, dict):
        raise ValidationError('--personal must be a JSON object, e.g. \'{"email": "..."}\'')
    actor = cli_actor()
    if actor_id:
        actor = {"id": actor_id, "kind": actor_kind}
    if actor_role:
        actor["role"] = actor_role
    with OPTIONS.open_ledger() as ledger:
        receipt = ledger.record(
            event_type,
            payload=value,
            occurred_at=occurred_at,
            id=event_id,
            subject=subject,
            personal=personal_value,
            system=system,
            actor=actor,
        )
    if json_out:
        print_json({"seq": receipt.seq, "id": receipt.id, "leaf_hash": receipt.leaf_hash})
    else:
        console.print(f"recorded [bold]{event_type}[/] as seq {receipt.seq}, id {receipt.id}")


def import_events(
    file: Annotated[
        Path, typer.Argument(help="JSONL file: one event a line (type, payload, ...).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import events from a JSONL file, all or nothing: a bad line writes nothing."""
    with OPTIONS.open_ledger() as ledger, console.status(f"recording the events of {file}"):
        result = ledger.import_jsonl(file)
    if json_out:
        print_json(dataclasses.asdict(result))
        return
    where = f" (seq {result.first_seq} to {result.last_seq})" if result.imported else ""
    notes = []
    if result.duplicates:
        notes.append(
            f"{_count(result.duplicates, 'duplicate line')} skipped (the id and content of "
            "an earlier line)"
        )
    if result.already_recorded:
        notes.append(
            f"{_count(result.already_recorded, 'line')} already in the ledger (same id and "
            "content), not written again"
        )
    console.print(
        f"imported {_count(result.imported, 'event')} from {file}{where}"
        + "".join(f"; {note}" for note in notes),
        highlight=False,
    )


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def log(
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    system: Annotated[str | None, typer.Option(help="Only this AI system.")] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="TIME", help=f"Occurred at or after this time, {ZONED_TIME}."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help=f"Occurred before this time, {ZONED_TIME}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 20,
    oldest_first: Annotated[
        bool, typer.Option(help="Oldest first instead of newest first.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print envelopes as JSON.")] = False,
) -> None:
    """List events, newest first."""
    with OPTIONS.open_ledger() as ledger:
        found = list(
            ledger.events(
                type=event_type,
                system=system,
                since=since,
                until=until,
                limit=limit,
                newest_first=not oldest_first,
            )
        )
    if json_out:
        print_json([event.to_json() for event in found])
        return
    systems = {e.system for e in found}
    one_system = len(systems) == 1
    headers = ["seq", "occurred", "type", *([] if one_system else ["system"]), "actor", "payload"]
    rows = [
        [
            str(e.seq),
            e.occurred_at[:16].replace("T", " "),
            e.type,
            *([] if one_system else [e.system]),
            visible(e.actor.id),
            visible(_summary(e.payload)),
        ]
        for e in found
    ]
    # Identifying columns keep their width; the payload glimpse is cut to what is left.
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers[:-1])]
    room = max(12, console.width - sum(widths) - 3 * len(headers) - 1)
    title = f"{len(found)} event(s), times in UTC" + (
        f", system {shown(systems.pop())}" if one_system else ""
    )
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        # The seq is what `prove` takes: it is never cut, nor is the time. In a narrow
        # terminal type, system, actor and payload give way, ending in an ellipsis.
        whole = index < 2
        table.add_column(header, no_wrap=whole, overflow="fold" if whole else "ellipsis")
    for row in rows:
        glimpse = row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "\u2026"
        # Text cells: event data is shown as it is, never read as markup.
        table.add_row(*map(Text, row[:-1]), Text(glimpse))
    console.print(table)


def _summary(payload: dict[str, object]) -> str:
    """A one-line glimpse of a payload: key=value pairs, long values shortened."""
    parts = []
    for key, value in payload.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={text if len(text) <= 20 else text[:17] + '...'}")
    return ", ".join(parts)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(record)
    app.command("import")(import_events)
    app.command()(log)
