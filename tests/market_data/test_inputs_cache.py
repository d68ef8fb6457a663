"""The inputs cache's files (`market_data.inputs_cache`): bounded by size, least recently used first; a
damaged file is read again from its source."""

from __future__ import annotations

import os

import polars as pl

from market_data.inputs_cache import InputsCache


def _frame(n: int) -> pl.DataFrame:
    return pl.DataFrame({"x": list(range(n)), "y": [float(i) / 3 for i in range(n)]})


def test_the_cache_keeps_at_most_its_bytes_dropping_the_least_recently_used(tmp_path) -> None:
    made: list[str] = []

    def make(name: str, n: int):
        def build() -> pl.DataFrame:
            made.append(name)
            return _frame(n)

        return build

    probe = InputsCache(tmp_path / "probe")
    probe.frame(("probe",), make("probe", 10_000))
    size = next((tmp_path / "probe").glob("*.arrow")).stat().st_size
    cache = InputsCache(tmp_path / "cache", max_bytes=int(2.5 * size))
    assert cache.frame(("a",), make("a", 10_000)).equals(_frame(10_000))
    cache.frame(("b",), make("b", 10_000))
    files = sorted((tmp_path / "cache").glob("*.arrow"), key=lambda p: p.stat().st_mtime_ns)
    os.utime(files[0], ns=(1, 1))  # "a" used long ago …
    os.utime(files[1], ns=(2, 2))
    cache.frame(("a",), make("a", 10_000))  # … until now: "b" is the least recently used
    assert made == ["probe", "a", "b"]
    cache.frame(("c",), make("c", 10_000))
    assert len(list((tmp_path / "cache").glob("*.arrow"))) == 2
    cache.frame(("a",), make("a", 10_000))
    cache.frame(("b",), make("b", 10_000))
    assert made == ["probe", "a", "b", "c", "b"]


def test_a_damaged_file_is_made_again_and_replaced(tmp_path) -> None:
    cache = InputsCache(tmp_path)
    calls: list[int] = []

    def make() -> pl.DataFrame:
        calls.append(1)
        return _frame(100)

    cache.frame(("k",), make)
    [path] = tmp_path.glob("*.arrow")
    path.write_bytes(path.read_bytes()[:50])
    assert cache.frame(("k",), make).equals(_frame(100)) and len(calls) == 2
    assert cache.frame(("k",), make).equals(_frame(100)) and len(calls) == 2
    assert not list(tmp_path.glob(".tmp-*"))
