"""How many nodes a tree stores: what deep verification expects tree_nodes to hold."""

from __future__ import annotations

from auditml.ledger.store import NODE_STRIDE
from auditml.ledger.verify import stored_node_count


def test_stored_node_count_is_every_complete_subtree_at_a_stored_level() -> None:
    for size in range(600):
        complete = [
            (level, index)
            for level in range(1, 12)
            for index in range(size)
            if (index + 1) << level <= size and level % NODE_STRIDE == 0
        ]
        assert stored_node_count(size, NODE_STRIDE) == len(complete), size
    assert stored_node_count(300, NODE_STRIDE) == 300 // 16 + 300 // 256
    assert stored_node_count(2**40, NODE_STRIDE) == sum(2 ** (40 - lv) for lv in range(4, 41, 4))
