"""The SDK's public surface is deliberate: adding or removing a name is a decision."""

import auditml


def test_exported_names_are_pinned() -> None:
    assert sorted(auditml.__all__) == [
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
    for name in auditml.__all__:
        assert hasattr(auditml, name)


def test_error_hierarchy_and_exit_codes() -> None:
    assert issubclass(auditml.ProofError, auditml.IntegrityError)
    assert issubclass(auditml.SignatureError, auditml.IntegrityError)
    assert auditml.IntegrityError.exit_code == 1
    # Recorded, but not yet final on disk: a problem found, not a usage error.
    assert issubclass(auditml.NotFinalError, auditml.StorageError)
    assert auditml.NotFinalError.exit_code == 1
    for error in (
        auditml.ValidationError,
        auditml.ConfigError,
        auditml.StorageError,
        auditml.NotFoundError,
    ):
        assert issubclass(error, auditml.AuditmlError) and error.exit_code == 2
