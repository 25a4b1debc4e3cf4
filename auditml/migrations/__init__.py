"""Alembic migrations of the ledger schema, for SQLite and PostgreSQL alike.

Run by `auditml init` (a new ledger) and `auditml db upgrade` (an existing one) through
`auditml.ledger.schema`; there is no alembic.ini. Revisions are history: they never
import the current table definitions from `auditml.ledger.store`, so a later change to
those cannot change what an old revision did.
"""
