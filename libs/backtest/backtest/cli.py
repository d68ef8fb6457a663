"""`huice backtest …`: backtests on the service (create, run, status, list, cancel, rerun, artifacts — each
with `--json`) and local runs of the engine (`local`, no server needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from platform_core.cli import AppTyper, parse_params, parse_value
from platform_core.errors import InvalidInput, invalid_input_from

app = AppTyper(help="Backtests: runs on the service, and local engine runs.")

SUMMARY = ("final_equity", "total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown",
           "calmar", "trade_count", "win_rate", "fill_count", "blocked_order_count", "total_fees")  # fmt: skip


@app.callback()
def backtest() -> None:
    """Backtests: create, run, follow, export and rerun on the service; `local` runs the engine here."""


def _axis(spec: str) -> list:
    if ":" in spec:
        parts = [float(p) for p in spec.split(":")]
        if len(parts) != 3 or parts[2] <= 0:
            raise InvalidInput(f"range {spec!r} must be start:stop:step", field="grid")
        values = np.arange(parts[0], parts[1] + parts[2] / 2, parts[2])
        return [int(v) if float(v).is_integer() else float(v) for v in values]
    return [parse_value(v.strip()) for v in spec.split(",")]


def _axes(items: list[str]) -> dict[str, list]:
    axes = {}
    for item in items:
        key, sep, spec = item.partition("=")
        if not sep:
            raise InvalidInput(f"--grid expects k=start:stop:step or k=v1,v2, got {item!r}", field="grid")
        axes[key.strip()] = _axis(spec)
    return axes


def _skipped_summary(skipped: list, total: int) -> str:
    """'skipped 45 of 100 combinations: fast: must be smaller than slow (45)'."""
    reasons: dict[str, int] = {}
    for _, exc in skipped:
        reasons[str(exc)] = reasons.get(str(exc), 0) + 1
    listed = "; ".join(f"{reason} ({count})" for reason, count in reasons.items())
    return f"skipped {len(skipped)} of {total} combinations: {listed}"


def _load_bars(data: Path | None, sample: bool, symbol: str) -> pl.DataFrame:
    from quant import normalize_bars
    from quant.synthetic import sample_universe

    if sample:
        return sample_universe()
    if data is None:
        raise InvalidInput("give --data FILE.csv|.parquet or --sample", field="data")
    if not data.exists():
        raise InvalidInput(f"{data} does not exist", field="data")
    frame = pl.read_parquet(data) if data.suffix == ".parquet" else pl.read_csv(data, try_parse_dates=True)
    return normalize_bars(frame, default_symbol=symbol)


def _strategy(name: str):
    from quant import load_strategy
    from quant.templates import TEMPLATE_NAMES, load_template

    if name in TEMPLATE_NAMES:
        return load_template(name)
    path = Path(name)
    if not path.exists():
        raise InvalidInput(f"{name!r} is neither a template ({', '.join(TEMPLATE_NAMES)}) nor a file", field="strategy")
    return load_strategy(path.read_text(encoding="utf-8"), name=path.stem)


def _print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in SUMMARY:
        value = metrics.get(key)
        table.add_row(key, f"{value:,.4f}" if isinstance(value, float) else str(value))
    Console().print(table)


@app.command("local")
def local(
    strategy: Annotated[str, typer.Argument(help="template name (ma_cross, ...) or a strategy .py file")],
    data: Annotated[
        Path | None, typer.Option(help="bars as CSV/Parquet: date, [symbol], open, high, low, close, volume")
    ] = None,
    sample: Annotated[bool, typer.Option(help="use the deterministic synthetic sample universe")] = False,
    symbol: Annotated[str, typer.Option(help="symbol for a file without a symbol column")] = "000001.SZ",
    param: Annotated[list[str], typer.Option("--param", help="k=v (repeatable)")] = [],  # noqa: B006
    grid: Annotated[list[str], typer.Option("--grid", help="k=start:stop:step or k=v1,v2 (repeatable)")] = [],  # noqa: B006
    preset: Annotated[str, typer.Option(help="a-share | plain")] = "a-share",
    fill: Annotated[str, typer.Option(help="next_open | next_close | same_close (optimistic)")] = "next_open",
    cash: Annotated[float, typer.Option(help="initial cash (CNY)")] = 1_000_000.0,
    shares: Annotated[str, typer.Option(help="integer | fractional (plain preset)")] = "integer",
    out: Annotated[Path | None, typer.Option(help="write all artifacts into this directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON to stdout")] = False,
) -> None:
    """Run a strategy on local bars and print its metrics (or a grid's summaries)."""
    from pydantic import ValidationError

    from quant import ContractError, EngineConfig, ParamError, StrategyError

    try:
        config = EngineConfig(preset=preset, fill=fill, initial_cash=cash, shares=shares)
        bars = _load_bars(data, sample, symbol)
        spec = _strategy(strategy)
        fixed = parse_params(param)
        if grid:
            from quant import grid_sets

            sets, skipped = grid_sets(spec, _axes(grid), fixed)
            _run_grid(spec, bars, sets, skipped, config, out, as_json)
        else:
            _run_one(spec, bars, fixed, config, out, as_json)
    except ParamError as exc:
        raise InvalidInput(str(exc), field=exc.field) from None
    except (StrategyError, ContractError) as exc:
        raise InvalidInput(str(exc)) from None
    except ValidationError as exc:
        raise invalid_input_from(exc, message="invalid configuration") from None


def _run_one(spec, bars, params, config, out: Path | None, as_json: bool) -> None:
    from quant import run_backtest, write_artifacts

    result = run_backtest(spec, bars, params, config)
    if out is not None:
        write_artifacts(result, out)
    if as_json:
        sys.stdout.write(json.dumps({"metrics": result.metrics, "manifest": result.manifest}, default=str) + "\n")
    else:
        _print_metrics(result.metrics, f"{spec.name} {result.manifest['params']}")


def _run_grid(spec, bars, sets, skipped, config, out: Path | None, as_json: bool) -> None:
    from quant import run_grid

    result = run_grid(spec, bars, sets, config)
    rejected = [{"params": params, "field": exc.field, "error": exc.message} for params, exc in skipped]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.summary.write_parquet(out / "grid.parquet")
        result.summary.write_csv(out / "grid.csv")
        (out / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str) + "\n")
    if as_json:
        body = {"summary": result.summary.to_dicts(), "skipped": rejected, "manifest": result.manifest}
        sys.stdout.write(json.dumps(body, default=str) + "\n")
    else:
        _print_grid(result.summary, [k for k in sets[0]] if sets else [])
        if skipped:
            Console(stderr=True).print(_skipped_summary(skipped, len(sets) + len(skipped)))


GRID_COLUMNS = ("total_return", "annual_return", "sharpe", "max_drawdown", "trade_count", "total_fees")
GRID_TOP = 20


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


def _print_grid(summary: pl.DataFrame, param_names: list[str]) -> None:
    """The best combinations by Sharpe (all of them with --json or --out)."""
    ranked = summary.sort("sharpe", descending=True, nulls_last=True)
    columns = [c for c in (*param_names, *GRID_COLUMNS) if c in ranked.columns]
    shown = min(GRID_TOP, ranked.height)
    table = Table(title=f"top {shown} of {ranked.height} combinations by Sharpe")
    for column in columns:
        table.add_column(column, justify="right")
    for row in ranked.head(GRID_TOP).iter_rows(named=True):
        table.add_row(*(_number(row[c]) for c in columns))
    Console().print(table)


# --- service commands (the same service calls as the API) ------------------------------------------------

from backtest.cli_service import register  # noqa: E402

register(app)
