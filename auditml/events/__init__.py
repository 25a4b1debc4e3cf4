"""The event vocabulary and envelope."""
