"""The event types of vocabulary v1 (docs/FORMAT.md section 15).

The types are the keys of :data:`auditml.events.payloads.PAYLOAD_MODELS`, so a type
exists exactly when it has a payload model. (``envelope`` imports this module and
``payloads`` does not import ``envelope``: no import cycle.)
"""

from __future__ import annotations

from auditml.events.payloads import PAYLOAD_MODELS

__all__ = ["EVENT_TYPES"]

EVENT_TYPES: frozenset[str] = frozenset(PAYLOAD_MODELS)
