"""The screener's memory (xmtrade/kernel/cache.py): a byte-bounded LRU that drops one key at
a time, and section numbers found without comparing against every section seen."""

from __future__ import annotations

from typing import Any

import numpy as np

from xmtrade.config import ConfigLayers
from xmtrade.kernel.cache import PrecomputeCache, SectionIds, size_of

KIB = 1024


def _array(kib: int) -> np.ndarray:
    return np.zeros(kib * KIB, dtype=np.uint8)


def test_the_least_recently_used_key_goes_first_one_at_a_time() -> None:
    cache = PrecomputeCache(budget=10 * KIB)
    for key in "abcd":
        cache.get(key, lambda: _array(3))
    assert cache.keys() == ["b", "c", "d"]  # only "a" went: 12 KiB > 10 KiB
    cache.get("b", lambda: _array(99))  # a hit: "b" is now the most recent, not rebuilt
    assert cache.get("b", lambda: None).nbytes == 3 * KIB
    cache.get("e", lambda: _array(3))
    assert cache.keys() == ["d", "b", "e"]  # "c" was the least recently used
    assert cache.bytes <= cache.budget and cache.evicted == 2 and cache.built == 5


def test_the_cache_stays_within_its_budget_and_never_clears() -> None:
    cache = PrecomputeCache(budget=64 * KIB)
    made: list[int] = []

    def make(n: int) -> Any:
        made.append(n)
        return (_array(1), {"levels": _array(1)})

    for n in range(1000):
        cache.get(("stops", n), lambda n=n: make(n))
        cache.get("market", lambda: _array(8))  # used by every run: never evicted
        assert cache.bytes <= cache.budget
    assert made == list(range(1000))
    assert "market" in cache and len(cache) > 10  # a full cache keeps most of its keys
    assert cache.built == 1001  # the market was built once


def test_one_value_bigger_than_the_budget_is_still_kept_for_its_run() -> None:
    cache = PrecomputeCache(budget=KIB)
    cache.get("small", lambda: _array(0))
    big = cache.get("big", lambda: _array(4))
    assert big.nbytes == 4 * KIB and cache.keys() == ["big"]


def test_size_of_counts_arrays_in_containers_and_dataclasses() -> None:
    from xmtrade.kernel.precompute import HistoryMicro

    value = HistoryMicro(np.zeros(100, dtype=np.int64), np.zeros(50, dtype=np.int64))
    assert size_of(value) == 1200
    assert size_of((value, [np.zeros(10)])) >= 1280


class Counted:
    """A hashable section that counts how often it is compared."""

    compared = 0

    def __init__(self, value: int) -> None:
        self.value = value

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        Counted.compared += 1
        return isinstance(other, Counted) and other.value == self.value


def test_section_ids_do_not_scan_the_sections_seen() -> None:
    ids = SectionIds()
    numbers = [ids(Counted(n)) for n in range(20_000)]
    assert numbers == list(range(20_000))
    Counted.compared = 0
    again = [ids(Counted(n)) for n in range(0, 20_000, 7)]  # equal, not the same objects
    assert again == list(range(0, 20_000, 7))
    assert Counted.compared <= len(again)  # one comparison a lookup, not one per section


def test_equal_config_sections_share_a_number_whatever_their_object() -> None:
    ids = SectionIds()
    layers = ConfigLayers()
    a = layers.build({"stop.lookback": 12})
    b = layers.build({"stop.lookback": 12})
    c = layers.build({"stop.lookback": 13})
    assert a.stop is not b.stop
    assert ids(a.stop) == ids(b.stop) != ids(c.stop)
    # the market holds a mapping (not hashable): found by its canonical JSON
    assert a.market is not b.market and ids(a.market) == ids(b.market)
    assert ids(a.market) == ids(a.market)
    assert len(ids) == 3
