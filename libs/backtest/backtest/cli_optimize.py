"""`huice backtest optimize` and `huice backtest optimization show|results|heatmap|report|share|cancel|promote`: sweeps
from the terminal through the API client (in-process or HTTP), acting as the logged-in user. `--wait` draws a
live bar (evaluated / total, best so far, ETA), then the Top-N table with the overfitting diagnostics."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backtest.cli_service import KeyOpt, ParamOpt, _submitted, _uuid
from platform_core.cli import (
    AppTyper,
    JsonOpt,
    client,
    emit,
    format_value,
    parse_model,
    parse_params,
    print_json,
    updates,
)
from platform_core.errors import InvalidInput

if TYPE_CHECKING:
    from backtest.schemas import OptimizationRead

TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}
SHOW_COLUMNS = ("sharpe", "total_return", "annual_return", "max_drawdown", "trade_count")
optimization = AppTyper(
    help="Optimisations (parameter sweeps): show, results, heatmap, report, share, cancel, promote."
)


def parse_duration_ms(text: str) -> int:
    """`500ms`, `90s`, `10m`, `2h` or plain milliseconds."""
    units = (("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000))
    value = text.strip().lower()
    for suffix, factor in units:
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "", 1).isdigit():
            return int(float(value[: -len(suffix)]) * factor)
    if value.isdigit():
        return int(value)
    raise InvalidInput(f"--budget expects e.g. 10m, 90s, 500ms; got {text!r}", field="budget")


def parse_early_stop(text: str) -> dict[str, Any]:
    """`metric:max|min:patience`, e.g. `sharpe:max:50`."""
    parts = text.split(":")
    if len(parts) != 3 or parts[1] not in ("max", "min") or not parts[2].isdigit():
        raise InvalidInput(f"--early-stop expects metric:max|min:patience, got {text!r}", field="early_stop")
    return {"metric": parts[0], "mode": parts[1], "patience": int(parts[2])}


def parse_validation(walk_forward: str | None, split: str | None) -> dict[str, Any] | None:
    """`--walk-forward train:test[:step]` (e.g. `2y:6m:6m`) or `--split 2024-01-01` as the `validation` block."""
    if walk_forward and split:
        raise InvalidInput("give --walk-forward or --split, not both", field="validation")
    if split:
        return {"split": split}
    if not walk_forward:
        return None
    parts = walk_forward.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidInput(
            f"--walk-forward {walk_forward!r} must be train:test[:step], e.g. 2y:6m:6m", field="validation.walk_forward"
        )
    return {"walk_forward": {"train": parts[0], "test": parts[1], "step": parts[2] if len(parts) == 3 else None}}


def parse_space(items: list[str]) -> dict[str, dict[str, Any]]:
    """`k=int:5:50[:step]`, `k=uniform:0.1:0.9`, `k=log_uniform:0.001:0.1` or `k=choices:a,b,c`."""
    from platform_core.cli import parse_value

    space = {}
    for item in items:
        name, sep, spec = item.partition("=")
        kind, _, rest = spec.partition(":")
        if not sep or kind not in ("int", "uniform", "log_uniform", "choices"):
            raise InvalidInput(f"--space expects k=int|uniform|log_uniform:low:high or k=choices:a,b; got {item!r}")
        if kind == "choices":
            space[name.strip()] = {"type": kind, "values": [parse_value(v) for v in rest.split(",")]}
            continue
        bounds = rest.split(":")
        if len(bounds) not in (2, 3):
            raise InvalidInput(f"--space {item!r}: give low:high", field="space")
        entry: dict[str, Any] = {"type": kind, "low": float(bounds[0]), "high": float(bounds[1])}
        if len(bounds) == 3:
            entry["step"] = int(bounds[2])
        space[name.strip()] = entry
    return space


def _read(ctx: typer.Context, opt_id: Any) -> OptimizationRead:
    from backtest.schemas import OptimizationRead

    return OptimizationRead.model_validate(client(ctx).optimization(str(opt_id)))


def _updates(ctx: typer.Context, opt_id: Any) -> Iterator[OptimizationRead]:
    """The sweep after each change: over HTTP its server-sent progress snapshots pace the reads; in-process
    it is polled."""
    return updates(ctx, lambda: _read(ctx, opt_id), lambda api: api.optimization_events(str(opt_id)))


def _best_text(opt: OptimizationRead) -> str:
    if opt.best is None:
        return "best —"
    params = " ".join(f"{k}={v}" for k, v in opt.best.params.items())
    return f"best {opt.metric} {format_value(opt.best.metric, opt.metric)} ({params})"


def _follow(ctx: typer.Context, opt_id: Any, quiet: bool) -> OptimizationRead:
    if quiet:
        return next(opt for opt in _updates(ctx, opt_id) if opt.status in TERMINAL)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        opt = _read(ctx, opt_id)
        task = bar.add_task(f"sweep {str(opt_id)[:8]}", total=max(1, opt.total), message="queued")
        for opt in _updates(ctx, opt_id):
            eta = f"ETA {opt.eta_ms / 1000:.1f}s" if opt.eta_ms else ""
            bar.update(task, completed=opt.evaluated, message=f"{opt.status} {_best_text(opt)} {eta}".strip())
            if opt.status in TERMINAL:
                return opt
    raise AssertionError("unreachable: the updates end only with the sweep")


def _results(ctx: typer.Context, opt_id: Any, **query: Any) -> Any:
    from backtest.schemas import OptimizationResult
    from platform_core.pagination import Page

    return Page[OptimizationResult].model_validate(client(ctx).optimization_results(str(opt_id), **query))


def _top_table(ctx: typer.Context, opt: OptimizationRead, top: int) -> None:
    page = _results(ctx, opt.optimization_id, limit=top, offset=0)
    names = sorted({k for r in page.items for k in r.params})
    metrics = [opt.metric, *[m for m in SHOW_COLUMNS if m != opt.metric]]
    table = Table(title=f"top {len(page.items)} of {opt.evaluated} by {opt.metric} ({opt.status}: {opt.reason})")
    for column in ("#", *names, "status", *metrics):
        table.add_column(column, justify="right")
    for r in page.items:
        values = r.metrics or {}
        table.add_row(
            str(r.index),
            *(str(r.params.get(n)) for n in names),
            r.status,
            *(format_value(values.get(m), m) for m in metrics),
        )
    console = Console()
    console.print(table)
    diag = opt.diagnostics or {}
    if "deflated_sharpe" in diag:
        d = diag["deflated_sharpe"]
        console.print(
            f"deflated Sharpe ratio {d['dsr']:.3f} (best annualised Sharpe {d['sharpe_annualised']:.2f} vs "
            f"{d['expected_max_sharpe_annualised']:.2f} expected from {d['trials']} unskilled trials)"
        )
    if "pbo" in diag and "pbo" in diag["pbo"]:
        console.print(
            f"probability of backtest overfitting {diag['pbo']['pbo']:.2f} (CSCV, {diag['pbo']['splits']} splits)"
        )

    if opt.validation:
        _validation_table(console, opt)


def _validation_table(console: Console, opt: OptimizationRead) -> None:
    """Per fold the windows, best params, in-sample and out-of-sample metric; then the stitched curve's metrics."""
    v = opt.validation or {}
    if "error" in v:
        console.print(f"validation failed: {v['error'].get('message')}")
        return
    kind = f"walk-forward {v['walk_forward']}" if "walk_forward" in v else f"split {v.get('split')}"
    table = Table(title=f"out-of-sample validation ({kind}) by {opt.metric}")
    for column in ("fold", "train", "test", "best params", "in-sample", "out-of-sample"):
        table.add_column(column, justify="right")
    for f in v.get("folds", []):
        params = ", ".join(f"{k}={val}" for k, val in (f.get("best_params") or {}).items())
        table.add_row(
            str(f["fold"]),
            f"{f['train_start']}..{f['train_end']}",
            f"{f['test_start']}..{f['test_end']}",
            params or "—",
            format_value(f.get("in_sample"), opt.metric),
            format_value(f.get("out_of_sample"), opt.metric),
        )
    console.print(table)
    oos = (v.get("out_of_sample") or {}).get("metrics") or {}
    ins = v.get("in_sample") or {}
    shown = {k: format_value(oos.get(k), k) for k in ("sharpe", "total_return", "max_drawdown")}
    fold_mean, full_best = (format_value(ins.get(k), opt.metric) for k in ("mean_fold_metric", "full_window_best"))
    console.print(
        f"stitched out-of-sample: sharpe {shown['sharpe']}, total return {shown['total_return']}, "
        f"max drawdown {shown['max_drawdown']}; in-sample: mean fold {opt.metric} {fold_mean}, "
        f"full-window best {full_best}"
    )


def optimize(
    ctx: typer.Context,
    backtest_id: Annotated[str, typer.Argument(help="The backtest to sweep.")],
    grid: Annotated[list[str], typer.Option("--grid", help="k=start:stop:step or k=v1,v2 (repeatable).")] = [],  # noqa: B006
    space: Annotated[
        list[str], typer.Option("--space", help="random/bayes: k=int:lo:hi, k=uniform:lo:hi, k=choices:a,b.")
    ] = [],  # noqa: B006
    mode: Annotated[str, typer.Option(help="grid | random | bayes (default: grid with --grid, else random).")] = "",
    n: Annotated[int | None, typer.Option(help="random/bayes: evaluations to draw.")] = None,
    seed: Annotated[int, typer.Option(help="random/bayes: the sampler's seed.")] = 0,
    param: ParamOpt = [],  # noqa: B006
    max_evals: Annotated[int | None, typer.Option("--max-evals", help="Evaluate at most this many.")] = None,
    early_stop: Annotated[str | None, typer.Option("--early-stop", help="metric:max|min:patience.")] = None,
    objective: Annotated[str | None, typer.Option(help="metric:max|min to rank by (default sharpe:max).")] = None,
    budget: Annotated[str | None, typer.Option(help="Wall budget of the sweep: 10m, 90s, 500ms.")] = None,
    concurrency: Annotated[int, typer.Option(help="Batches running at once.")] = 2,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Combinations per batch job.")] = None,
    priority: Annotated[str | None, typer.Option(help="high | default | low, or 1-9.")] = None,
    walk_forward: Annotated[
        str | None, typer.Option("--walk-forward", help="Validate out of sample: train:test[:step], e.g. 2y:6m:6m.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Validate out of sample from this date (in-sample before it).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the preview only; queue nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow with a live bar, then print the Top-N.")] = False,
    top: Annotated[int, typer.Option(help="Rows of the Top-N table.", min=1, max=200)] = 10,
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a parameter sweep of a backtest (grid, random or bayes) on the workers."""
    from backtest.local import parse_grid_axes
    from backtest.schemas import RunCreate

    chosen = mode or ("grid" if grid else "random")
    direction = objective.split(":") if objective else None
    level: Any = int(priority) if priority and priority.isdigit() else priority
    body = parse_model(
        RunCreate,
        {
            "mode": chosen,
            "params": parse_params(param),
            "grid_spec": parse_grid_axes(grid) if grid else None,
            "space": parse_space(space) if space else None,
            "n": n,
            "seed": seed,
            "max_evals": max_evals,
            "early_stop": parse_early_stop(early_stop) if early_stop else None,
            "objective": {"metric": direction[0], "mode": direction[1] if len(direction) > 1 else "max"}
            if direction
            else None,
            "budget_ms": parse_duration_ms(budget) if budget else None,
            "concurrency_limit": concurrency,
            "batch_size": batch_size,
            "priority": level,
            "dry_run": dry_run,
            "validation": parse_validation(walk_forward, split),
        },
    )
    bid = str(_uuid(backtest_id, "backtest_id"))
    ids = client(ctx).optimize(bid, body.model_dump(mode="json", by_alias=True, exclude_unset=True), idempotency_key)
    if dry_run or not wait:
        emit(ids["preview"] if (dry_run and not as_json) else ids, as_json)
        return
    _show(ctx, ids["optimization_id"], True, as_json, top)


def _show(ctx: typer.Context, opt_id: Any, wait: bool, as_json: bool, top: int) -> None:
    opt = _follow(ctx, opt_id, quiet=as_json) if wait else _read(ctx, opt_id)
    if as_json:
        print_json(opt)
    else:  # the full id first: `optimization results|report|share ID` need it
        Console().print(f"optimization {opt.optimization_id}", soft_wrap=True)
        _top_table(ctx, opt, top)
    if wait and opt.status in ("failed", "cancelled"):
        sys.stderr.write(f"optimization {opt.optimization_id} ended {opt.status}: {opt.reason}\n")
        raise typer.Exit(1)


@optimization.command("show")
def show(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow until it ends.")] = False,
    top: Annotated[int, typer.Option(help="Rows of the Top-N table.", min=1, max=200)] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Status, evaluated / total, best so far, reason, ETA, diagnostics and the Top-N."""
    _show(ctx, _uuid(optimization_id, "optimization_id"), wait, as_json, top)


@optimization.command("results")
def results(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    sort: Annotated[str | None, typer.Option(help="A metric or parameter (default: the objective).")] = None,
    order: Annotated[str | None, typer.Option(help="asc | desc (default: best first).")] = None,
    filter: Annotated[list[str], typer.Option("--filter", help="metric:gt|ge|lt|le|eq:value (repeatable).")] = [],  # noqa: B006
    status: Annotated[str | None, typer.Option(help="succeeded | failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | xlsx")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the CSV or xlsx to this file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One row per evaluated combination, sorted and filtered (all of them with --format csv or xlsx)."""
    oid = _uuid(optimization_id, "optimization_id")
    query = {"sort": sort, "order": order, "filter": filter or None, "status": status}
    if fmt in ("csv", "xlsx"):
        content = client(ctx).optimization_results(str(oid), format=fmt, **query)
        if out is None:
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
        else:
            out.write_bytes(content)
            emit({"path": out, "bytes": len(content)}, as_json)
        return
    page = _results(ctx, oid, limit=limit, offset=offset, **query)
    if as_json:
        print_json(page)
        return
    names = list(dict.fromkeys(k for r in page.items for k in r.params))
    rows = [
        {"index": r.index, **r.params, "status": r.status, **{m: (r.metrics or {}).get(m) for m in SHOW_COLUMNS}}
        for r in page.items
    ]
    emit(rows, False, columns=["index", *names, "status", *SHOW_COLUMNS], title=f"{page.total} results")


@optimization.command("heatmap")
def heatmap(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    x: Annotated[str, typer.Option(help="Parameter on the x axis.")],
    y: Annotated[str, typer.Option(help="Parameter on the y axis.")],
    metric: Annotated[str | None, typer.Option(help="Metric (default: the objective).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The parameter-performance matrix (other parameters aggregated by the best)."""
    from backtest.schemas import Heatmap

    answer = client(ctx).optimization_heatmap(str(_uuid(optimization_id, "optimization_id")), x, y, metric)
    heat = Heatmap.model_validate(answer)
    if as_json:
        print_json(heat)
        return
    table = Table(title=f"{heat.metric} by {heat.y} (rows) × {heat.x} (columns), {heat.aggregation}")
    table.add_column(f"{heat.y} \\ {heat.x}")
    for value in heat.x_values:
        table.add_column(str(value), justify="right")
    for value, row in zip(heat.y_values, heat.z, strict=True):
        table.add_row(str(value), *(format_value(c, heat.metric) for c in row))
    Console().print(table)


@optimization.command("report")
def report(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    out: Annotated[Path, typer.Option(help="Write the HTML report to this file.")] = Path("sweep.html"),
    x: Annotated[str | None, typer.Option(help="Heatmap x parameter (default: the first).")] = None,
    y: Annotated[str | None, typer.Option(help="Heatmap y parameter (default: the second).")] = None,
    metric: Annotated[str | None, typer.Option(help="Heatmap metric (default: the objective).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the sweep's HTML report (heatmap, Top-N, diagnostics; one self-contained file, opens offline)."""
    oid = _uuid(optimization_id, "optimization_id")
    content = client(ctx).optimization_report(str(oid), x, y, metric)
    out.write_bytes(content)
    emit({"path": out, "bytes": len(content), "format": "html", "type": "sweep_report"}, as_json)
    if open_:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())


@optimization.command("share")
def share(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    expires: Annotated[str, typer.Option(help="Lifetime of the link: 30m, 12h, 7d (required).")],
    as_json: JsonOpt = False,
) -> None:
    """A read-only link to the sweep's report (opens without login; the token is shown only now)."""
    from backtest.schemas import ShareCreate

    body = parse_model(ShareCreate, {"expires_in": expires})
    created = client(ctx).share_optimization(str(_uuid(optimization_id, "optimization_id")), body.expires_in)
    if as_json:
        print_json(created)
        return
    emit(created, False, columns=["id", "optimization_id", "status", "expires_at"])
    sys.stdout.write(f"link (shown only once; opens without login): {created['url']}\n")


@optimization.command("cancel")
def cancel(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    as_json: JsonOpt = False,
) -> None:
    """Stop every remaining evaluation (repeating is harmless)."""
    oid = _uuid(optimization_id, "optimization_id")
    client(ctx).cancel_optimization(str(oid))
    emit({"optimization_id": oid, "status": "cancelled"}, as_json)


@optimization.command("promote")
def promote(
    ctx: typer.Context,
    optimization_id: Annotated[str, typer.Argument(help="The optimisation.")],
    index: Annotated[int, typer.Argument(help="The result's index (see `results`).")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the run, then show its metrics.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A full single run (every artifact) of one result's params."""
    ids = client(ctx).promote(str(_uuid(optimization_id, "optimization_id")), index)
    _submitted(ctx, ids, wait, as_json)


def register(app: AppTyper) -> None:
    app.command("optimize")(optimize)
    app.add_typer(optimization, name="optimization")
