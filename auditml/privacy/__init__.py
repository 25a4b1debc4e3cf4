"""Personal data on an append-only ledger: subject tokens, per-subject keys, sealing."""
