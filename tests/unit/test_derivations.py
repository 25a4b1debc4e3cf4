"""The cycle guard of lineage (auditml/events/derivations.py): exact cycles, deep chains."""

from __future__ import annotations

import time

from auditml.events.derivations import Derivations


def chain(length: int) -> Derivations:
    """d1 derived from d0, d2 from d1, ..., d<length> from d<length-1>."""
    edges = Derivations()
    for n in range(1, length + 1):
        edges.add(f"d{n}", [f"d{n - 1}"])
    return edges


def test_a_dataset_among_its_own_inputs_is_a_cycle() -> None:
    assert Derivations().cycle("a", ["b", "a"]) == ("a", "a")


def test_deriving_an_ancestor_from_its_descendant_names_the_whole_cycle() -> None:
    edges = chain(3)
    # d0 derived from d3, which is derived from d2, from d1, from d0.
    assert edges.cycle("d0", ["d3"]) == ("d3", "d2", "d1", "d0", "d3")
    assert edges.cycle("d1", ["d2"]) == ("d2", "d1", "d2")


def test_the_shortest_cycle_is_named_when_there_are_several() -> None:
    edges = chain(4)
    edges.add("shortcut", ["d0"])
    assert edges.cycle("d0", ["d4", "shortcut"]) == ("shortcut", "d0", "shortcut")


def test_no_cycle_for_new_datasets_siblings_and_diamonds() -> None:
    edges = chain(3)
    assert edges.cycle("d4", ["d3"]) is None
    edges.add("left", ["d0"])
    edges.add("right", ["d0"])
    assert edges.cycle("joined", ["left", "right"]) is None
    edges.add("joined", ["left", "right"])
    # Deriving d0 again from something unrelated is no cycle; from joined it is.
    assert edges.cycle("d0", ["raw"]) is None
    assert edges.cycle("d0", ["joined"]) in {
        ("joined", "left", "d0", "joined"),
        ("joined", "right", "d0", "joined"),
    }


def test_an_overlay_sees_the_base_and_drops_or_absorbs_its_own_edges() -> None:
    base = chain(2)
    overlay = Derivations(base)
    overlay.add("d3", ["d2"])
    assert overlay.cycle("d0", ["d3"]) == ("d3", "d2", "d1", "d0", "d3")
    assert base.cycle("d0", ["d3"]) is None
    base.absorb(overlay)
    assert base.cycle("d0", ["d3"]) is not None


def test_ten_thousand_deep_chain_has_no_recursion_limit_and_is_fast() -> None:
    edges = chain(10_000)
    started = time.perf_counter()
    assert edges.cycle("d10001", ["d10000"]) is None
    found = edges.cycle("d0", ["d10000"])
    elapsed = time.perf_counter() - started
    assert found is not None and len(found) == 10_002
    assert found[0] == found[-1] == "d10000" and found[-2] == "d0"
    assert elapsed < 0.5
