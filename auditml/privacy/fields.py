"""Which payload fields hold personal data and are stored sealed (DESIGN.md section 6)."""

from __future__ import annotations

_ALWAYS = frozenset({"personal"})
_BY_TYPE: dict[str, frozenset[str]] = {
    "decision.made": frozenset({"features", "explanation"}),
    "review.completed": frozenset({"reason"}),
}


def sealed_fields(event_type: str) -> frozenset[str]:
    """The top-level payload fields of this event type that are sealed."""
    return _BY_TYPE.get(event_type, _ALWAYS) | _ALWAYS
