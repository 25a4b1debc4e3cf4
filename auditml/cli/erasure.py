"""`auditml erase` and `auditml purge`: crypto-shredding personal data on an append-only ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from auditml.cli.metavars import ZONED_TIME
from auditml.cli.output import console
from auditml.cli.state import OPTIONS, cli_actor
from auditml.errors import ValidationError


def erase(
    reason: Annotated[
        str, typer.Option(help="The ground, e.g. 'Art. 17(1)(b): consent withdrawn'.")
    ],
    subject: Annotated[
        str | None, typer.Option(help="The data subject's own identifier (never stored).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Or the subject's token (sub_...), as shown in the log.")
    ] = None,
    request_id: Annotated[
        str | None,
        typer.Option(help="The erasure request (dsr.received) this answers, as completed."),
    ] = None,
    recipient: Annotated[
        list[str] | None,
        typer.Option(
            "--recipient",
            help="A recipient the subject's data was disclosed to, who must be told of the "
            "erasure (GDPR Art. 19; repeatable).",
        ),
    ] = None,
) -> None:
    """Erase a data subject (GDPR Art. 17) by crypto-shredding; record erasure.completed.

    Deletes their data key and token mapping in the same transaction. Proofs, reports
    and `verify --deep` stay valid.
    """
    if (subject is None) == (token is None):
        raise ValidationError("give --subject or --token (one of them)")
    with OPTIONS.open_ledger() as ledger:
        receipt = ledger.erase(
            subject,
            token=token,
            reason=reason,
            request_id=request_id,
            actor=cli_actor(),
            recipients=recipient,
        )
    console.print(
        f"[green]erased[/] the subject: erasure.completed recorded as seq {receipt.seq}"
        + (f"; request {request_id} answered as completed" if request_id else "")
    )
    console.print(
        "  sealed fields about them now read as erased; their token can no longer be linked "
        "to the identifier"
    )


def purge(
    before: Annotated[
        str,
        typer.Option(
            metavar="TIME",
            help=f"Shred every whole month before this time, {ZONED_TIME}; a time inside a "
            "month keeps that month.",
        ),
    ],
    reason: Annotated[str, typer.Option(help="The retention rule applied.")],
    type: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            help="An event type whose retention passed (repeatable); default: every type.",
        ),
    ] = None,
) -> None:
    """Crypto-shred sealed content whose retention has passed; record log.purged.

    No row is deleted: the class keys of the chosen event types for every month before
    --before are, so what those events sealed reads as erased while every proof still
    verifies; other types and later months stay readable. log.purged records up_to, the
    start of the first month kept. `auditml check` flags a purge of logs younger than six
    months (AI Act Art. 19, 26(6)).
    """
    with OPTIONS.open_ledger() as ledger:
        receipt, shredded = ledger.purge(before, reason=reason, types=type, actor=cli_actor())
        up_to = ledger.get(receipt.seq).payload["up_to"]
    console.print(
        f"[green]purged[/]: {shredded} class key(s) (event type and month) crypto-shredded "
        f"before {up_to}; log.purged recorded as seq {receipt.seq}"
    )


def register(app: typer.Typer) -> None:
    app.command()(erase)
    app.command()(purge)
