"""A job kind that runs strategy code starts the work-horse's warm confined child before its handler
(`huice.contexts.prestarting`): the child's start and imports overlap the job's data load (issue 20)."""

from __future__ import annotations

from huice.contexts import prestarting
from strategy_management.confined_runner import PROBE_SOURCE, RunnerConfig, configure_spares, execute, wait_for_spare


def test_a_strategy_job_starts_its_spare_before_its_handler_runs() -> None:
    configure_spares(enabled=False)  # none left over from another test
    configure_spares(enabled=True)
    seen: dict[str, object] = {}

    def handler(ctx: object) -> str:
        seen["ctx"] = ctx
        seen["spare"] = wait_for_spare(60)  # without the prestart there is no spare to wait for
        return "done"

    try:
        assert prestarting(handler)("the job") == "done"
        assert seen["ctx"] == "the job" and isinstance(seen["spare"], int)
        execute("describe", PROBE_SOURCE, RunnerConfig(cpu_seconds=20, wall_seconds=60))  # the job's one call
        assert wait_for_spare(5) is None  # a one-job work-horse starts no second spare for nothing
    finally:
        configure_spares(enabled=False)
        configure_spares(enabled=True, replenish=True)
