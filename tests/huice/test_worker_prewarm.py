"""The RQ worker parent pre-warms before it forks work-horses (`huice.worker.prewarm`): the engine is
imported and the templates loaded once, and a forked child can still run the engine (polars' thread pool
was not started in the parent: a pool started before `fork` would leave the child waiting forever), and the
parent's heap is frozen out of the garbage collector (`gc.freeze`) so that a child's collections neither
traverse nor copy-on-write the parent's pages."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, os, sys
    from huice.worker import WARM_MODULES, prewarm
    prewarm()
    assert all(name in sys.modules for name in WARM_MODULES)
    assert gc.get_freeze_count() > 10_000  # the warm heap is frozen: a work-horse's collections skip it
    from quant.templates import TEMPLATE_NAMES, load_template
    assert load_template.cache_info().currsize == len(TEMPLATE_NAMES) >= 8
    pid = os.fork()
    if pid == 0:
        from quant import EngineConfig, run_backtest
        from quant.synthetic import gbm_bars
        result = run_backtest("ma_cross", gbm_bars(sessions=300), {"fast": 5, "slow": 20}, EngineConfig())
        os._exit(0 if result.equity.height == 300 else 3)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


def test_prewarmed_parent_forks_children_that_run_the_engine() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


SERVED_API = textwrap.dedent(
    """
    import gc, sys
    from fastapi.testclient import TestClient
    from huice.api import app_factory
    before = gc.get_freeze_count()
    with TestClient(app_factory()) as client:
        assert client.get("/health").status_code == 200
        frozen = gc.get_freeze_count()
    sys.exit(0 if before == 0 and frozen > 10_000 else 3)
    """
)


def test_a_served_api_process_freezes_its_start_up_heap(migrated: str, test_servers, tmp_path) -> None:
    """`huice serve`'s API process (uvicorn's `app_factory`) moves its start-up heap out of the garbage
    collector once started: a full collection over those ~10^5 objects would stall every request in flight."""
    import os

    env = dict(
        os.environ,
        HUICE_DATABASE_URL=migrated,
        HUICE_REDIS_URL=test_servers.redis_url,
        HUICE_DATA_DIR=str(tmp_path),
        HUICE_LOG_LEVEL="WARNING",
    )
    done = subprocess.run([sys.executable, "-c", SERVED_API], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
