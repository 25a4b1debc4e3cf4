"""auditml: the evidence layer for machine learning under GDPR and the EU AI Act.

from auditml import Ledger

with Ledger.open() as ledger:
    ledger.record("model.deployed", payload={"model": "credit", "version": "3.2",
                                             "environment": "production"})
"""

from auditml.errors import (
    AuditmlError,
    ConfigError,
    IntegrityError,
    NotFinalError,
    NotFoundError,
    ProofError,
    SignatureError,
    StorageError,
    ValidationError,
)
from auditml.ledger.ledger import Ledger, Receipt, SignedCheckpoint, VerifyResult

__version__ = "0.1.0"

__all__ = [
    "AuditmlError",
    "ConfigError",
    "IntegrityError",
    "Ledger",
    "NotFinalError",
    "NotFoundError",
    "ProofError",
    "Receipt",
    "SignatureError",
    "SignedCheckpoint",
    "StorageError",
    "ValidationError",
    "VerifyResult",
    "__version__",
]
