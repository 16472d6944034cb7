"""The package's in-memory caches: one LRU rule, and one switch that empties them all."""

from __future__ import annotations

import threading
from pathlib import Path

import wcodec
from wcodec import _files, _lru, _reader


def test_lru_keeps_the_most_recently_used() -> None:
    cache: _lru.LRU[str, int] = _lru.LRU(2)
    made: list[str] = []

    def make(key: str) -> int:
        made.append(key)
        return len(made)

    assert cache.get_or_make("a", lambda: make("a")) == 1
    assert cache.get_or_make("b", lambda: make("b")) == 2
    assert cache.get_or_make("a", lambda: make("a")) == 1  # a hit: "a" is now the most recent
    assert cache.get_or_make("c", lambda: make("c")) == 3  # evicts "b", the least recent
    assert len(cache) == 2
    assert cache.get_or_make("a", lambda: make("a")) == 1
    assert cache.get_or_make("b", lambda: make("b")) == 4
    assert made == ["a", "b", "c", "b"]


def test_lru_gives_every_thread_the_same_entry() -> None:
    cache: _lru.LRU[int, object] = _lru.LRU(4)
    start = threading.Barrier(8)
    got: list[object] = []

    def worker() -> None:
        start.wait()
        got.append(cache.get_or_make(0, object))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_clearing_the_reader_cache_also_drops_checkpoint_tables(wc_file: Path) -> None:
    with wcodec.open(wc_file) as f:
        assert f.keys()
    assert len(_reader._checkpoints) >= 1 and len(_files._readers) >= 1
    _files.clear_reader_cache()
    # A table holds its readers: keeping one would keep its file mapped.
    assert len(_reader._checkpoints) == 0 and len(_files._readers) == 0
    assert wcodec.decode_layer(wc_file, "scalar", device="cpu").item() == 3.5
