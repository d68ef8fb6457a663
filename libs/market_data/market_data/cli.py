"""`huice data ...`: market data from the command line, every command with `--json`.

Read commands (instruments, calendar, bars, coverage, snapshots) and the operator commands (load-sample,
sync, check) run without a login on the server host: market data is not owned by any user. With `--api`
(or HUICE_API_URL) the read commands ask that server's API instead, as the signed-in user (the API needs a
caller); sync/check/load-sample stay operator commands of the server host.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from market_data import service
from market_data.config import env_of
from platform_core.cli import AppTyper, JsonOpt, client, container, emit, is_remote, print_json, to_jsonable
from platform_core.errors import InvalidInput
from platform_core.pagination import PageParams

app = AppTyper(help="Market data: instruments, calendar, bars, coverage, snapshots; load-sample, sync, check.")

SymbolsOpt = Annotated[str | None, typer.Option("--symbols", help="Comma-separated codes, e.g. 600000.SH,000001.SZ.")]
StartOpt = Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")]
EndOpt = Annotated[str, typer.Option("--end", help="Last date, YYYY-MM-DD.")]
FreqOpt = Annotated[str, typer.Option("--freq", help="1d, 5min or 15min.")]
SnapshotOpt = Annotated[str | None, typer.Option("--snapshot", help="Snapshot id (default: the newest).")]


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
    """Data snapshots, newest first."""
    page = _reader(ctx).snapshots(limit, offset)
    emit(page, as_json, columns=["id", "source", "created_at", "files", "rows", "content_hash"])


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
    as_json: JsonOpt = False,
) -> None:
    """Fetch what is missing from Tushare Pro (TUSHARE_TOKEN), store it, record a snapshot. Safe to
    interrupt and re-run: a re-run fetches only what the newest snapshot lacks, and a whole-market
    (by-date) sync keeps the sessions it fetched before the interrupt."""
    c = container(ctx)
    env = env_of(c)
    with c.db.transaction() as session, service.make_client(env) as client, _progress(as_json) as bar:
        task = bar.add_task("sync", total=None) if bar else None

        def advance(symbol: str, done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, total=total, completed=done, description=symbol)

        def waiting(api_name: str, seconds: float) -> None:  # the shared Tushare budget is used up for now
            if bar is not None:
                bar.update(task, description=f"waiting {seconds:.1f}s for the {api_name} rate budget")

        if client.budget is not None:
            client.budget.on_wait = waiting

        result = service.sync(
            session,
            env,
            client=client,
            symbols=_symbols(symbols),
            all_symbols=all_symbols,
            freq=freq,
            start=_date(start, "--start"),
            end=_date(end, "--end"),
            progress=advance,
            mode=mode,
        )
    emit(
        result
        if as_json
        else {
            "snapshot": result.snapshot.id,
            "created": result.created,
            "symbols": result.symbols,
            "fetched_rows": result.fetched_rows,
            "calls": result.calls,
            "plan": result.plan,
            "waited_s": result.waited_s,
        },
        as_json,
    )


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
