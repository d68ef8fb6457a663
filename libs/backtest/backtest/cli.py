"""`huice backtest …`: backtests on the service (create, run, status, list, cancel, rerun, artifacts — each
with `--json`) and local runs of the engine (`local`, no server needed: parse → `backtest.local.run_local`
→ render; it never imports the service or the database layer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from backtest.domain import SUMMARY_METRICS
from platform_core.cli import AppTyper, format_value, parse_params
from platform_core.errors import invalid_input_from

if TYPE_CHECKING:
    from backtest.local import LocalResult

app = AppTyper(help="Backtests: runs on the service, and local engine runs.")


@app.callback()
def backtest() -> None:
    """Backtests: create, run, follow, export and rerun on the service; `local` runs the engine here."""


def _print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in SUMMARY_METRICS:
        if key in metrics:
            value = metrics[key]
            table.add_row(key, format_value(value, key))
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

    from backtest.local import load_bars, load_local_strategy, parse_grid_axes, run_local
    from quant import EngineConfig

    try:
        config = EngineConfig(preset=preset, fill=fill, initial_cash=cash, shares=shares)
        bars = load_bars(data, sample, symbol)
        spec = load_local_strategy(strategy)
        result = run_local(spec, bars, parse_params(param), parse_grid_axes(grid), config)
    except ValidationError as exc:
        raise invalid_input_from(exc, message="invalid configuration") from None
    if result.grid is not None:
        _render_grid(result, out, as_json)
    else:
        _render_one(result, out, as_json)


def _render_one(local: LocalResult, out: Path | None, as_json: bool) -> None:
    from quant import write_artifacts

    result = local.result
    if out is not None:
        write_artifacts(result, out)
    if as_json:
        sys.stdout.write(json.dumps({"metrics": result.metrics, "manifest": result.manifest}, default=str) + "\n")
    else:
        _print_metrics(result.metrics, f"{local.strategy.name} {result.manifest['params']}")


def _render_grid(local: LocalResult, out: Path | None, as_json: bool) -> None:
    result = local.grid
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.summary.write_parquet(out / "grid.parquet")
        result.summary.write_csv(out / "grid.csv", include_bom=True)
        (out / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str) + "\n")
    if as_json:
        body = {"summary": result.summary.to_dicts(), "skipped": local.rejected, "manifest": result.manifest}
        sys.stdout.write(json.dumps(body, default=str) + "\n")
    else:
        _print_grid(result.summary, local.param_names)
        if note := local.skipped_note():
            Console(stderr=True).print(note)


GRID_COLUMNS = ("total_return", "annual_return", "sharpe", "max_drawdown", "trade_count", "total_fees")
GRID_TOP = 20


def _print_grid(summary: pl.DataFrame, param_names: list[str]) -> None:
    """The best combinations by Sharpe (all of them with --json or --out)."""
    ranked = summary.sort("sharpe", descending=True, nulls_last=True)
    columns = [c for c in (*param_names, *GRID_COLUMNS) if c in ranked.columns]
    shown = min(GRID_TOP, ranked.height)
    table = Table(title=f"top {shown} of {ranked.height} combinations by Sharpe")
    for column in columns:
        table.add_column(column, justify="right")
    for row in ranked.head(GRID_TOP).iter_rows(named=True):
        table.add_row(*(format_value(row[c], c) for c in columns))
    Console().print(table)


# --- service commands (the same service calls as the API) ------------------------------------------------

from backtest.cli_optimize import register as register_optimize  # noqa: E402
from backtest.cli_service import register  # noqa: E402

register(app)
register_optimize(app)
