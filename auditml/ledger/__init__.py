"""The append-only ledger: canonical event bytes, hashing and storage."""
