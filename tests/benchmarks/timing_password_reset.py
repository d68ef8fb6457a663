"""Timing of `POST /api/auth/password-reset/request` for a registered vs an unknown address (issue 13, item 11).

The answer must not tell the two apart by time either. Runs the real app in process (TestClient: routing,
the request's transaction and its commit) on a fresh database of the test PostgreSQL server and on the test
Redis, alternating known and unknown addresses, and prints the median and p90 of each in ms, and the median
of the differences of back-to-back pairs (less sensitive to the load of a shared machine).

    HUICE_TEST_DATABASE_URL=postgresql://... HUICE_TEST_REDIS_URL=redis://.../<db> \\
        python -m tests.benchmarks.timing_password_reset --requests 400

Not part of `make bench` (it needs the servers); no test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per kind (known, unknown)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per kind first")
    args = parser.parse_args()
    server_url = os.environ["HUICE_TEST_DATABASE_URL"]
    redis_url = os.environ["HUICE_TEST_REDIS_URL"]
    # limits high enough never to refuse during the run; cheap hashing (no password is hashed here anyway)
    os.environ.update(
        {
            "HUICE_AUTH_RESET_ACCOUNT_LIMIT": "1000000/hour",
            "HUICE_AUTH_RESET_ADDRESS_LIMIT": "1000000/hour",
            "HUICE_AUTH_ARGON2_TIME_COST": "1",
            "HUICE_AUTH_ARGON2_MEMORY_COST": "1024",
        }
    )
    from tests.databases import create_database, drop_database

    database_url, name = create_database(server_url, prefix="huice_timing")
    try:
        known, unknown = measure(database_url, redis_url, args.requests, args.warmup)
    finally:
        drop_database(server_url, name)
    for label, values in (("known", known), ("unknown", unknown)):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{label:8s} median {statistics.median(values):6.2f} ms   p90 {p90:6.2f} ms   n={len(values)}")
    print(f"difference of medians: {statistics.median(known) - statistics.median(unknown):+.2f} ms")
    paired = [k - u for k, u in zip(known, unknown, strict=True)]
    print(f"median of paired differences (known - unknown, back to back): {statistics.median(paired):+.2f} ms")


def measure(database_url: str, redis_url: str, requests: int, warmup: int) -> tuple[list[float], list[float]]:
    import logging

    from fastapi.testclient import TestClient

    from huice import migrate
    from huice.api import create_app
    from huice.bootstrap import Servers, build_container
    from platform_core.settings import CoreSettings
    from user_auth import service
    from user_auth.config import env_of

    logging.disable(logging.WARNING)
    migrate.upgrade(database_url)
    settings = CoreSettings(env="test", database_url=database_url, redis_url=redis_url, _env_file=None)
    container = build_container(settings, servers=Servers(database_url, redis_url))
    email = f"timing-{uuid.uuid4().hex[:8]}@example.com"
    with container.db.transaction() as session:
        service.create_user(session, env_of(container), email=email, password="Correct-Horse-9")
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    try:
        with TestClient(create_app(container)) as client:
            for i in range(warmup + requests):
                for kind in ("known", "unknown"):
                    address = email if kind == "known" else f"nobody-{i}@example.com"
                    started = time.perf_counter()
                    response = client.post("/api/auth/password-reset/request", json={"email": address})
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 202, response.text
                    if i >= warmup:
                        times[kind].append(elapsed)
    finally:
        container.close()
    return times["known"], times["unknown"]


if __name__ == "__main__":
    main()
