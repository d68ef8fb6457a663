"""The use cases of strategy_management — the functions other contexts and the faces (API, CLI) call.

Every function takes the caller's session first (it flushes, never commits) and the principal whose
strategies it acts on; another owner's strategy or version is NOT_FOUND, exactly like a missing one.
Those that check, describe or run code take the context's `StrategyEnv` second
(`strategy_management.config.env_of(container)`); `run_targets`, `prepare_source` and `dry_run` have no
session and take it first.

Published to other contexts (backtest calls these): `get_version` (and `warm_reads`, its statements),
`latest_version`, `validate_params`, `resolve_params`, `validate_strategy`, `prepare_source`, `dry_run`,
`run_targets`, `run_targets_logged`,
`add_reference`, `create_from_template`, `create_strategy` (a backtest's inline `strategyRef.code`),
`template_source`, the errors `StrategyRuntimeError` (the user's,
never retried) and `SandboxKilled` (a signal from outside, retryable), and `sandbox_report` (the confinement
layers of this kernel, for `huice doctor`). `prepare_source` and `dry_run` run code on a user's request
without a session (call them between the read and the write phase, with the session `release`d); they take
a slot of the run admission (429 RATE_LIMITED beyond it). The rest serve this context's own API and CLI; the
static check and the describe step (`execution.check_source` / `describe`) stay inside the service package.
"""

from strategy_management.confined_runner import SandboxKilled, StrategyRuntimeError, sandbox_report
from strategy_management.service.authoring import (
    add_reference,
    create_strategy,
    delete_strategy,
    save_version,
    set_archived,
    update_strategy,
)
from strategy_management.service.execution import (
    dry_run,
    prepare_source,
    resolve_params,
    run_targets,
    run_targets_logged,
    validate_params,
    validate_strategy,
    warm_runner,
)
from strategy_management.service.reading import (
    diff_versions,
    get_strategy,
    get_strategy_version,
    get_version,
    latest_version,
    list_strategies,
    list_versions,
    strategy_counts,
    warm_reads,
)
from strategy_management.service.templates import create_from_template, list_templates, template_source
from strategy_management.service.transfer import export_strategy, import_strategy

__all__ = [
    "SandboxKilled",
    "StrategyRuntimeError",
    "add_reference",
    "create_from_template",
    "create_strategy",
    "delete_strategy",
    "diff_versions",
    "dry_run",
    "export_strategy",
    "get_strategy",
    "get_strategy_version",
    "get_version",
    "import_strategy",
    "latest_version",
    "list_strategies",
    "list_templates",
    "list_versions",
    "prepare_source",
    "resolve_params",
    "run_targets",
    "run_targets_logged",
    "sandbox_report",
    "save_version",
    "set_archived",
    "strategy_counts",
    "template_source",
    "update_strategy",
    "validate_params",
    "validate_strategy",
    "warm_reads",
    "warm_runner",
]
