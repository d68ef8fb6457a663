"""The offline sample dataset: a deterministic, **synthetic** A-share-like universe (source `sample`).

50 stocks across the main board (SSE and SZSE), ChiNext, STAR and the Beijing exchange, plus the benchmark
index 000300.SH, daily bars on the real XSHG calendar 2015–2025 and 5/15-minute bars for five symbols over
November 2025. It exercises what the rulebook must handle: ST periods (5% band, and a ChiNext ST crossing
the 2020-08-24 reform), suspensions (rows with `suspended` and null prices), ex-rights events that step
`adj_factor`, limit-up/limit-down and one-price days, IPO no-limit days (registration boards), an
old-regime IPO (+44%/−36% day-one band) and a delisting. Prices are made up; names say 样本 (sample).

Every symbol has its own seed, so a slice (`symbols`, `start`/`end`) holds exactly the rows of the full set.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from market_data.calendars import xshg_sessions
from market_data.domain import (
    STORED_SCHEMA,
    Board,
    Freq,
    StPeriod,
    bar_ends,
    board_of,
    daily_ts,
    exchange_of,
    limit_prices,
    round_price,
)
from quant.rulebook import limit_pct, unbanded_sessions

SAMPLE_START = date(2015, 1, 1)
SAMPLE_END = date(2025, 12, 31)
MINUTE_START = date(2025, 11, 3)
MINUTE_END = date(2025, 11, 28)
MINUTE_SYMBOLS = ("600010.SH", "000010.SZ", "300010.SZ", "688010.SH", "830010.BJ")
BENCHMARK = "000300.SH"
BOARD_NAMES = {Board.MAIN: "主板", Board.CHINEXT: "创业", Board.STAR: "科创", Board.BSE: "北证"}
MARKET_NAMES = {Board.MAIN: "主板", Board.CHINEXT: "创业板", Board.STAR: "科创板", Board.BSE: "北交所"}
SIGMA = {Board.MAIN: 0.021, Board.CHINEXT: 0.027, Board.STAR: 0.03, Board.BSE: 0.033}

STAR_FIRST = date(2019, 7, 22)
BSE_FIRST = date(2021, 11, 15)
# Fixed facts of the universe: listings inside the window, ST periods, a delisting.
LISTINGS = {
    "603010.SH": date(2016, 3, 15),  # approval regime: day-one band +44% / -36% of the issue price
    "001010.SZ": date(2023, 6, 15),  # registration main board: 5 no-limit sessions
    "301010.SZ": date(2021, 3, 16),
    "301020.SZ": date(2022, 9, 20),
    "688010.SH": STAR_FIRST,
    "688020.SH": STAR_FIRST,
    "688030.SH": date(2020, 1, 15),
    "688040.SH": date(2020, 9, 10),
    "688050.SH": date(2021, 6, 8),
    "688060.SH": date(2022, 4, 12),
    "688070.SH": date(2023, 2, 20),
    "688080.SH": date(2024, 1, 16),
    "830010.BJ": BSE_FIRST,
    "830020.BJ": BSE_FIRST,
    "830030.BJ": BSE_FIRST,
    "830040.BJ": date(2022, 5, 10),
    "430010.BJ": date(2023, 3, 1),
    "920010.BJ": date(2024, 11, 20),
}
DELISTINGS = {"600110.SH": date(2021, 7, 1)}
ST = {
    "600100.SH": [("ST", date(2017, 5, 2), date(2018, 6, 29))],
    "600110.SH": [("*ST", date(2019, 4, 30), None)],
    "000100.SZ": [("*ST", date(2020, 5, 6), date(2022, 5, 10))],
    "300080.SZ": [("ST", date(2019, 5, 6), date(2021, 5, 10))],
}


def universe_symbols() -> list[str]:
    main_sh = [f"6{i:05d}.SH" for i in range(10, 130, 10)] + ["603010.SH"]
    main_sz = [f"{i:06d}.SZ" for i in range(10, 130, 10)] + ["001010.SZ"]
    chinext = [f"300{i:03d}.SZ" for i in range(10, 90, 10)] + ["301010.SZ", "301020.SZ"]
    star = [f"688{i:03d}.SH" for i in range(10, 90, 10)]
    bse = ["830010.BJ", "830020.BJ", "830030.BJ", "830040.BJ", "430010.BJ", "920010.BJ"]
    return main_sh + main_sz + chinext + star + bse


@dataclass(frozen=True)
class SampleInstrument:
    symbol: str
    board: Board
    list_date: date
    delist_date: date | None
    base_name: str
    kind: str = "stock"

    @property
    def exchange(self) -> str:
        return exchange_of(self.symbol)


@dataclass
class SampleData:
    """One generated slice: reference data plus stored-schema bars for each frequency."""

    instruments: list[SampleInstrument]
    names: list[tuple[str, str, date, date | None]]  # symbol, name, start, end (Tushare namechange)
    st_periods: list[StPeriod]
    sessions: list[date]
    bars: dict[Freq, pl.DataFrame] = field(default_factory=dict)
    issue_prices: dict[str, float] = field(default_factory=dict)


def _seed(symbol: str) -> int:
    return zlib.crc32(symbol.encode())


@functools.lru_cache(maxsize=1)
def sample_sessions() -> tuple[date, ...]:
    return tuple(d for d in xshg_sessions() if SAMPLE_START <= d <= SAMPLE_END)


def _first_session_on_or_after(day: date) -> date:
    return next(d for d in sample_sessions() if d >= day)


@functools.lru_cache(maxsize=1)
def universe() -> tuple[SampleInstrument, ...]:
    counters: dict[Board, int] = {}
    result = []
    for symbol in universe_symbols():
        board = board_of(symbol)
        counters[board] = counters.get(board, 0) + 1
        rng = np.random.default_rng(_seed(symbol))
        default_listing = date(2000 + int(rng.integers(0, 15)), int(rng.integers(1, 13)), 10)
        listing = LISTINGS.get(symbol, default_listing)
        if listing >= SAMPLE_START:
            listing = _first_session_on_or_after(listing)
        name = f"样本{BOARD_NAMES[board]}{counters[board]:02d}"
        result.append(SampleInstrument(symbol, board, listing, DELISTINGS.get(symbol), name))
    result.append(SampleInstrument(BENCHMARK, Board.INDEX, date(2005, 4, 8), None, "样本沪深300", kind="index"))
    return tuple(result)


def name_history(inst: SampleInstrument) -> list[tuple[str, str, date, date | None]]:
    """Name periods as Tushare `namechange` reports them (ST names during risk-warning periods)."""
    rows: list[tuple[str, str, date, date | None]] = []
    cursor = inst.list_date
    for prefix, start, end in ST.get(inst.symbol, []):
        rows.append((inst.symbol, inst.base_name, cursor, start - timedelta(days=1)))
        rows.append((inst.symbol, prefix + inst.base_name, start, end))
        if end is None:
            return rows
        cursor = end + timedelta(days=1)
    rows.append((inst.symbol, inst.base_name, cursor, None))
    return rows


def current_name(inst: SampleInstrument) -> str:
    return name_history(inst)[-1][1]


def st_periods_of(inst: SampleInstrument) -> list[StPeriod]:
    return [
        StPeriod(inst.symbol, start, end, prefix + inst.base_name) for prefix, start, end in ST.get(inst.symbol, [])
    ]


@dataclass
class _Plan:
    """Random events of one symbol, drawn up front so the per-session loop stays cheap."""

    sessions: list[date]
    suspended: np.ndarray
    exright: dict[int, tuple[float, float]]  # session index → (cash dividend per share, share ratio)
    shocks: np.ndarray
    open_shocks: np.ndarray
    wicks: np.ndarray
    events: np.ndarray  # 0 normal, 1 limit-up close, 2 limit-down close, 3 one-price limit-up, 4 one-price down
    volume_noise: np.ndarray


def _plan(inst: SampleInstrument, rng: np.random.Generator) -> _Plan:
    last = (inst.delist_date - timedelta(days=1)) if inst.delist_date else SAMPLE_END
    sessions = [d for d in sample_sessions() if max(inst.list_date, SAMPLE_START) <= d <= last]
    n = len(sessions)
    suspended = np.zeros(n, dtype=bool)
    protected = {i for i, d in enumerate(sessions) if MINUTE_START <= d <= MINUTE_END and inst.symbol in MINUTE_SYMBOLS}
    for _ in range(int(rng.poisson(2.0))):
        start = int(rng.integers(10, max(11, n - 20)))
        length = int(rng.choice([1, 1, 2, 3, 5, 8, 15]))
        if not protected.intersection(range(start, start + length)):
            suspended[start : start + length] = True
    exright: dict[int, tuple[float, float]] = {}
    for year in range(2015, 2026):
        candidates = [i for i, d in enumerate(sessions) if d.year == year and d.month in (6, 7) and i > 30]
        if candidates and rng.random() < 0.7:
            i = candidates[int(rng.integers(0, len(candidates)))]
            ratio = float(rng.choice([1.2, 1.3, 1.5, 2.0])) if rng.random() < 0.25 else 1.0
            exright[i] = (float(rng.uniform(0.005, 0.03)), ratio)
    events = rng.choice(5, size=n, p=[0.975, 0.009, 0.007, 0.005, 0.004])
    return _Plan(
        sessions,
        suspended,
        exright,
        rng.normal(0.0003, SIGMA[inst.board], n),
        rng.normal(0, 0.4, n),
        np.abs(rng.normal(0, 0.35, (n, 2))),
        events,
        rng.lognormal(0, 0.45, n),
    )


def _daily_rows(inst: SampleInstrument, issue_prices: dict[str, float]) -> dict[str, list]:
    rng = np.random.default_rng(_seed(inst.symbol) + 1)
    plan = _plan(inst, rng)
    sigma = SIGMA[inst.board]
    lo, hi = {Board.STAR: (20, 80), Board.BSE: (5, 30)}.get(inst.board, (5, 60))
    prev = round_price(float(rng.uniform(lo, hi)))
    anchor = prev
    ipo_in_window = inst.list_date >= SAMPLE_START
    if ipo_in_window:
        issue_prices[inst.symbol] = prev
    free_sessions = unbanded_sessions(inst.board.value, inst.list_date) if ipo_in_window else 0
    base_lots = float(rng.uniform(2e4, 3e5)) / (1 if inst.board is Board.MAIN else 2)
    st = st_periods_of(inst)
    st_days = [any(p.start_date <= day <= (p.end_date or date.max) for p in st) for day in plan.sessions]
    pcts = limit_pct(inst.board.value, np.array(st_days, dtype=bool), np.array(plan.sessions, dtype="datetime64[D]"))
    factor = 1.0
    out: dict[str, list] = {k: [] for k in STORED_SCHEMA}
    for i, day in enumerate(plan.sessions):
        event = 0
        is_st = st_days[i]
        if plan.suspended[i]:
            _append(out, inst.symbol, day, None, None, None, None, prev, 0.0, 0.0, None, None, factor, True, is_st)
            continue
        pre = prev
        if i in plan.exright:
            cash, ratio = plan.exright[i]
            pre = round_price(max(prev - round_price(prev * cash), 0.02) / ratio)
            factor = factor * prev / pre
        if i < free_sessions:
            up = down = None
            ret = float(rng.normal(0.25 if i == 0 else 0.0, 0.12))
            band_hi, band_lo = pre * 3, pre * 0.5
        else:
            if ipo_in_window and i == 0:  # old regime: +44% / -36% of the issue price, usually one-price
                up, down = round_price(pre * 1.44), round_price(pre * 0.64)
                event = 3
            else:
                up, down = limit_prices(pre, float(pcts[i]))
                event = int(plan.events[i])
            band_hi, band_lo = up, down
            drift = -0.004 * math.log(pre * factor / anchor)  # mean-reverting: no penny stocks, no runaways
            ret = {1: 1.0, 2: -1.0, 3: 1.0, 4: -1.0}.get(event, float(plan.shocks[i]) + drift)
        close = _clip(round_price(pre * (1 + ret)), band_lo, band_hi)
        if up is not None and event in (3, 4):
            open_ = high = low = close
        else:
            open_ = _clip(round_price(pre * (1 + float(plan.open_shocks[i]) * sigma)), band_lo, band_hi)
            wick_hi, wick_lo = plan.wicks[i]
            high = _clip(round_price(max(open_, close) * (1 + wick_hi * sigma)), band_lo, band_hi)
            low = _clip(round_price(min(open_, close) * (1 - wick_lo * sigma)), band_lo, band_hi)
        thin = 0.05 if high == low else 1.0
        lots = max(1, round(base_lots * float(plan.volume_noise[i]) * (1 + 8 * abs(close / pre - 1)) * thin))
        volume = float(lots * 100)
        amount = float(round(volume * (open_ + high + low + close) / 4))
        _append(out, inst.symbol, day, open_, high, low, close, pre, volume, amount, up, down, factor, False, is_st)
        prev = close
    return out


def _clip(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, max(value, 0.01)))


def _append(
    out: dict[str, list], symbol: str, day: date, o, h, low, c, pre, vol, amt, up, down, factor, susp, st
) -> None:
    for key, value in (
        ("symbol", symbol),
        ("date", day),
        ("ts", daily_ts(day)),
        ("open", o),
        ("high", h),
        ("low", low),
        ("close", c),
        ("pre_close", None if susp else pre),
        ("volume", vol),
        ("amount", amt),
        ("up_limit", up),
        ("down_limit", down),
        ("adj_factor", round(factor, 6)),
        ("suspended", susp),
        ("is_st", st),
    ):
        out[key].append(value)


def _index_rows(inst: SampleInstrument) -> dict[str, list]:
    rng = np.random.default_rng(_seed(inst.symbol))
    sessions = list(sample_sessions())
    n = len(sessions)
    closes = 3500 * np.exp(np.cumsum(rng.normal(0.0001, 0.013, n)))
    out: dict[str, list] = {k: [] for k in STORED_SCHEMA}
    prev = 3500.0
    for i, day in enumerate(sessions):
        close = round(float(closes[i]), 2)
        open_ = round(prev * (1 + float(rng.normal(0, 0.004))), 2)
        high = round(max(open_, close) * (1 + abs(float(rng.normal(0, 0.005)))), 2)
        low = round(min(open_, close) * (1 - abs(float(rng.normal(0, 0.005)))), 2)
        volume = float(round(float(rng.uniform(8e7, 3e8))) * 100)
        amount = float(round(volume * close / 300))
        _append(out, inst.symbol, day, open_, high, low, close, prev, volume, amount, None, None, 1.0, False, False)
        prev = close
    return out


def _minute_bars(daily: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """5-minute bars consistent with each day's OHLC and volume (a bridge from open to close)."""
    rng = np.random.default_rng(_seed(symbol) + 5)
    days = daily.filter(
        (pl.col("symbol") == symbol) & pl.col("date").is_between(MINUTE_START, MINUTE_END) & ~pl.col("suspended")
    )
    ends = bar_ends(Freq.MIN5)
    rows: dict[str, list] = {k: [] for k in STORED_SCHEMA}
    for row in days.iter_rows(named=True):
        o, h, low, c = row["open"], row["high"], row["low"], row["close"]
        n = len(ends)
        walk = np.cumsum(rng.normal(0, 1, n))
        bridge = walk - np.arange(1, n + 1) / n * walk[-1]
        path = o + (c - o) * np.arange(1, n + 1) / n + bridge * (h - low) / 6
        closes = [_clip(round_price(float(x)), low, h) for x in path]
        closes[-1] = c
        opens = [o, *closes[:-1]]
        highs = [max(a, b) for a, b in zip(opens, closes, strict=True)]
        lows = [min(a, b) for a, b in zip(opens, closes, strict=True)]
        highs[int(np.argmax(highs))] = h
        lows[int(np.argmin(lows))] = low
        weights = rng.uniform(0.5, 1.5, n) * (1 + np.abs(np.linspace(-1, 1, n)))
        shares = _split(int(row["volume"]), weights)
        for end, bo, bh, bl, bc, vol in zip(ends, opens, highs, lows, closes, shares, strict=True):
            amount = float(round(vol * (bo + bh + bl + bc) / 4, 2))
            _append(
                rows,
                symbol,
                row["date"],
                bo,
                bh,
                bl,
                bc,
                None,
                float(vol),
                amount,
                row["up_limit"],
                row["down_limit"],
                row["adj_factor"],
                False,
                row["is_st"],
            )
            rows["ts"][-1] = datetime.combine(row["date"], end)
    return pl.DataFrame(rows, schema=STORED_SCHEMA)


def _split(total: int, weights: np.ndarray) -> list[int]:
    """Split `total` shares into whole parts proportional to `weights` (largest remainder)."""
    raw = weights / weights.sum() * total
    parts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - parts))[: total - int(parts.sum())]:
        parts[i] += 1
    return [int(p) for p in parts]


def aggregate_minutes(bars: pl.DataFrame, freq: Freq) -> pl.DataFrame:
    """Roll 5-minute bars up to 15-minute bars (right-labelled, per session half)."""
    step = 15 if freq is Freq.MIN15 else 5
    bucket = (
        pl.when(pl.col("ts").dt.hour() < 12)
        .then(pl.col("ts").dt.truncate("1d") + pl.duration(hours=9, minutes=30))
        .otherwise(pl.col("ts").dt.truncate("1d") + pl.duration(hours=13))
    )
    minutes = ((pl.col("ts") - bucket).dt.total_minutes() + step - 1) // step * step
    return (
        bars.with_columns((bucket + pl.duration(minutes=minutes)).alias("end"))
        .group_by("symbol", "end", maintain_order=True)
        .agg(
            pl.col("date").first(),
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("pre_close").first(),
            pl.col("volume").sum(),
            pl.col("amount").sum().round(2),
            pl.col("up_limit").first(),
            pl.col("down_limit").first(),
            pl.col("adj_factor").first(),
            pl.col("suspended").first(),
            pl.col("is_st").first(),
        )
        .rename({"end": "ts"})
        .select(pl.col(k).cast(v) for k, v in STORED_SCHEMA.items())
        .sort("symbol", "ts")
    )


@functools.lru_cache(maxsize=64)
def _symbol_bars(symbol: str) -> tuple[pl.DataFrame, float | None]:
    inst = next(i for i in universe() if i.symbol == symbol)
    issue: dict[str, float] = {}
    rows = _index_rows(inst) if inst.kind == "index" else _daily_rows(inst, issue)
    return pl.DataFrame(rows, schema=STORED_SCHEMA), issue.get(symbol)


def generate(symbols: list[str] | None = None, start: date = SAMPLE_START, end: date = SAMPLE_END) -> SampleData:
    """The sample universe (or the named part of it) restricted to [start, end]."""
    return _generate(tuple(sorted(symbols)) if symbols is not None else None, start, end)


@functools.lru_cache(maxsize=8)
def _generate(symbols: tuple[str, ...] | None, start: date, end: date) -> SampleData:
    insts = [i for i in universe() if symbols is None or i.symbol in symbols]
    frames, issue_prices = [], {}
    for inst in insts:
        frame, issue = _symbol_bars(inst.symbol)
        frames.append(frame)
        if issue is not None:
            issue_prices[inst.symbol] = issue
    daily = pl.concat(frames) if frames else pl.DataFrame(schema=STORED_SCHEMA)
    minute = [_minute_bars(daily, s) for s in MINUTE_SYMBOLS if symbols is None or s in symbols]
    five = pl.concat(minute) if minute else pl.DataFrame(schema=STORED_SCHEMA)
    bars = {Freq.DAILY: daily, Freq.MIN5: five, Freq.MIN15: aggregate_minutes(five, Freq.MIN15)}
    window = {f: b.filter(pl.col("date").is_between(start, end)) for f, b in bars.items()}
    return SampleData(
        instruments=insts,
        names=[row for inst in insts if inst.kind == "stock" for row in name_history(inst)],
        st_periods=[p for inst in insts for p in st_periods_of(inst)],
        sessions=[d for d in sample_sessions() if start <= d <= end],
        bars=window,
        issue_prices=issue_prices,
    )
