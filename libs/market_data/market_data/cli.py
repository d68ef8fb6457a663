"""`huice data ...`: market data from the command line, every command with `--json`.

Read commands (instruments, calendar, bars, coverage, snapshots) and the operator commands (load-sample,
sync, check) run without a login on the server host: market data is not owned by any user. With `--api`
(or HUICE_API_URL) the read commands ask that server's API instead, as the signed-in user (the API needs a
caller); sync/check/load-sample stay operator commands of the server host.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from market_data import service
from market_data.config import env_of
from market_data.schemas import SyncJobRead, SyncProgress, SyncRequest, SyncResult
from platform_core.cli import (
    AppTyper,
    JsonOpt,
    client,
    container,
    emit,
    fail,
    is_remote,
    parse_model,
    print_json,
    to_jsonable,
)
from platform_core.errors import AppError, ErrorCode, InvalidInput
from platform_core.pagination import PageParams

app = AppTyper(help="Market data: instruments, calendar, bars, coverage, snapshots; load-sample, sync, check.")

SymbolsOpt = Annotated[str | None, typer.Option("--symbols", help="Comma-separated codes, e.g. 600000.SH,000001.SZ.")]
StartOpt = Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")]
EndOpt = Annotated[str, typer.Option("--end", help="Last date, YYYY-MM-DD.")]
FreqOpt = Annotated[str, typer.Option("--freq", help="1d, 5min or 15min.")]
SnapshotOpt = Annotated[str | None, typer.Option("--snapshot", help="Snapshot id (default: the default snapshot).")]


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} expects a date YYYY-MM-DD, got {value!r}", field=option) from None


def _symbols(value: str | None) -> list[str] | None:
    return [s for s in (p.strip() for p in value.split(",")) if s] if value else None


class _LocalReader:
    """The read use cases in-process, without a login — as these commands always ran on the server host —
    with the method names and JSON answers of `huice_client.Client`, which serves them with `--api`
    (there a login or API key is needed, as for every route)."""

    def __init__(self, c: Any) -> None:
        self.c = c

    def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self.c.db.transaction() as session:
            return to_jsonable(fn(session, *args, **kwargs))

    def instruments(self, q: Any, board: Any, exchange: Any, kind: Any, limit: int, offset: int) -> Any:
        page = PageParams(limit=limit, offset=offset)
        return self._read(service.search_instruments, page=page, q=q, board=board, exchange=exchange, kind=kind)

    def instrument(self, symbol: str) -> Any:
        return self._read(service.instrument_detail, symbol)

    def calendar(self, start: str, end: str) -> Any:
        return self._read(service.calendar, date.fromisoformat(start), date.fromisoformat(end))

    def bars(self, symbols: str, start: str, end: str, freq: str, adjust: str, snapshot_id: Any, format: str) -> Any:
        env = env_of(self.c)
        codes = _symbols(symbols) or []
        args = {"freq": freq, "start": date.fromisoformat(start), "end": date.fromisoformat(end)}
        args |= {"adjust": adjust, "snapshot_id": snapshot_id}
        if format == "csv":
            return self._read(lambda s: service.bars_csv(s, env, codes, **args, bom=False)).encode("utf-8")
        return self._read(lambda s: service.bars_view(s, env, codes, **args))

    def coverage(self, freq: Any, symbol: Any, snapshot_id: Any) -> Any:
        return self._read(service.coverage, snapshot_id=snapshot_id, freq=freq, symbol=symbol)

    def snapshots(self, limit: int, offset: int) -> Any:
        return self._read(service.list_snapshots, page=PageParams(limit=limit, offset=offset))

    def snapshot(self, snapshot_id: str) -> Any:
        return self._read(service.get_snapshot, snapshot_id)

    def default_snapshot(self) -> Any:
        return self._read(service.default_snapshot_detail)

    def set_default_snapshot(self, snapshot_id: str) -> Any:
        return self._read(lambda s: service.set_default_snapshot(s, snapshot_id, set_by="cli"))

    def index_members(self, index_code: str, on: str) -> Any:
        return self._read(service.index_members, index_code, date.fromisoformat(on))

    def universe(self, on: str) -> Any:
        return self._read(service.listed_universe, date.fromisoformat(on))

    def fundamentals(self, symbols: str, start: str, end: str) -> Any:
        codes = _symbols(symbols) or []
        return self._read(service.fundamentals_view, codes, date.fromisoformat(start), date.fromisoformat(end))


def _reader(ctx: typer.Context) -> Any:
    """Who answers the read commands: the server's API with `--api`, else the local database."""
    return client(ctx) if is_remote(ctx) else _LocalReader(container(ctx))


def _day(value: str, option: str) -> str:
    parsed = _date(value, option)
    assert parsed is not None
    return parsed.isoformat()


@app.command("instruments")
def instruments(
    ctx: typer.Context,
    q: Annotated[str | None, typer.Option(help="Part of the code or name.")] = None,
    board: Annotated[str | None, typer.Option(help="main, chinext, star, bse or index.")] = None,
    exchange: Annotated[str | None, typer.Option(help="SSE, SZSE or BSE.")] = None,
    kind: Annotated[str | None, typer.Option(help="stock or index.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Search instruments by code or name; filter by board, exchange or kind."""
    page = _reader(ctx).instruments(q, board, exchange, kind, limit, offset)
    emit(page, as_json, columns=["symbol", "name", "exchange", "board", "list_date", "delist_date", "source"])


@app.command("instrument")
def instrument(ctx: typer.Context, symbol: str, as_json: JsonOpt = False) -> None:
    """One instrument with its ST periods and coverage."""
    emit(_reader(ctx).instrument(symbol), as_json)


@app.command("calendar")
def calendar(ctx: typer.Context, start: StartOpt, end: EndOpt, as_json: JsonOpt = False) -> None:
    """Trading sessions between --start and --end."""
    result = _reader(ctx).calendar(_day(start, "--start"), _day(end, "--end"))
    emit(
        result if as_json else [{"session": d} for d in result["sessions"]],
        as_json,
        title=f"{len(result['sessions'])} sessions ({result['source']})",
    )


@app.command("bars")
def bars(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated codes.")],
    start: StartOpt,
    end: EndOpt,
    freq: FreqOpt = "1d",
    adjust: Annotated[str, typer.Option(help="none, qfq or hfq.")] = "qfq",
    snapshot: SnapshotOpt = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option(help="Write CSV to this file.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Bars in the bar-frame contract (JSON, CSV or a table)."""
    window = (_day(start, "--start"), _day(end, "--end"))
    fmt = "csv" if csv or output else "json"
    answer = _reader(ctx).bars(symbols, *window, freq=freq, adjust=adjust, snapshot_id=snapshot, format=fmt)
    if fmt == "csv":
        text = answer.decode("utf-8-sig")
        if output:
            output.write_text("\ufeff" + text, encoding="utf-8")
            emit({"written": str(output), "rows": max(0, text.count("\n") - 1), "bom": True}, as_json)
        else:
            sys.stdout.write(text)
    elif as_json:
        print_json(answer)
    else:
        emit(
            answer["rows"],
            False,
            columns=["symbol", "ts", "open", "high", "low", "close", "volume", "suspended"],
            title=f"{len(answer['rows'])} bars · snapshot {answer['snapshot_id']} ({answer['source']}) · "
            f"{answer['adjust']}",
        )


@app.command("members")
def members(
    ctx: typer.Context,
    index_code: Annotated[str, typer.Argument(help="The index, e.g. 000300.SH.")],
    on: Annotated[str, typer.Option("--on", help="The session, YYYY-MM-DD (point in time).")],
    as_json: JsonOpt = False,
) -> None:
    """The constituents of an index as of a session (the newest weight date on or before it)."""
    found = _reader(ctx).index_members(index_code, _day(on, "--on"))
    if as_json:
        emit(found, True)
        return
    emit(
        found["members"],
        False,
        columns=["symbol", "weight"],
        title=f"{found['index_code']} on {found['on']} ({found['weight_date']})",
    )


@app.command("universe")
def universe(
    ctx: typer.Context,
    on: Annotated[str, typer.Option("--on", help="The session, YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """Every stock listed on a session (delisted stocks while they traded)."""
    found = _reader(ctx).universe(_day(on, "--on"))
    emit(found if as_json else [{"symbol": s} for s in found["symbols"]], as_json, columns=["symbol"])


@app.command("fundamentals")
def fundamentals(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated codes.")],
    start: StartOpt,
    end: EndOpt,
    as_json: JsonOpt = False,
) -> None:
    """PE, PB, PS, dividend yield, market value and turnover per stock and session (daily_basic)."""
    found = _reader(ctx).fundamentals(symbols, _day(start, "--start"), _day(end, "--end"))
    emit(found if as_json else found["rows"], as_json, columns=None if as_json else found["columns"])


@app.command("coverage")
def coverage(
    ctx: typer.Context,
    freq: Annotated[str | None, typer.Option(help="1d, 5min or 15min.")] = None,
    symbol: Annotated[str | None, typer.Option(help="One code.")] = None,
    snapshot: SnapshotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a snapshot (default: the newest) holds per frequency and symbol."""
    rows = _reader(ctx).coverage(freq, symbol, snapshot)
    emit(rows, as_json, columns=["freq", "symbol", "first_date", "last_date", "rows"])


@app.command("snapshots")
def snapshots(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Data snapshots, newest first; `default` marks the one new backtests use (see `huice data default`)."""
    page = _reader(ctx).snapshots(limit, offset)
    if as_json:
        emit(page, True)
        return
    # what fits a 100-column terminal; `--json` (and `data snapshot ID`) add the files, hash and coverage
    items = to_jsonable(page)["items"]
    rows = [{"default": "default" if s.get("is_default") else "", **s} for s in items]
    emit(rows, False, columns=["default", "id", "source", "created_at", "rows"])


@app.command("default")
def default(
    ctx: typer.Context,
    snapshot_id: Annotated[str | None, typer.Argument(help="Make this snapshot the default.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The default snapshot (what new backtests and unpinned reads use) and its rule; with SNAPSHOT_ID,
    make that one the default. A published snapshot becomes the default by itself only when it covers
    everything the current default covers, so a partial sync never changes it."""
    reader = _reader(ctx)
    current = reader.default_snapshot() if snapshot_id is None else reader.set_default_snapshot(snapshot_id)
    if as_json:
        emit(current, True)
        return
    emit(
        {
            "snapshot": current["snapshot"]["id"],
            "source": current["snapshot"]["source"],
            "created_at": current["snapshot"]["created_at"],
            "set_at": current["set_at"],
            "reason": current["reason"],
        },
        False,
    )
    typer.echo(current["rule"])


@app.command("snapshot")
def snapshot(ctx: typer.Context, snapshot_id: str, as_json: JsonOpt = False) -> None:
    """One snapshot with its partitions."""
    emit(_reader(ctx).snapshot(snapshot_id), as_json)


@app.command("load-sample")
def load_sample(
    ctx: typer.Context,
    symbols: SymbolsOpt = None,
    start: Annotated[str | None, typer.Option("--start", help="First date (default 2015-01-01).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date (default 2025-12-31).")] = None,
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if sample data is loaded.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Load the synthetic offline sample (source `sample`, not real prices) and record a snapshot."""
    c = container(ctx)
    with c.db.transaction() as session:
        result = service.load_sample(
            session,
            env_of(c),
            symbols=_symbols(symbols),
            start=_date(start, "--start"),
            end=_date(end, "--end"),
            if_empty=if_empty,
        )
    emit(
        result
        if as_json
        else {
            "snapshot": result.snapshot.id,
            "source": "sample",
            "skipped": result.skipped,
            "symbols": result.symbols,
            "rows": result.rows,
        },
        as_json,
    )


@app.command("sync")
def sync(
    ctx: typer.Context,
    start: StartOpt,
    end: EndOpt,
    symbols: SymbolsOpt = None,
    all_symbols: Annotated[bool, typer.Option("--all", help="Every instrument Tushare lists.")] = False,
    freq: FreqOpt = "1d",
    mode: Annotated[
        str, typer.Option(help="Daily stock bars: auto (fewer calls), by_date (whole market per session), by_symbol.")
    ] = "auto",
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="bars (default), daily_basic, index_weight; repeat for several."),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Run in this process, not as a job on the workers.")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Submit the job and return (follow: huice jobs).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch what is missing from Tushare Pro (TUSHARE_TOKEN), store it, record a snapshot — as a
    `market_data.sync` job on the workers, followed with a progress bar (partitions done/total, calls, rows,
    the current quota wait, ETA); `--local` runs it here instead. Ctrl-C cancels the job; the partitions it
    staged are kept, and the same sync run again (or `huice jobs retry <id>`) fetches only the rest."""
    body = parse_model(
        SyncRequest,
        {
            "symbols": _symbols(symbols),
            "all": all_symbols,
            "freq": freq,
            "start": _date(start, "--start"),
            "end": _date(end, "--end"),
            "mode": mode,
            "datasets": dataset or ["bars"],
        },
    )
    c = container(ctx)
    env = env_of(c)
    if local:
        with c.db.transaction() as session, _progress(as_json) as bar:
            report = _reporter(bar, bar.add_task("sync", total=None) if bar else None)
            result = service.run_sync(session, env, body, report=report)
        _emit_result(result, as_json)
        return
    with c.db.transaction() as session:
        job = service.submit_sync(session, env, None, body)
    if detach:
        emit(job if as_json else {"job_id": job.job_id, "status": job.status}, as_json)
        return
    if not service.sync_workers(env):
        typer.echo(
            f"sync job {job.job_id} is queued but no worker is alive: start `huice serve` or `huice worker` "
            "(or run with --local); Ctrl-C cancels it",
            err=True,
        )
    job = _follow(c, env, job, as_json)
    if job.status == "succeeded" and job.result is not None:
        _emit_result(job.result, as_json)
        return
    error = job.error or {"code": "INTERNAL_ERROR", "message": f"sync job {job.status}", "details": {}}
    fail(AppError(error["message"], details=error.get("details") or {}, code=ErrorCode(error["code"])))


def _emit_result(result: SyncResult, as_json: bool) -> None:
    emit(
        result
        if as_json
        else {
            "snapshot": result.snapshot.id if result.snapshot else None,
            "default": result.snapshot.is_default if result.snapshot else None,
            "created": result.created,
            "symbols": result.symbols,
            "fetched_rows": result.fetched_rows,
            "calls": result.calls,
            "plan": result.plan,
            "waited_s": result.waited_s,
            "basic_rows": result.basic_rows,
            "weight_rows": result.weight_rows,
        },
        as_json,
    )


def _reporter(bar: Progress | None, task: TaskID | None) -> Callable[[SyncProgress], None]:
    def report(progress: SyncProgress) -> None:
        if bar is not None and task is not None:
            bar.update(
                task,
                total=progress.partitions_total or None,
                completed=progress.partitions_done,
                description=_describe(progress),
            )

    return report


def _describe(p: SyncProgress) -> str:
    wait = f", waiting {p.wait_s:.1f}s for quota" if p.wait_s else ""
    eta = f", ETA {p.eta_s:.0f}s" if p.eta_s is not None else ""
    return f"{p.stage}: {p.calls} calls, {p.rows} rows{wait}{eta}"


def _follow(c: Any, env: Any, job: SyncJobRead, as_json: bool) -> SyncJobRead:
    """Poll the job until it ends, drawing its progress; Ctrl-C asks it to cancel."""
    with _progress(as_json) as bar:
        task = bar.add_task(f"job {job.job_id} queued", total=None) if bar else None
        report = _reporter(bar, task)
        try:
            while job.status not in FINISHED:
                time.sleep(POLL_S)
                with c.db.transaction() as session:
                    job = service.sync_job(session, env, job.job_id)
                if job.sync is not None:
                    report(job.sync)
                elif bar is not None and task is not None:
                    bar.update(task, description=f"job {job.job_id} {job.status}")
        except KeyboardInterrupt:
            with c.db.transaction() as session:
                job = service.cancel_sync(session, env, job.job_id)
            typer.echo(
                f"cancel requested for sync job {job.job_id}; what it staged is kept: run the same sync again "
                f"(or huice jobs retry {job.job_id}) to fetch only the rest",
                err=True,
            )
            raise typer.Exit(130) from None
    return job


FINISHED = frozenset({"succeeded", "failed", "cancelled", "early_stopped"})
POLL_S = 0.5


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(as_json: bool) -> Progress | _NoProgress:
    if as_json:
        return _NoProgress()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@app.command("check")
def check(
    ctx: typer.Context,
    symbols: SymbolsOpt = None,
    freq: FreqOpt = "1d",
    snapshot: SnapshotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Integrity report: OHLC, volume, limits, duplicate/missing sessions. Exits 1 when problems are found."""
    c = container(ctx)
    with c.db.transaction() as session:
        report = service.check(session, env_of(c), symbols=_symbols(symbols), freq=freq, snapshot_id=snapshot)
    if as_json:
        print_json(report)
    else:
        emit(
            {
                "snapshot": report.snapshot_id,
                "freq": report.freq,
                "symbols": report.symbols,
                "rows": report.rows,
                "ok": report.ok,
                **report.counts,
            },
            False,
        )
        if report.issues:
            emit(report.issues, False, columns=["check", "symbol", "date", "detail"])
    if not report.ok:
        raise typer.Exit(1)
