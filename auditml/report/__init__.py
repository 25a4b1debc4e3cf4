"""Signed, archival, verifiable PDF reports (how to check one: docs/VERIFYING.md).

`assemble` builds the report's data from a ledger, `render` turns it into a PDF/A-3b with
`evidence.json` attached, `sign` signs it (PAdES), `verify` checks a report offline, and
`identity` holds the organisation CA and the report-signing certificate.
"""
