"""Storage benchmark (`make bench`): read 300 symbols × 10 years of daily bars with `BarStore.read` from a
local directory and from an S3-compatible object store (moto's standalone server, a separate process on a
loopback port), interleaved: local, S3, local, S3, … and the medians of each.

The same synthetic partitions as `bench_market_data.py` (seeded, ~2,600 sessions each) are written once to
both stores. Wall time and this process's CPU time (`time.process_time`: the client side only, the server
runs in its own process) are reported with the load average. moto keeps objects in Python memory and serves
them from a single Python process, so the S3 figure is an upper bound for a real S3 / MinIO server.

    python tests/benchmarks/bench_storage.py [--rounds 5] [--symbols 300]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_market_data import END, START, partition, weekdays

from market_data.store import BarStore
from platform_core.storage import S3Config, S3Storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def timed(read) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = read().height
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=300)
    args = parser.parse_args()
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = start_moto(port)
    try:
        keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench-secret", "region_name": "us-east-1"}
        boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="huice-bench")
        s3 = BarStore(
            S3Storage(S3Config("huice-bench", "huice/market", endpoint, "us-east-1", "bench", "bench-secret"))
        )
        rng = np.random.default_rng(7)
        days = weekdays(START, END)
        with tempfile.TemporaryDirectory() as tmp:
            local = BarStore(Path(tmp))
            paths = []
            for i in range(args.symbols):
                symbol = f"{600000 + i:06d}.SH"
                frame = partition(symbol, days, rng)
                stored = local.write("1d", symbol, frame)
                assert s3.write("1d", symbol, frame) == stored
                paths.append(stored.path)
            assert local.read(paths, START, END).equals(s3.read(paths, START, END))

            def fetched() -> pl.DataFrame:  # the alternative: fetch the bytes concurrently, then parse
                blobs = s3.storage.get_many(sorted(paths))
                scan = pl.scan_parquet([io.BytesIO(b) for b in blobs])
                return scan.filter(pl.col("date").is_between(START, END)).collect()

            assert fetched().equals(local.read(paths, START, END))
            results: dict[str, list[tuple[float, float, int]]] = {"local": [], "s3": [], "fetched": []}
            for _ in range(args.rounds):
                results["local"].append(timed(lambda: local.read(paths, START, END)))
                results["s3"].append(timed(lambda: s3.read(paths, START, END)))
                results["fetched"].append(timed(fetched))
    finally:
        server.terminate()
        server.wait(timeout=10)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"| BarStore.read 1d, 10 years ({args.rounds} interleaved rounds) | symbols | rows | wall ms (median) | "
        "client CPU ms (median) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, label in (
        ("local", "local directory"),
        ("s3", "S3, polars reads s3:// itself (what BarStore.read does)"),
        ("fetched", "S3, obstore get_many (64 concurrent GETs) then parse"),
    ):
        runs = results[name]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {label} | {args.symbols} | {runs[0][2]:,} | {wall:.0f} | {cpu:.0f} |")
    print(f"load average: {load}")


if __name__ == "__main__":
    main()
