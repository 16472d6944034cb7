"""The one bounded, thread-safe LRU map of the package, and the switch that empties them all.

Two caches use it: open readers by file identity (``_files``) and checkpoint name tables by
set of readers (``_reader``). A table holds its readers, so forgetting the readers alone would
keep their files mapped; :func:`clear_all` forgets both.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Callable, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_all: weakref.WeakSet[LRU[Any, Any]] = weakref.WeakSet()


class LRU(Generic[K, V]):
    """At most ``size`` entries; the least recently used one goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        _all.add(self)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The entry of ``key``, made by ``make()`` (outside the lock) on a miss. Two threads
        missing at once both make one; the first stored is kept and returned to both."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                return value
        made = make()
        with self._lock:
            value = self._items.setdefault(key, made)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def clear_all() -> None:
    """Empties every cache (open files are unmapped once no tensor view needs them)."""
    for cache in list(_all):
        cache.clear()
