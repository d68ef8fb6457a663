"""The service commands of `huice backtest`: the whole loop from the terminal, over the same service calls as
the API through the API client (`platform_core.cli.client`: in-process, or HTTP(S) with `HUICE_API_URL`),
acting as the logged-in user (`huice auth login` or `HUICE_API_KEY`). Every command has `--json`;
errors print the envelope on stderr and exit non-zero."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from backtest.domain import SUMMARY_METRICS
from platform_core.cli import (
    AppTyper,
    JsonOpt,
    client,
    emit,
    fail,
    format_value,
    parse_model,
    parse_params,
    print_json,
    read_text,
    updates,
)
from platform_core.errors import AppError, ErrorCode, InvalidInput

if TYPE_CHECKING:
    from backtest.schemas import RunRead

RUN_COLUMNS = ["run_id", "backtest_id", "status", "progress", "params", "queue_wait_s", "attempts", "created_at"]
# a list shows the run's id whole and what tells runs apart; `status` shows every field
RUN_LIST_COLUMNS = ["run_id", "status", "params", "created_at"]
BACKTEST_COLUMNS = ["id", "strategy", "symbols", "window", "params"]
TERMINAL = {"succeeded", "failed", "cancelled", "early_stopped"}

ParamOpt = Annotated[list[str], typer.Option("--param", help="Parameter k=v (repeatable; JSON values allowed).")]
KeyOpt = Annotated[str | None, typer.Option("--idempotency-key", help="Repeat-safe submission key (24 h).")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow progress until the run ends, then show metrics.")]


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a UUID, got {value!r}", field=field) from None


def _run_read(ctx: typer.Context, run_id: uuid.UUID) -> RunRead:
    from backtest.schemas import RunRead

    return RunRead.model_validate(client(ctx).run(str(run_id)))


def _updates(ctx: typer.Context, run_id: uuid.UUID) -> Iterator[RunRead]:
    """The run after each change: over HTTP each server-sent event of the run triggers a read (the stream
    ends with the run's terminal event); in-process the run is polled."""
    return updates(ctx, lambda: _run_read(ctx, run_id), lambda api: api.run_events(str(run_id)))


def _follow(ctx: typer.Context, run_id: uuid.UUID, quiet: bool) -> RunRead:
    """Follow the run until it ends, drawing a live progress bar unless `quiet`."""
    if quiet:
        return next(run for run in _updates(ctx, run_id) if run.status in TERMINAL)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"run {str(run_id)[:8]}", total=100, message="queued")
        for run in _updates(ctx, run_id):
            bar.update(task, completed=run.progress, message=f"{run.status} {run.progress_message}".strip())
            if run.status in TERMINAL:
                return run
    raise AssertionError("unreachable: the updates end only with the run")


def _metrics_table(run: RunRead) -> None:
    stats = run.stats or {}
    rows = [{"metric": key, "value": format_value(stats[key], key)} for key in SUMMARY_METRICS if key in stats]
    emit(rows, False, columns=["metric", "value"], title=f"run {run.run_id} {run.status}")
    sys.stdout.write(run.disclaimer + "\n")


def _finish(run: RunRead, as_json: bool) -> None:
    """Print the run (JSON) or its metrics; a failed or cancelled run exits non-zero with its error (the
    envelope with `--json`)."""
    if as_json:
        print_json(run)
    elif run.status == "succeeded":
        _metrics_table(run)
        for warning in (run.manifest or {}).get("warnings") or []:
            typer.echo(f"warning: {warning}", err=True)
    if run.status == "failed" and run.error is not None:
        fail(AppError(run.error.message, details=run.error.details, code=ErrorCode(run.error.code)), as_json=as_json)
    if run.status != "succeeded":
        sys.stderr.write(f"run {run.run_id} ended {run.status}\n")
        raise typer.Exit(1)


def _show_run(ctx: typer.Context, run_id: uuid.UUID, wait: bool, as_json: bool) -> None:
    if wait:
        _finish(_follow(ctx, run_id, quiet=as_json), as_json)
    else:
        run = _run_read(ctx, run_id)
        emit(run, as_json, columns=RUN_COLUMNS)
        if not as_json and run.status == "succeeded" and run.stats:
            _metrics_table(run)


def _universe(symbols: str | None, index: str | None, all_market: bool, filters: list[str]) -> Any:
    """`--symbols` (a list) or a point-in-time selection (`--index` / `--all-market` with `--universe-filter`)."""
    if sum((symbols is not None, index is not None, all_market)) != 1:
        raise InvalidInput(
            "name the universe with exactly one of --symbols, --index or --all-market", field="--symbols"
        )
    if symbols is not None:
        if filters:
            raise InvalidInput("--universe-filter applies to --index or --all-market", field="--universe-filter")
        return [s for s in symbols.split(",") if s.strip()]
    selection = {"index": index} if index is not None else {"all": True}
    return {**selection, **parse_params(filters, option="--universe-filter")}


def create(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="Window start (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option(help="Window end (YYYY-MM-DD).")],
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Universe: comma-separated codes, e.g. 600000.SH,000001.SZ")
    ] = None,
    index: Annotated[
        str | None, typer.Option("--index", help="Universe: an index's members on each session, e.g. 000300.SH.")
    ] = None,
    all_market: Annotated[
        bool, typer.Option("--all-market", help="Universe: every stock listed on each session.")
    ] = False,
    universe_filter: Annotated[
        list[str],
        typer.Option(
            "--universe-filter",
            help='Filter of --index/--all-market k=v: boards=["star"], exclude_st=true, min_listed_sessions=60, '
            "min_float_value (CNY), min_turnover (%) (repeatable).",
        ),
    ] = [],  # noqa: B006
    template: Annotated[str | None, typer.Option(help="Built-in template (copied into a new strategy).")] = None,
    strategy_id: Annotated[str | None, typer.Option(help="A strategy of yours (its latest version).")] = None,
    version_id: Annotated[str | None, typer.Option(help="An exact strategy version.")] = None,
    code_file: Annotated[
        str | None,
        typer.Option(
            "--code-file", help="Strategy source submitted inline (`-` for stdin): saved as a new strategy and pinned."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the strategy made from --template/--code-file.")] = None,
    param: ParamOpt = [],  # noqa: B006
    freq: Annotated[str, typer.Option(help="1d | 5min | 15min")] = "1d",
    snapshot: Annotated[str | None, typer.Option(help="Data snapshot id to pin (default: newest).")] = None,
    adjust: Annotated[str, typer.Option(help="none | qfq | qfq_pit | hfq")] = "qfq",
    cash: Annotated[float, typer.Option(help="Initial cash (CNY).")] = 1_000_000.0,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark index, e.g. 000300.SH.")] = None,
    preset: Annotated[str, typer.Option(help="a-share | plain")] = "a-share",
    fill: Annotated[str, typer.Option(help="next_open | next_close | same_close")] = "next_open",
    rule: Annotated[
        list[str],
        typer.Option(
            "--rule",
            help="Rule override k=v: commission_rate, min_commission, slippage_bps, limit_policy, volume_cap, "
            "stop_loss, take_profit, trailing_stop, audit_lookahead (repeatable).",
        ),
    ] = [],  # noqa: B006
    notes: Annotated[str, typer.Option(help="Free text.")] = "",
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a backtest: a strategy (template, strategy or version) on a universe and window."""
    from backtest.schemas import BacktestCreate

    code = None if code_file is None else read_text(code_file, option="--code-file")
    ref = {"template": template, "strategy_id": strategy_id, "version_id": version_id, "code": code, "name": name}
    ref["params"] = parse_params(param)
    body = parse_model(
        BacktestCreate,
        {
            "strategy_ref": {k: v for k, v in ref.items() if v is not None},
            "context": {
                "universe": _universe(symbols, index, all_market, universe_filter),
                "frequency": freq,
                "window": {"start": start, "end": end},
                "datasource_version": snapshot,
                "adjust": adjust,
                "initial_cash": cash,
                "benchmark": benchmark,
                "rules": {"preset": preset, "fill": fill, **parse_params(rule)},
            },
            "notes": notes,
        },
    )
    created = client(ctx).create_backtest(body.model_dump(mode="json", by_alias=True), idempotency_key)
    emit(created if as_json else created["backtest"], as_json, columns=BACKTEST_COLUMNS)
    for warning in [] if as_json else created.get("warnings") or []:
        typer.echo(f"warning: {warning}", err=True)


def run(
    ctx: typer.Context,
    backtest_id: Annotated[str, typer.Argument(help="The backtest to run.")],
    param: ParamOpt = [],  # noqa: B006
    priority: Annotated[str | None, typer.Option(help="high | default | low, or 1-9.")] = None,
    budget_ms: Annotated[int | None, typer.Option(help="Wall budget in milliseconds.")] = None,
    wait: WaitOpt = False,
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a run of a backtest; with --wait follow its progress and print its metrics."""
    from backtest.schemas import RunCreate

    level: Any = int(priority) if priority and priority.isdigit() else priority
    body = parse_model(
        RunCreate, {"mode": "single", "params": parse_params(param), "budget_ms": budget_ms, "priority": level}
    )
    bid = str(_uuid(backtest_id, "backtest_id"))
    ids = client(ctx).submit_run(bid, body.model_dump(mode="json", by_alias=True, exclude_unset=True), idempotency_key)
    _submitted(ctx, ids, wait, as_json)


def status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Status, progress, attempts, queue wait and (once done) the metrics of a run."""
    _show_run(ctx, _uuid(run_id, "run_id"), wait, as_json)


def list_(
    ctx: typer.Context,
    runs: Annotated[bool, typer.Option("--runs", help="List runs instead of backtests.")] = False,
    backtest: Annotated[str | None, typer.Option(help="Only the runs of this backtest.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs in this status (queued, succeeded, ...).")] = None,
    sort: Annotated[str | None, typer.Option(help="created_at or stats.<metric>, - for descending.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Your backtests (or runs: newest first, or by --sort -stats.sharpe), with --status to filter runs."""
    api = client(ctx)
    if runs or backtest or status or sort:
        if backtest:
            bid = str(_uuid(backtest, "backtest"))
            page_of_runs = api.backtest_runs(bid, status=status, sort=sort, limit=limit, offset=offset)
        else:
            page_of_runs = api.runs(status=status, sort=sort, limit=limit, offset=offset)
        columns = RUN_LIST_COLUMNS
        if sort and sort.lstrip("+-").startswith("stats."):
            metric = sort.lstrip("+-").removeprefix("stats.")
            columns = [*RUN_LIST_COLUMNS[:2], metric, *RUN_LIST_COLUMNS[2:3]]
            if not as_json:
                rows = [{**r, metric: (r.get("stats") or {}).get(metric)} for r in page_of_runs["items"]]
                emit(rows, False, columns=columns, title=f"{page_of_runs['total']} total")
                return
        emit(page_of_runs, as_json, columns=columns)
    else:
        backtests = api.backtests(limit, offset)
        if as_json:
            emit(backtests, True)
            return
        rows = [_backtest_row(b) for b in backtests["items"]]
        emit(rows, False, columns=BACKTEST_COLUMNS, title=f"{backtests['total']} total")


def _backtest_row(b: dict[str, Any]) -> dict[str, Any]:
    """One backtest as a table row a person reads: the full id, the strategy's name and version, the universe
    (its first code and how many more, or the selection and its size), the window and the parameters as `k=v`
    (newest first: no date)."""
    context, strategy = b["context"], b["strategy"]
    universe, selection = context["universe"], context.get("selection")
    if selection:  # a point-in-time selection: what it is, and how many codes it held in the window
        symbols = f"{selection['index'] if selection.get('index') else 'all listed'} ({len(universe)})"
    else:
        symbols = " ".join(universe) if len(universe) <= 2 else f"{universe[0]} +{len(universe) - 1}"
    return {
        "id": str(b["id"]),
        "strategy": f"{strategy['strategy_name']} v{strategy['version_number']}",
        "symbols": symbols,
        "window": f"{context['window']['start']} → {context['window']['end']}",
        "params": format_value(b["params"]) if b.get("params") else "—",
    }


def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel a run (repeating is harmless; a finished run is a conflict)."""
    rid = _uuid(run_id, "run_id")
    client(ctx).cancel_run(str(rid))
    emit({"run_id": rid, "cancel": "requested"}, as_json)


def rerun(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to repeat.")],
    wait: WaitOpt = False,
    idempotency_key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run again with the same version, params and data snapshot (identical results)."""
    ids = client(ctx).rerun(str(_uuid(run_id, "run_id")), idempotency_key)
    _submitted(ctx, ids, wait, as_json)


def _submitted(ctx: typer.Context, ids: Any, wait: bool, as_json: bool) -> None:
    """The new run's ids, or with --wait its progress and then its metrics."""
    if wait:
        _show_run(ctx, uuid.UUID(str(ids["run_ids"][0])), True, as_json)
    else:
        emit(ids, as_json)


def artifacts(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    kind: Annotated[
        str, typer.Argument(metavar="TYPE", help="equity | trades | orders | positions | fills | logs | metrics")
    ],
    fmt: Annotated[str, typer.Option("--format", help="csv | json | parquet | xlsx (typed cells, for Excel)")] = "csv",
    headers: Annotated[str, typer.Option("--headers", help="csv/xlsx column names: en or zh (日期, 代码, …)")] = "en",
    out: Annotated[Path | None, typer.Option(help="Write to this file (default: stdout).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download an artifact of a succeeded run in any format (xlsx and `--headers zh` for Excel users)."""
    content = client(ctx).artifact(str(_uuid(run_id, "run_id")), kind, fmt, headers=headers)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return
    out.write_bytes(content)
    emit({"path": out, "bytes": len(content), "format": fmt, "type": kind}, as_json)


SHARE_COLUMNS = [
    "id",
    "run_id",
    "optimization_id",
    "status",
    "expires_at",
    "visits",
    "last_visit_at",
    "include",
    "created_at",
]


def report(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run (succeeded).")],
    out: Annotated[Path, typer.Option(help="Write the HTML report to this file.")] = Path("report.html"),
    open_: Annotated[bool, typer.Option("--open", help="Open it in the default browser.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the run's interactive HTML report (one self-contained file: opens offline, no request leaves it)."""
    content = client(ctx).report(str(_uuid(run_id, "run_id")))
    out.write_bytes(content)
    emit({"path": out, "bytes": len(content), "format": "html", "type": "report"}, as_json)
    if open_:
        import webbrowser

        webbrowser.open(out.resolve().as_uri())


def share(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run to share (succeeded).")],
    expires: Annotated[str, typer.Option("--expires", help="Lifetime, e.g. 30m, 12h, 7d (required).")],
    trades: Annotated[bool, typer.Option("--trades/--no-trades", help="Show the trades and blocked orders.")] = True,
    positions: Annotated[bool, typer.Option("--positions/--no-positions", help="Show the positions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a read-only share link of a run (opens without login; the token is shown only now)."""
    from backtest.schemas import ShareCreate

    body = parse_model(ShareCreate, {"expires_in": expires, "include": {"trades": trades, "positions": positions}})
    created = client(ctx).share_run(str(_uuid(run_id, "run_id")), body.expires_in, body.include.model_dump())
    if as_json:
        print_json(created)
        return
    emit(created, False, columns=["id", "run_id", "status", "expires_at", "include"])
    sys.stdout.write(f"link (shown only once; opens without login): {created['url']}\n")


def shares(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Your share links: status, expiry and visits."""
    emit(client(ctx).shares(limit, offset), as_json, columns=SHARE_COLUMNS)


def unshare(
    ctx: typer.Context,
    share_id: Annotated[str, typer.Argument(help="The share link's id (from `huice backtest shares`).")],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a share link: it answers 404 from now on."""
    emit(client(ctx).revoke_share(str(_uuid(share_id, "share_id"))), as_json, columns=SHARE_COLUMNS)


# --- studying results ---------------------------------------------------------------------------------------

SortOpt = Annotated[str | None, typer.Option(help="Columns, comma-separated, - for descending: -pnl,symbol.")]
SymbolOpt = Annotated[str | None, typer.Option(help="One code or several, comma-separated.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="From this date (YYYY-MM-DD).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="To this date (YYYY-MM-DD).")]
LimitOpt = Annotated[int, typer.Option(min=1, max=200)]
OffsetOpt = Annotated[int, typer.Option(min=0)]
TRADE_COLUMNS = ["symbol", "entry_date", "exit_date", "quantity", "entry_price", "exit_price", "pnl", "return",
                 "holding_sessions"]  # fmt: skip
# `tag`: the label a strategy gave its own order (`reason=`), empty for untagged orders
ORDER_COLUMNS = ["date", "symbol", "side", "requested_qty", "filled_qty", "price", "fees", "status", "reason", "tag"]
FILL_COLUMNS = ["date", "symbol", "side", "qty", "price", "value", "commission", "stamp_duty", "transfer_fee", "fees"]
POSITION_COLUMNS = ["date", "symbol", "shares", "close", "market_value", "avg_cost", "unrealised_pnl", "weight"]


def _day(value: str | None, field: str) -> str | None:
    """A `--from`/`--to` date, checked here (YYYY-MM-DD) so the error names the option."""
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD, got {value!r}", field=field) from None


def _page_command(kind: str, columns: list[str]) -> Any:
    def command(
        ctx: typer.Context,
        run_id: Annotated[str, typer.Argument(help="The run.")],
        sort: SortOpt = None,
        symbol: SymbolOpt = None,
        start: FromOpt = None,
        end: ToOpt = None,
        side: Annotated[str | None, typer.Option(help="buy | sell (orders, fills).")] = None,
        status: Annotated[str | None, typer.Option(help="filled | partial | rejected (orders).")] = None,
        reason: Annotated[str | None, typer.Option(help="Why an order was not filled (orders).")] = None,
        limit: LimitOpt = 20,
        offset: OffsetOpt = 0,
        as_json: JsonOpt = False,
    ) -> None:
        extra = {"side": side, "status": status, "reason": reason}
        allowed = {"trades": (), "positions": (), "fills": ("side",), "orders": ("side", "status", "reason")}[kind]
        given = sorted(k for k, v in extra.items() if v is not None and k not in allowed)
        if given:
            raise InvalidInput(f"--{given[0]} does not apply to {kind}", field=given[0])
        page = getattr(client(ctx), f"run_{kind}")(
            str(_uuid(run_id, "run_id")),
            sort=sort,
            symbol=symbol,
            since=_day(start, "from"),
            until=_day(end, "to"),
            limit=limit,
            offset=offset,
            **{k: extra[k] for k in allowed},
        )
        shown = f"{len(page['items'])} of {page['total']} {kind} (offset {page['offset']})"
        emit(page, as_json, columns=columns, title=shown)

    command.__doc__ = f"A page of a run's {kind}: filter, sort on any column (--sort -pnl), --json for all fields."
    return command


def curves(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    start: FromOpt = None,
    end: ToOpt = None,
    points: Annotated[int, typer.Option(help="About this many points (10-10000).")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Chart-ready curves (equity, cash, market value, drawdown, benchmark), downsampled by MinMaxLTTB."""
    read = client(ctx).run_curves(
        str(_uuid(run_id, "run_id")), since=_day(start, "from"), until=_day(end, "to"), points=points
    )
    if as_json:
        print_json(read)
        return
    summary = {k: read[k] for k in ("run_id", "start", "end", "rows", "points", "method", "initial_cash")}
    summary.update(
        final_equity=read["equity"][-1],
        lowest_equity=min(read["equity"]),
        deepest_drawdown=min(read["drawdown"]),
        final_benchmark=read["benchmark"][-1] if read["benchmark"] else None,
    )
    emit(summary, False, title="curves")


def drawdowns(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    top: Annotated[int, typer.Option(help="How many periods, deepest first.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """The deepest drawdown periods: peak, trough, recovery, depth, length in sessions."""
    periods = client(ctx).run_drawdowns(str(_uuid(run_id, "run_id")), top=top)
    emit(periods, as_json, columns=["peak", "trough", "recovery", "depth", "sessions"], title="drawdown periods")


def returns(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    yearly: Annotated[bool, typer.Option("--yearly", help="Years instead of months.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Monthly (or yearly) returns of the strategy, the benchmark and the excess."""
    tables = client(ctx).run_returns(str(_uuid(run_id, "run_id")))
    if as_json:
        print_json(tables)
        return
    rows = tables["yearly"] if yearly else tables["monthly"]
    emit(rows, False, columns=["period", "strategy", "benchmark", "excess"], title="yearly" if yearly else "monthly")


def rolling(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    window: Annotated[int, typer.Option(help="Window in sessions.")] = 60,
    as_json: JsonOpt = False,
) -> None:
    """Rolling Sharpe, volatility and beta over a window of sessions (the last 20 sessions as a table)."""
    read = client(ctx).run_rolling(str(_uuid(run_id, "run_id")), window=window)
    if as_json:
        print_json(read)
        return
    series = zip(read["date"], read["sharpe"], read["volatility"], read["beta"], strict=True)
    rows = [{"date": d, "sharpe": s, "volatility": v, "beta": b} for d, s, v, b in list(series)[-20:]]
    emit(rows, False, columns=["date", "sharpe", "volatility", "beta"], title=f"rolling {window} sessions")


def study(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run.")],
    top: Annotated[int, typer.Option(help="Drawdown periods to list.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Trade and day statistics, drawdown periods and yearly returns of a run."""
    read = client(ctx).run_study(str(_uuid(run_id, "run_id")), top=top)
    if as_json:
        print_json(read)
        return
    emit(read["statistics"], False, title="statistics")
    periods = read["drawdown_periods"]
    emit(periods, False, columns=["peak", "trough", "recovery", "depth", "sessions"], title="drawdowns")
    emit(read["yearly"], False, columns=["period", "strategy", "benchmark", "excess"], title="yearly returns")


def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="2-10 runs.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the aligned curves as CSV here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs on one calendar: metrics side by side, intersection window, correlations."""
    ids = [_uuid(r, "run_ids") for r in run_ids]
    api = client(ctx)
    comparison = api.compare([str(i) for i in ids])
    if csv is not None:
        csv.write_bytes(api.compare([str(i) for i in ids], format="csv"))
    if as_json:
        print_json(comparison)
        return
    short = [str(i)[:8] for i in ids]
    metrics = [
        {"metric": name, **{s: values.get(str(i)) for s, i in zip(short, ids, strict=True)}}
        for name, values in comparison["metrics"].items()
    ]
    window = comparison["window"]
    title = f"window {window['start']}..{window['end']}" if window else "the runs share no session"
    emit(metrics, False, columns=["metric", *short], title=title)
    corr = [
        {"run": s, **dict(zip(short, row, strict=True))}
        for s, row in zip(short, comparison["correlation"], strict=True)
    ]
    emit(corr, False, columns=["run", *short], title="correlation of daily returns")


def diff(
    ctx: typer.Context,
    a: Annotated[str, typer.Argument(help="A run.")],
    b: Annotated[str, typer.Argument(help="Another run.")],
    as_json: JsonOpt = False,
) -> None:
    """Why two runs differ: manifest, strategy source, first differing session, metric deltas."""
    read = client(ctx).diff_runs(str(_uuid(a, "a")), str(_uuid(b, "b")))
    if as_json:
        print_json(read)
        return
    console = Console()
    console.print(f"[bold]{read['status']}[/bold]  first differing session: {read['first_difference'] or '—'}")
    if read["manifest"]:
        emit(read["manifest"], False, columns=["path", "a", "b"], title="manifest differences")
    changed = [{"metric": k, **v} for k, v in read["metrics"].items() if v["a"] != v["b"]]
    if changed:
        emit(changed, False, columns=["metric", "a", "b", "delta"], title="metric deltas (b - a)")
    if read["source_diff"]:
        console.print(read["source_diff"], markup=False, highlight=False)


def register(app: AppTyper) -> None:
    """Add the service commands to `huice backtest` (an `AppTyper`: errors render as the envelope)."""
    for name, fn in (
        ("create", create),
        ("run", run),
        ("status", status),
        ("list", list_),
        ("cancel", cancel),
        ("rerun", rerun),
        ("artifacts", artifacts),
        ("report", report),
        ("share", share),
        ("shares", shares),
        ("unshare", unshare),
        ("trades", _page_command("trades", TRADE_COLUMNS)),
        ("orders", _page_command("orders", ORDER_COLUMNS)),
        ("fills", _page_command("fills", FILL_COLUMNS)),
        ("positions", _page_command("positions", POSITION_COLUMNS)),
        ("curves", curves),
        ("drawdowns", drawdowns),
        ("returns", returns),
        ("rolling", rolling),
        ("study", study),
        ("compare", compare),
        ("diff", diff),
    ):
        app.command(name)(fn)
