"""Record a model version going into and out of service: `model.deployed`, `model.retired`.

Example::

    deploy_model(ledger, "credit", "3.2", "production")
    retire_model(ledger, "credit", "3.1", "production")
"""

from __future__ import annotations

from typing import Unpack

from auditml.ledger.ledger import Ledger, Receipt
from auditml.sdk import _common
from auditml.sdk._common import EventOptions

__all__ = ["deploy_model", "retire_model"]


def deploy_model(
    ledger: Ledger, model: str, version: str, environment: str, **options: Unpack[EventOptions]
) -> Receipt:
    """Record `model.deployed`: `model` `version` went into service in `environment`.

    `options` are the envelope fields (actor, occurred_at, id, system).

    Example::

        deploy_model(ledger, "credit", "3.2", "production", actor={"id": "cd", "kind": "service"})

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    return _common.record(
        ledger, "model.deployed", _payload(model, version, environment, "deploy_model"), options
    )


def retire_model(
    ledger: Ledger, model: str, version: str, environment: str, **options: Unpack[EventOptions]
) -> Receipt:
    """Record `model.retired`: `model` `version` was taken out of service in `environment`.

    Example::

        retire_model(ledger, "credit", "3.1", "production")

    Raises ValidationError (nothing recorded) for a bad argument.
    """
    return _common.record(
        ledger, "model.retired", _payload(model, version, environment, "retire_model"), options
    )


def _payload(model: str, version: str, environment: str, where: str) -> dict[str, str]:
    return {
        "model": _common.text(model, "model", where),
        "version": _common.text(version, "version", where),
        "environment": _common.text(environment, "environment", where),
    }
