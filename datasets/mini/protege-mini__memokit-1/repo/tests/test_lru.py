import pytest

from memokit import LRUCache


def test_eviction_order():
    cache = LRUCache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # "a" is now most recent
    cache.set("c", 3)
    assert "b" not in cache
    assert cache.keys() == ["a", "c"]


def test_zero_size_stores_nothing():
    cache = LRUCache(maxsize=0)
    cache.set("a", 1)
    assert len(cache) == 0
    assert cache.get("a", "dflt") == "dflt"


def test_unbounded():
    cache = LRUCache(maxsize=None)
    for i in range(500):
        cache.set(i, i)
    assert len(cache) == 500


def test_info_counts():
    cache = LRUCache(maxsize=4)
    cache.set(1, "x")
    cache.get(1)
    cache.get(2)
    info = cache.info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 1, 4, 1)


def test_negative_size_rejected():
    with pytest.raises(ValueError):
        LRUCache(maxsize=-1)
