"""strategy_management — users' trading strategies and the only place their code runs.

Owns strategies (name, description, tags, archived flag, per owner) with their immutable, content-hashed
versions (source, parameter schema, metadata) and the references that pin a version (e.g. a backtest run),
all in the PostgreSQL schema `strategy_management`; the static source check; and the confined runner
(`confined_runner`, the parent side, and `sandbox`, the child: Landlock + seccomp-BPF + rlimits) that
describes and runs strategy code, user code never running in the calling process.

Publishes the use cases in `service` (its `__all__`; backtest calls `get_version`, `latest_version`,
`validate_params`, `validate_strategy`, `run_targets`, `add_reference`, `create_from_template` and the error
`StrategyRuntimeError`), the schemas in `schemas`, and `StrategyEnv` / `build_env` / `env_of` in `config`.

Depends on platform_core, the quant core (templates, the strategy model and SDK) and user_auth (the principal).
"""

# What other contexts may import of strategy_management (checked by tests/spec/test_architecture.py and the
# import-linter contract "strategy_management publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config")
