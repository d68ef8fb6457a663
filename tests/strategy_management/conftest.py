"""Fixtures of the strategy_management tests: small runner limits, users, an in-process CLI over the test's
rolled-back database (authenticated with a real API key), and `outcomes`: every attack run once per session
against the real confined runner (concurrently, so the suite stays fast) for the runner tests and the BDD
scenarios to assert on, with a sentinel process outside the sandbox that the attacks try to kill."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from platform_core.cli import LazyContainer
from strategy_management import config, domain
from strategy_management.confined_runner import MiB, RunnerConfig, StrategyRuntimeError, execute
from tests.strategy_management.attacks import (
    ATTACKS,
    EVENT_TEMPLATES,
    SECRET,
    SELF_SIGNALS,
    SIGNALS,
    STRICT,
    SYSCALL_NUMBERS,
    TEMPLATE_DIR,
    TEMPLATES,
    event_source,
)
from tests.strategy_management.factories import SIMPLE, TEST_LIMITS
from tests.user_auth.plugin import auth_headers_for, fast_password_hashing, make_user
from user_auth import service as auth_service
from user_auth.config import env_of
from user_auth.principal import Principal

__all__ = ["auth_headers_for", "fast_password_hashing", "make_user"]


def _run(source: str, mode: str, bars: pl.DataFrame) -> Any:
    config = replace(TEST_LIMITS, python_guards=mode == "full", landlock=mode != "strict")
    if mode != "full":  # no attack of these modes expects a timeout: a loaded host must not turn one into it
        config = replace(config, wall_seconds=60.0)
    try:
        return execute("targets", source, config, bars=bars, param_sets=[{}])
    except StrategyRuntimeError as exc:
        return exc


@pytest.fixture(scope="session")
def sentinel() -> Iterator[subprocess.Popen]:
    """A process outside the sandbox — a sibling of the runner's children, in its own session — started before
    the attacks. It only sleeps: if it is gone, a strategy killed or signalled a process it must not reach."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile True:\n    time.sleep(60)\n"], start_new_session=True
    )
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture(scope="session")
def outcomes(tmp_path_factory: pytest.TempPathFactory, sentinel: subprocess.Popen) -> dict[str, Any]:
    """Every run of this module, started concurrently; markers, a listening socket and the sentinel process
    record side effects."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    os.environ["HUICE_ATTACK_SECRET"] = SECRET
    bars = domain.sample_bars()
    jobs: dict[str, tuple[str, str]] = {}
    markers: dict[str, Path] = {}
    targets: dict[str, subprocess.Popen] = {}
    for mode in ("full", "kernel", "strict"):
        for attack in ATTACKS:
            if mode == "kernel" and attack.kernel_kind is None:
                continue
            if mode == "strict" and attack.name not in STRICT + SIGNALS:
                continue
            key = f"{mode}:{attack.name}"
            marker = Path("/tmp") / f"huice-attack-{uuid.uuid4().hex}"
            markers[key] = marker
            target = 0
            if "{target}" in attack.source:  # a sleeping process of the same user, outside the sandbox
                targets[key] = subprocess.Popen(["sleep", "600"], start_new_session=True)
                target = targets[key].pid
            source = attack.source.format(
                marker=marker, port=port, sentinel=sentinel.pid, target=target, **SYSCALL_NUMBERS
            )
            jobs[key] = (source, mode)
            if mode != "strict" and attack.name not in SIGNALS:  # the same attack through handle_bar
                marker = Path("/tmp") / f"huice-attack-{uuid.uuid4().hex}"
                markers[f"event-{key}"] = marker
                source = attack.source.format(marker=marker, port=port, sentinel=sentinel.pid, **SYSCALL_NUMBERS)
                jobs[f"event-{key}"] = (event_source(source), mode)
    for mode in ("kernel", "strict"):
        jobs[f"{mode}:signals to itself"] = (SELF_SIGNALS.format(**SYSCALL_NUMBERS), mode)
    for name in TEMPLATES + EVENT_TEMPLATES:
        jobs[f"template:{name}"] = ((TEMPLATE_DIR / f"{name}.py").read_text(), "full")
    jobs["simple"] = (SIMPLE, "full")
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {key: pool.submit(_run, src, mode, bars) for key, (src, mode) in jobs.items()}
            results = {key: f.result() for key, f in futures.items()}
        try:
            listener.accept()
            connected = True
        except BlockingIOError:
            connected = False
        alive = {key: proc.poll() is None for key, proc in targets.items()}
    finally:
        listener.close()
        del os.environ["HUICE_ATTACK_SECRET"]
        for proc in targets.values():
            proc.kill()
            proc.wait()
    results["_connected"] = connected
    results["_markers"] = markers
    results["_sentinel"] = sentinel
    results["_targets_alive"] = alive
    return results


def _small_env(redis: Any = None) -> config.StrategyEnv:
    settings = config.StrategySettings(
        strategy_cpu_seconds=TEST_LIMITS.cpu_seconds,
        strategy_wall_seconds=TEST_LIMITS.wall_seconds,
        strategy_memory_mb=TEST_LIMITS.memory_bytes // MiB,
        strategy_validate_seconds=TEST_LIMITS.wall_seconds,
        _env_file=None,
    )
    return config.build_env(settings, redis)


@pytest.fixture
def strategy_env(container: Any) -> config.StrategyEnv:
    """An env with the test limits (2 s CPU, 10 s wall, 512 MiB) and the default run admission over the
    test's Redis, wired into the test's container (so the API uses it too); the service tests hand it to
    the calls."""
    env = _small_env(container.redis)
    container.extras["strategy_management"] = env
    return env


@pytest.fixture
def user(make_user: Callable[..., Principal], strategy_env: config.StrategyEnv) -> Principal:
    return make_user()


@pytest.fixture
def other_user(make_user: Callable[..., Principal], strategy_env: config.StrategyEnv) -> Principal:
    return make_user()


@pytest.fixture
def headers(user: Principal, auth_headers_for: Callable[[Principal], dict[str, str]]) -> dict[str, str]:
    return auth_headers_for(user)


@pytest.fixture
def runner_config() -> RunnerConfig:
    return TEST_LIMITS


class Cli:
    """`huice strategy ...` in-process, as `user`, over the test's database."""

    def __init__(self, container: Any) -> None:
        self.lazy = LazyContainer(lambda: container)
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Any:
        from strategy_management.cli import app

        return self.runner.invoke(app, list(args), obj=self.lazy, input=input)


@pytest.fixture
def cli(
    container: Any, session: Any, user: Principal, monkeypatch: pytest.MonkeyPatch, strategy_env: config.StrategyEnv
) -> Cli:
    from huice.bootstrap import Container
    from huice.contexts import configure_contexts

    key = auth_service.create_api_key(session, env_of(container), user, name="cli tests").key
    session.flush()
    monkeypatch.setenv("HUICE_API_KEY", key)
    cli_container = Container(
        settings=container.settings, servers=container.servers, db=container.db, redis=container.redis
    )
    configure_contexts(cli_container)
    cli_container.extras["strategy_management"] = strategy_env
    return Cli(cli_container)
