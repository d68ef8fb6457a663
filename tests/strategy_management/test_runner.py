"""The confined runner against every attack of the issue, with the real child process.

All runs of this module start at once (a thread pool over real child processes) so the suite stays fast;
each test then asserts on one outcome. `full` is the production configuration; `kernel` switches the
Python guards off (restricted builtins, audit hook) to prove the kernel layers (Landlock, seccomp, rlimits,
clean environment) stop each attack on their own; `strict` also switches Landlock off (the fallback)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from strategy_management import domain
from strategy_management.confined_runner import StrategyRuntimeError, execute
from strategy_management.sandbox import confine
from tests.strategy_management.attacks import (
    ATTACKS,
    BY_NAME,
    EPERM,
    EVENT_ATTACKS,
    EVENT_TEMPLATES,
    SECRET,
    SIGNALS,
    STRICT,
    TEMPLATES,
    Attack,
)


def _error_text(exc: StrategyRuntimeError) -> str:
    return exc.message + " ".join(exc.details["traceback"])


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_each_attack_is_stopped_with_a_clear_error(outcomes: dict[str, Any], attack: Attack) -> None:
    outcome = outcomes[f"full:{attack.name}"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.code == "INVALID_INPUT"
    assert outcome.details["kind"] == attack.kind
    if attack.kind == "timeout":
        assert outcome.message in (
            "the strategy did not finish within 10 s",
            "the strategy exceeded its CPU time limit (2 s)",
        )
    else:
        assert outcome.message == attack.message
    assert not outcomes["_markers"][f"full:{attack.name}"].exists()
    assert SECRET not in _error_text(outcome)
    for line in outcome.details["traceback"][:-1]:
        assert line.startswith('File "<strategy>", line ')
    assert "/work" not in _error_text(outcome) and "site-packages" not in _error_text(outcome)


@pytest.mark.parametrize("attack", EVENT_ATTACKS, ids=[a.name for a in EVENT_ATTACKS])
def test_each_attack_through_handle_bar_is_stopped_with_a_clear_error(outcomes: dict[str, Any], attack: Attack) -> None:
    """The event-driven entry point: the attack runs inside `handle_bar`, while the engine's simulator steps
    in the same confined process — the same limits and layers stop it, and the message names the hook."""
    outcome = outcomes[f"event-full:{attack.name}"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.code == "INVALID_INPUT"
    assert outcome.details["kind"] == attack.kind
    if attack.kind == "timeout":
        assert outcome.message in (
            "the strategy did not finish within 10 s",
            "the strategy exceeded its CPU time limit (2 s)",
        )
    else:
        assert outcome.message.startswith(attack.message)
        assert " (in handle_bar at bar 2024-01-02 15:00:00)" in outcome.message
        assert outcome.details["bar"] == "2024-01-02 15:00:00"
    assert not outcomes["_markers"][f"event-full:{attack.name}"].exists()
    assert SECRET not in _error_text(outcome)
    assert "/work" not in _error_text(outcome) and "site-packages" not in _error_text(outcome)


@pytest.mark.parametrize("attack", [a for a in EVENT_ATTACKS if a.kernel_kind], ids=lambda a: a.name)
def test_kernel_layers_alone_stop_each_attack_through_handle_bar(outcomes: dict[str, Any], attack: Attack) -> None:
    outcome = outcomes[f"event-kernel:{attack.name}"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.details["kind"] == attack.kernel_kind
    assert not outcomes["_markers"][f"event-kernel:{attack.name}"].exists()
    text = _error_text(outcome)
    assert SECRET not in text and "root:x:0:0" not in text


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a.kernel_kind], ids=lambda a: a.name)
def test_kernel_layers_alone_stop_each_attack(outcomes: dict[str, Any], attack: Attack) -> None:
    outcome = outcomes[f"kernel:{attack.name}"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.details["kind"] == attack.kernel_kind
    assert not outcomes["_markers"][f"kernel:{attack.name}"].exists()
    text = _error_text(outcome)
    assert SECRET not in text and "root:x:0:0" not in text


def test_kernel_layers_refuse_files_sockets_processes_and_signals(outcomes: dict[str, Any]) -> None:
    assert outcomes["kernel:open /etc/passwd"].message == (
        "the strategy attempted a forbidden operation: PermissionError: [Errno 13] Permission denied: '/etc/passwd'"
    )
    assert outcomes["kernel:write /tmp"].message.startswith(
        "the strategy attempted a forbidden operation: PermissionError: [Errno 1] Operation not permitted"
    )
    for name in ("__import__ socket", "fork bomb", "generator frame", "kill the worker", "kill another process"):
        assert outcomes[f"kernel:{name}"].message == (
            "the strategy attempted a forbidden operation: PermissionError: [Errno 1] Operation not permitted"
        )
    assert outcomes["_connected"] is False


@pytest.mark.parametrize("name", STRICT)
def test_without_landlock_the_strict_seccomp_fallback_refuses_every_open(outcomes: dict[str, Any], name: str) -> None:
    outcome = outcomes[f"strict:{name}"]
    assert isinstance(outcome, StrategyRuntimeError)
    assert outcome.details["kind"] in ("forbidden", "error")
    assert not outcomes["_markers"][f"strict:{name}"].exists()
    assert "root:x:0:0" not in _error_text(outcome) and SECRET not in _error_text(outcome)


@pytest.mark.parametrize("mode", ["kernel", "strict"])
@pytest.mark.parametrize("name", SIGNALS)
def test_without_the_python_guards_no_signal_leaves_the_sandbox(outcomes: dict[str, Any], name: str, mode: str) -> None:
    """`strict` has Landlock off as well: what a kernel before 6.12 (no Landlock signal scoping) gives —
    the seccomp filter alone refuses every signal-sending syscall aimed outside the sandbox."""
    outcome = outcomes[f"{mode}:{name}"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.details["kind"] == BY_NAME[name].kernel_kind
    if BY_NAME[name].kernel_kind == "forbidden":
        assert outcome.message == EPERM
    else:  # the own tgid passes the filter, but the kernel finds no such thread in the sandbox
        assert outcome.message == "the strategy raised an error: ProcessLookupError: [Errno 3] No such process"
    assert outcomes["_targets_alive"][f"{mode}:{name}"] is True


@pytest.mark.parametrize("name", SIGNALS)
def test_the_target_of_each_signal_attack_survives_with_the_guards_on(outcomes: dict[str, Any], name: str) -> None:
    assert outcomes["_targets_alive"][f"full:{name}"] is True


@pytest.mark.parametrize("mode", ["kernel", "strict"])
def test_signals_to_the_sandbox_itself_still_work(outcomes: dict[str, Any], mode: str) -> None:
    outcome = outcomes[f"{mode}:signals to itself"]
    assert isinstance(outcome, StrategyRuntimeError), outcome
    assert outcome.message == "the strategy raised an error: ValueError: received 4 of 4 signals"


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_run_through_the_same_runner(outcomes: dict[str, Any], name: str) -> None:
    outcome = outcomes[f"template:{name}"]
    assert not isinstance(outcome, Exception), outcome
    [frame] = outcome.frames
    assert frame.columns == ["ts", "symbol", "weight"]
    assert frame.schema["weight"] == pl.Float64 and frame.height > 0


@pytest.mark.parametrize("name", EVENT_TEMPLATES)
def test_event_templates_step_the_simulator_in_the_runner_and_return_their_orders(
    outcomes: dict[str, Any], name: str
) -> None:
    outcome = outcomes[f"template:{name}"]
    assert not isinstance(outcome, Exception), outcome
    [frame] = outcome.frames
    assert frame.columns == ["ts", "symbol", "amount", "order", "limit_price", "tag"]
    assert frame.height > 0 and set(frame["order"]) <= {"target_shares", "target_percent"}


def test_targets_come_back_over_the_pipe(outcomes: dict[str, Any]) -> None:
    [frame] = outcomes["simple"].frames
    bars = domain.sample_bars()
    assert frame.height == bars.height and frame["symbol"].to_list() == bars["symbol"].to_list()
    assert frame["weight"].is_in([0.0, 1.0]).all()


def test_a_process_outside_the_sandbox_survives_every_attack(outcomes: dict[str, Any]) -> None:
    """The sentinel was started before the attacks; "kill another process" sent it SIGKILL with and without
    the Python guards, beside "kill the worker" and the fork bomb. It must still be running."""
    assert outcomes["_sentinel"].poll() is None


def test_user_errors_carry_only_the_users_traceback(runner_config) -> None:
    source = "import math\n\ndef helper(x):\n    return x / 0\n\ndef generate(bars, params):\n    return helper(1)\n"
    with pytest.raises(StrategyRuntimeError) as exc:
        execute("targets", source, runner_config, bars=domain.sample_bars(), param_sets=[{}])
    assert exc.value.envelope() == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "the strategy raised an error: ZeroDivisionError: division by zero",
            "details": {
                "kind": "error",
                "line": 4,
                "column": 12,
                "traceback": [
                    'File "<strategy>", line 7, in generate: return helper(1)',
                    'File "<strategy>", line 4, in helper: return x / 0',
                    "ZeroDivisionError: division by zero",
                ],
            },
        }
    }


def test_seccomp_program_refuses_process_and_socket_syscalls() -> None:
    arch = confine.current_arch()
    program = confine.build_filter(arch, own_pid=1234, strict_open=False)
    denied = {
        ins[3]
        for i, ins in enumerate(program[:-1])
        if ins[0] == 0x15 and program[i + 1][0] == 0x06 and program[i + 1][3] == confine.SECCOMP_RET_ERRNO | 1
    }
    for name in ("socket", "execve", "ptrace", "setrlimit", "io_uring_setup", "unshare", "mount"):
        assert arch.syscalls[name] in denied, name
    assert program[-1] == (0x06, 0, 0, confine.SECCOMP_RET_ALLOW)
    assert len(program) < 4096


def test_a_strategys_own_parameter_check_runs_confined_and_names_the_field(runner_config) -> None:
    source = (
        "from quant.sdk import ParamError, param\n"
        "PARAMS = [param('lo', int, default=1, min=0, max=9), param('hi', int, default=5, min=0, max=9)]\n\n"
        "def check_params(params):\n"
        "    if params['lo'] >= params['hi']:\n"
        "        raise ParamError('lo', 'must be below hi')\n\n"
        "def generate(bars, params):\n"
        "    raise AssertionError('generate must not run')\n"
    )
    with pytest.raises(StrategyRuntimeError) as exc:
        execute("targets", source, runner_config, bars=domain.sample_bars(), param_sets=[{"lo": 6, "hi": 5}])
    envelope = exc.value.envelope()["error"]
    assert envelope["details"]["field"] == "lo"
    assert "must be below hi" in envelope["message"] and "generate must not run" not in envelope["message"]


def test_event_strategy_order_stream_replays_into_the_in_process_result(runner_config) -> None:
    """The child steps the simulator for the strategy and answers with its order stream; the engine's replay
    of that stream (no user code) is the in-process run, frame for frame — also as a sweep of two sets."""
    from quant import EngineConfig, run_backtest, simulate
    from quant.grid import run_grid, run_grid_targets
    from quant.templates import get_template

    bars, config = domain.sample_bars(), EngineConfig(preset="a-share", initial_cash=100_000)
    source = get_template("ma_cross_event").source.replace('"""Moving-average', '"""A user copy: moving-average')
    exits = {"stop_loss": 0.08, "take_profit": 0.1, "trailing": 0.05}
    sets = [{"fast": 3, "slow": 10, **exits}, {"fast": 5, "slow": 20, **exits}]
    outcome = execute(
        "targets", source, runner_config, bars=bars, param_sets=sets, engine_config=config.model_dump(mode="json")
    )
    replayed = simulate(bars, outcome.frames[0], config, params=sets[0])
    direct = run_backtest("ma_cross_event", bars, sets[0], config)
    assert direct.orders.height > 0
    for name in ("orders", "fills", "trades", "positions", "equity"):
        assert getattr(replayed, name).equals(getattr(direct, name)), name
    assert replayed.metrics == direct.metrics and replayed.manifest["model"] == "event"
    sweep = run_grid_targets(bars, outcome.frames, sets, config).summary
    assert sweep.equals(run_grid("ma_cross_event", bars, sets, config).summary)
