"""The root `huice` command: version, doctor, db state, and errors as envelopes with exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from platform_core.settings import CoreSettings


def _run(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "huice", *args], env=env, capture_output=True, text=True, timeout=120)


def _server_env(settings: CoreSettings) -> dict[str, str]:
    return {
        "HUICE_DATABASE_URL": settings.database_url or "",
        "HUICE_REDIS_URL": settings.redis_url or "",
        "HUICE_DATA_DIR": str(settings.data_dir),
    }


def test_version_json() -> None:
    out = _run(["version", "--json"], {})
    assert out.returncode == 0
    assert json.loads(out.stdout) == {"version": "0.1.0"}


def test_db_current_and_doctor_report_state(settings: CoreSettings, migrated: str, redis) -> None:
    env = _server_env(settings)
    current = _run(["db", "current", "--json"], env)
    assert current.returncode == 0, current.stderr
    state = json.loads(current.stdout)
    assert state["at_head"] is True and state["current"] == state["heads"]

    doctor = _run(["doctor", "--json"], env)
    report = json.loads(doctor.stdout)
    assert doctor.returncode == 1  # no worker is running: not ready
    assert report["checks"]["postgres"]["ok"] and report["checks"]["migrations"]["ok"]
    assert report["checks"]["workers"]["ok"] is False
    assert report["config"]["embedded"] == []
    assert "password" not in doctor.stdout.lower() or "***" in doctor.stdout
    sandbox = report["sandbox"]  # the confined runner's layers on this kernel, and a real confined run
    assert sandbox["ok"] is True and sandbox["probe"]["ok"] is True and sandbox["seccomp"] is True
    landlock = sandbox["landlock"]
    assert landlock["signal_scoping"] is (landlock["abi"] >= 6)
    assert sandbox["signals_stopped_by"] == ["seccomp", *(["landlock"] if landlock["signal_scoping"] else [])]
    assert report["gates"] == ["postgres", "redis", "migrations", "workers"]
    assert [line["check"] for line in report["checklist"]][:5] == [
        "postgres",
        "redis",
        "migrations",
        "workers",
        "sandbox",
    ]
    human = _run(["doctor"], env)
    assert human.returncode == 1 and human.stderr == ""
    lines = human.stdout.splitlines()
    assert lines[0].startswith("✓ postgres ") and lines[0].endswith(" ms")
    assert lines[3].startswith("✗ workers ") and "0 of 2 configured alive" in lines[3]
    assert "signals stopped by seccomp" in human.stdout and "{" not in human.stdout
    assert lines[-1] == "huice is not ready (workers failed)"


def test_refused_production_config_is_an_envelope_with_exit_2() -> None:
    human = _run(["version"], {"HUICE_ENV": "production"})
    assert human.returncode == 2
    assert human.stderr.startswith("error: configuration refused: HUICE_SECRET_KEY must be set")
    assert human.stderr.endswith("(`huice config` lists every variable) (INVALID_INPUT)\n")
    out = _run(["version", "--json"], {"HUICE_ENV": "production"})
    assert out.returncode == 2
    envelope = json.loads(out.stderr.strip().splitlines()[-1])
    assert envelope["error"]["code"] == "INVALID_INPUT"
    assert "HUICE_SECRET_KEY" in envelope["error"]["message"]


LOADED = """
import sys
from typer.testing import CliRunner
from huice.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code == 0, result.output
heavy = ("backtest.service", "user_auth.service", "market_data.service", "job_orchestration.service", "sqlalchemy")
print(" ".join(m for m in heavy if m in sys.modules))
"""


def test_a_context_command_loads_only_its_context() -> None:
    """`huice backtest local` (the engine alone) imports neither the other contexts nor the database layer,
    which keeps its start-up near the engine's own import time; the full help still lists every context."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
    local = subprocess.run(
        [sys.executable, "-c", LOADED, "backtest", "local", "ma_cross", "--sample", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert local.stdout.strip() == ""
    listing = _run(["--help"], {})
    assert all(name in listing.stdout for name in ("auth", "data", "jobs", "strategy", "backtest", "db"))
    sub = _run(["backtest", "--help"], {})
    assert sub.returncode == 0 and "local" in sub.stdout and "--install-completion" not in sub.stdout
