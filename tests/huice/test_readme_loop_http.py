"""The README's "Try it" loop, read from README.md itself and run as written — on a laptop against a server.

The server side does what `make run` does (`huice db upgrade`, `huice data load-sample --if-empty`,
`huice serve` with workers) in its own directory. The laptop side is another directory with nothing but the
installed CLI: every `huice` line runs with `--api http://127.0.0.1:PORT` (no database, no data dir;
`auth login` stores the session for that URL). Operator lines (`doctor`) run on the server side, as the
README's "operator commands" do. Placeholders (`<backtest-id>`, `<run-id>`, ...) are filled from the
server through the Python client as the previous line created them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from huice_client import Client
from tests.api_server import api_server, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
HUICE = ".venv/bin/huice"
OPERATOR = ("doctor",)  # commands of the server host (`make run`'s side), never sent over --api


def readme_loop() -> list[str]:
    """The command lines of the first ```bash block under "## Try it" (continuations joined)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Try it", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    lines, current = [], ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip() and not current.lstrip().startswith("#"):
            lines.append(current.strip())
        current = ""
    return lines


def test_the_readme_loop_is_what_this_test_runs() -> None:
    lines = readme_loop()
    assert lines[0].startswith("make run")
    assert all(line.startswith(HUICE) for line in lines[1:])
    assert {"auth login", "backtest create", "backtest run", "backtest optimize"} <= {
        " ".join(line.split()[1:3]) for line in lines[1:]
    }


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_readme_loop_works_from_another_directory_through_the_api(
    fresh_database_url: str, test_servers, tmp_path: Path
) -> None:
    server_dir, laptop = tmp_path / "server", tmp_path / "laptop"
    server_dir.mkdir()
    laptop.mkdir()
    python = shlex.quote(sys.executable)
    on_server = server_env(fresh_database_url, test_servers.redis_url, server_dir / "var")
    for setup in ("db upgrade", "data load-sample --if-empty"):  # what `make run` does before serving
        done = _run(f"{python} -m huice {setup}", server_dir, on_server)
        assert done.returncode == 0, done.stderr[-2000:]

    with api_server(fresh_database_url, test_servers.redis_url, server_dir / "var", workers=2) as url:
        on_laptop = {k: v for k, v in os.environ.items() if not k.startswith("HUICE_")}
        on_laptop.update(HUICE_CONFIG_DIR=str(laptop / "config"), BROWSER="true", COLUMNS="200")
        ids: dict[str, str] = {}
        outputs: dict[str, str] = {}
        reader = Client(url)  # looks up the ids a user would copy from the output, as that user
        for line in readme_loop()[1:]:
            words = line.split()
            operator = words[1] in OPERATOR
            prefix = f"{python} -m huice" if operator else f"{python} -m huice --api {url}"
            command = re.sub(r"<([a-z-]+)>", lambda m: ids[m.group(1)], line.replace(HUICE, prefix, 1))
            done = _run(command, server_dir if operator else laptop, on_server if operator else on_laptop)
            assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
            outputs[" ".join(words[1:3])] = done.stdout
            if words[1:3] == ["auth", "login"]:
                reader.login(*_credentials())
            ids.update(_created(reader, line))
        frames = _frames(reader, ids)
        reader.close()
        notebook = _run_python_client_example(url)

    assert not (laptop / "var").exists()  # the laptop opened no database and no data dir
    assert [p.name for p in (laptop / "config" / "sessions").iterdir()] == [_session_name(url)]
    assert (laptop / "trades.csv").read_bytes().startswith(b"\xef\xbb\xbfsymbol,entry_date")
    assert "研究用途，不构成投资建议" in (laptop / "report.html").read_text(encoding="utf-8")
    assert (laptop / "grid.csv").read_text(encoding="utf-8-sig").startswith("index,")
    assert "identical" in outputs["backtest diff"]
    assert "/s/hs_" in outputs["backtest share"]
    assert "sharpe" in outputs["backtest run"] and "total_return" in outputs["backtest run"]
    trades, equity, metrics, sweep = frames
    assert trades.height > 0 and {"symbol", "entry_date", "pnl"} <= set(trades.columns)
    assert trades["pnl"].dtype.is_float() and equity.height > 100
    assert metrics["run_id"].to_list() == [ids["run-id"], ids["rerun-id"]]
    assert metrics["sharpe"][0] == metrics["sharpe"][1]  # the rerun reproduces the run
    assert sweep.height > 0 and {"fast", "slow", "sharpe"} <= set(sweep.columns)
    assert notebook["trades"].height > 0 and notebook["results"].height == 6
    assert notebook["e"].code == "NOT_FOUND" and notebook["e"].status == 404


def _run_python_client_example(url: str) -> dict:
    """The README's "Python client" example, as written, against the server (after the loop's login)."""
    text = README.read_text(encoding="utf-8").split("## Python client", 1)[1]
    code = text.split("```python", 1)[1].split("```", 1)[0].replace("http://127.0.0.1:8000", url)
    code = code.replace("except HuiceError as e:", "except HuiceError as caught:\n    e = caught")
    scope: dict = {}
    exec(compile(code, "README.md (Python client)", "exec"), scope)  # noqa: S102 - our own README's example
    return scope


def _frames(api: Client, ids: dict[str, str]) -> tuple:
    """What a notebook reads with the Python client after the loop: polars frames, typed columns."""
    return (
        api.trades_frame(ids["run-id"]),
        api.equity_frame(ids["run-id"]),
        api.metrics_frame(ids["run-id"], ids["rerun-id"]),
        api.optimization_frame(ids["optimization-id"]),
    )


def _session_name(url: str) -> str:
    from huice.transport import remote_session_path

    return remote_session_path(url).name


def _credentials() -> tuple[str, str]:
    loop = " ".join(readme_loop())
    return re.search(r"--email (\S+)", loop).group(1), re.search(r"--password '([^']+)'", loop).group(1)


def _created(api: Client, line: str) -> dict[str, str]:
    """The id a line created, read from the server as the README's user (what they would copy)."""
    step = line.split()[1:3]
    if step == ["backtest", "create"]:
        return {"backtest-id": api.backtests(limit=1)["items"][0]["id"]}
    if step == ["backtest", "optimize"]:
        return {"optimization-id": api.optimizations(limit=1)["items"][0]["optimization_id"]}
    if step in (["backtest", "run"], ["backtest", "rerun"]):
        newest = api.runs(limit=1)["items"][0]["run_id"]
        return {"run-id": newest} if step[1] == "run" else {"rerun-id": newest}
    return {}
