import numpy as np

from webapi.cache.index import ScopedIndex


def _unit(*values):
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_search_finds_the_nearest_in_its_own_scope_only():
    index = ScopedIndex(3)
    index.add(1, "a", _unit(1, 0, 0))
    index.add(2, "a", _unit(0, 1, 0))
    index.add(3, "b", _unit(1, 0.01, 0))
    (key, similarity), *_ = index.search("a", _unit(1, 0.1, 0), 2)
    assert key == 1 and similarity > 0.99
    assert [k for k, _ in index.search("b", _unit(0, 1, 0), 5)] == [3]
    assert index.search("c", _unit(1, 0, 0), 5) == []


def test_removed_keys_are_not_found_and_adding_twice_is_harmless():
    index = ScopedIndex(3)
    index.add(1, "a", _unit(1, 0, 0))
    index.add(1, "a", _unit(1, 0, 0))
    assert len(index) == 1
    index.remove(1)
    index.remove(1)
    assert len(index) == 0
    assert index.search("a", _unit(1, 0, 0), 1) == []
