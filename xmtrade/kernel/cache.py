"""The screener's memory: each precomputed input kept under the key of what it depends on,
least recently used first out, one key at a time, within a byte budget; and small numbers
for config sections, found in O(1).

A sweep over a continuous threshold adds a key the kernel never needs (the threshold is a
kernel parameter), so the cache holds the few keys a grid really has (RSI periods, stop
settings, fundamentals sections, windows) and keeps them for the whole sweep.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULT_BUDGET = 256 * 2**20  # bytes of precomputed arrays per process
BUDGET_ENV = "XMTRADE_PRECOMPUTE_MIB"  # a different budget, in MiB
IDENTITY_MAX = 65_536  # sections remembered by identity (the fast path of `SectionIds`)


def budget_from_env() -> int:
    """The byte budget: `XMTRADE_PRECOMPUTE_MIB` when set to a positive number, else 256 MiB."""
    text = os.environ.get(BUDGET_ENV, "").strip()
    try:
        mib = float(text)
    except ValueError:
        return DEFAULT_BUDGET
    return int(mib * 2**20) if mib > 0 else DEFAULT_BUDGET


def size_of(value: Any) -> int:
    """Roughly the bytes `value` holds: arrays and frames by their buffers, containers and
    dataclasses by their items."""
    return _size(value, 0)


def _size(value: Any, depth: int) -> int:
    if depth > 4:
        return sys.getsizeof(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a DataFrame
        return int(value.memory_usage(index=True, deep=False).sum())
    if isinstance(value, tuple | list):
        return sys.getsizeof(value) + sum(_size(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(_size(v, depth + 1) for v in value.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_size(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    return sys.getsizeof(value)


class PrecomputeCache:
    """Values by key, built on first use; when their bytes pass `budget`, the least
    recently used keys are dropped one by one (never the one just built)."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget_from_env() if budget is None else budget
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self.built = 0  # values made (a miss)
        self.evicted = 0

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        """The value of `key`, made by `make()` when it is not held."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found[0]
        value = make()
        size = size_of(value)
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                self.built += 1
                self._evict(keep=key)
        return value

    def _evict(self, keep: Any) -> None:
        while self._bytes > self.budget and len(self._items) > 1:
            oldest = next(iter(self._items))
            if oldest == keep:
                self._items.move_to_end(oldest)
                oldest = next(iter(self._items))
            _, size = self._items.pop(oldest)
            self._bytes -= size
            self.evicted += 1

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        """The bytes held now."""
        return self._bytes

    def keys(self) -> list[Any]:
        """The keys held, least recently used first."""
        return list(self._items)

    def items(self) -> list[tuple[Any, Any]]:
        """(key, value) of each held value, least recently used first."""
        return [(k, v) for k, (v, _) in self._items.items()]


class SectionIds:
    """A small number per distinct config section, equal for equal sections: by identity
    first (a sweep's configs share their unchanged sections), else by the section itself
    (a frozen model hashes) or, for one holding a mapping, by its canonical JSON."""

    def __init__(self) -> None:
        self._ids: dict[Any, int] = {}
        self._by_identity: dict[int, tuple[Any, int]] = {}
        self._lock = threading.Lock()  # a Dask worker may run screeners in threads

    def __call__(self, section: Any) -> int:
        found = self._by_identity.get(id(section))
        if found is not None and found[0] is section:
            return found[1]
        key = (type(section).__name__, _canonical(section))
        with self._lock:
            n = self._ids.setdefault(key, len(self._ids))
            if len(self._by_identity) >= IDENTITY_MAX:
                self._by_identity.clear()  # only the fast path: the numbers stay in `_ids`
            self._by_identity[id(section)] = (section, n)  # kept alive: its id is not reused
        return n

    def __len__(self) -> int:
        return len(self._ids)


def _canonical(section: Any) -> Any:
    try:
        hash(section)
    except TypeError:
        return section.model_dump_json().encode()
    return section


__all__ = ["DEFAULT_BUDGET", "PrecomputeCache", "SectionIds", "budget_from_env", "size_of"]
