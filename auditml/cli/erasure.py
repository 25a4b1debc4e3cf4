"""`auditml erase` and `auditml purge`: crypto-shredding personal data on an append-only ledger."""

from __future__ import annotations

from typing import Annotated

import typer

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
) -> None:
    """Erase a data subject (GDPR Art. 17) by crypto-shredding; record erasure.completed.

    Deletes their data key and token mapping in the same transaction. Proofs, reports
    and `verify --deep` stay valid.
    """
    if (subject is None) == (token is None):
        raise ValidationError("give --subject or --token (one of them)")
    with OPTIONS.open_ledger() as ledger:
        receipt = ledger.erase(
            subject, token=token, reason=reason, request_id=request_id, actor=cli_actor()
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
        str, typer.Option(help="Shred subjects with nothing recorded since this time (ISO 8601).")
    ],
    reason: Annotated[str, typer.Option(help="The retention rule applied.")],
) -> None:
    """Crypto-shred personal data whose retention has passed; record log.purged.

    No row is deleted: the data keys of subjects with no event recorded since --before are,
    so their sealed fields read as erased and every proof still verifies. `auditml check`
    flags a purge of logs younger than six months (AI Act Art. 19, 26(6)).
    """
    with OPTIONS.open_ledger() as ledger:
        receipt, shredded = ledger.purge(before, reason=reason, actor=cli_actor())
    console.print(
        f"[green]purged[/]: {shredded} subject(s) crypto-shredded; log.purged recorded as "
        f"seq {receipt.seq}"
    )


def register(app: typer.Typer) -> None:
    app.command()(erase)
    app.command()(purge)
