"""CLI helpers shared by every context's Typer sub-app.

- `AppTyper`: a `typer.Typer` whose commands report any `AppError` on stderr — the error envelope with
  `--json`, one readable line with a hint otherwise — and exit with the code of its kind (2 invalid input,
  3 not found, 4 auth, 5 conflict, 6 rate limited, 7 upstream, 1 internal); unexpected exceptions become
  INTERNAL_ERROR without internals.
- `JsonOpt` and `emit()`: every command takes `--json` and prints the same schema the API returns.
- `container(ctx)`: the composition root (settings, db, redis, ...) built lazily once per invocation.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from uuid import UUID

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from platform_core.errors import AppError, ErrorCode

log = logging.getLogger("huice.cli")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def to_jsonable(value: Any) -> Any:
    """Pydantic models, dates, UUIDs, enums, decimals and paths → plain JSON values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Path | Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


# How a human reads a figure, by its name: fractions as percentages, money in CNY (JSON keeps raw numbers).
PERCENT_NAMES = frozenset({
    "total_return", "annual_return", "benchmark_return", "excess_return", "volatility", "max_drawdown",
    "drawdown", "win_rate", "daily_win_rate", "weight", "return", "cagr", "tracking_error", "failure_rate",
    "completion_rate", "progress_fraction", "depth",
})  # fmt: skip
MONEY_NAMES = frozenset({
    "final_equity", "initial_cash", "total_fees", "fees", "pnl", "cash", "equity", "market_value", "value",
    "commission", "stamp_duty", "transfer_fee", "absolute_pnl", "unrealized_pnl", "unrealised_pnl", "expectancy",
    "best_trade", "worst_trade", "average_trade",
})  # fmt: skip


def format_value(value: Any, name: str | None = None) -> str:
    """One value as a person reads it: `name` (a column or metric, dotted paths use the last part) picks
    percentages (`4.14%`) or CNY (`1,004,143.68 CNY`); other floats get at most 6 significant digits."""
    value = to_jsonable(value)
    leaf = (name or "").rsplit(".", 1)[-1]
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v, k)}" for k, v in value.items())
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return ", ".join(format_value(v, name) for v in value)
        return f"{len(value)} items"
    if isinstance(value, float) and leaf in PERCENT_NAMES:
        return f"{value * 100:,.2f}%"
    if isinstance(value, int | float) and leaf in MONEY_NAMES:
        return f"{value:,.2f} CNY"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, str) and (stamp := _ISO_UTC.match(value)):
        return f"{stamp.group(1)} {stamp.group(2)}"  # a UTC timestamp to the second, without ISO's T and Z
    return str(value)


_ISO_UTC = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|\+00:00)$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _cell(value: Any, name: str | None = None) -> str:
    return format_value(value, name)


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (`stats.sharpe`), so a table shows each figure in its own column or row
    instead of a JSON blob in a cell."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def emit(
    value: Any,
    as_json: bool,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print `value` as JSON (`--json`) or as a table: a list becomes rows, an object key/value pairs."""
    if as_json:
        print_json(value)
        return
    data = to_jsonable(value)
    console = Console()
    if isinstance(data, dict) and "items" in data and isinstance(data["items"], list):
        title = title or f"{data.get('total', len(data['items']))} total"
        data = data["items"]
    if isinstance(data, list):
        rows = [flatten(r) if isinstance(r, dict) else {"value": r} for r in data]
        cols = list(columns or (dict.fromkeys(k for r in rows for k in r) if rows else ["value"]))
        cells = [[_cell(_nested(row, c), c) for c in cols] for row in rows]
        table = Table(title=title)
        for i, name in enumerate(cols):
            # ids and timestamps are never cut or wrapped (the next command needs an id whole); other cells wrap
            # (long words fold) to the width
            whole = _is_id(name) or (cells and all(_STAMP.match(r[i]) for r in cells))
            widest = max([len(r[i]) for r in cells] + [len(name)]) if whole else None
            header = Text(name, no_wrap=True, overflow="ellipsis")
            table.add_column(header, no_wrap=widest is not None, min_width=widest, overflow="fold")
        for row_cells in cells:
            table.add_row(*row_cells)
        console.print(table)
    elif isinstance(data, dict):
        table = Table("field", "value", title=title, show_header=False)
        for key, val in flatten(data).items():
            if columns is None or key in columns or key.split(".", 1)[0] in columns:
                table.add_row(key, _cell(val, key))
        console.print(table)
    else:
        console.print(_cell(data))


def _nested(row: dict[str, Any], column: str) -> Any:
    """A row's value for `column`; a column naming a nested object (`params`) gets its flattened parts as one
    `k=v, …` cell."""
    if column in row:
        return row[column]
    prefix = column + "."
    parts = {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}
    return parts or None


def _is_id(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf == "id" or leaf.endswith("_id")


def fail(error: AppError, *, as_json: bool | None = None) -> NoReturn:
    """Report `error` on stderr and exit with its code: with `--json` the envelope (one JSON line), otherwise
    one readable line with a hint (`human_error`). `as_json` is the command's `--json` (`guard` passes it);
    None = whether `--json` is among the process's arguments (an error before any command parsed)."""
    if as_json is None:
        as_json = "--json" in sys.argv[1:]
    if as_json:
        sys.stderr.write(json.dumps(to_jsonable(error.envelope()), ensure_ascii=False) + "\n")
    else:
        sys.stderr.write(human_error(error) + "\n")
    sys.stderr.flush()
    raise typer.Exit(error.exit_code)


HINTS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_INPUT: "see the command's --help",
    ErrorCode.NOT_FOUND: "check the id (list commands show full ids)",
    ErrorCode.UNAUTHORIZED: "run huice auth login or set HUICE_API_KEY",
    ErrorCode.FORBIDDEN: "this needs another role or plan (huice auth whoami shows yours)",
    ErrorCode.RATE_LIMITED: "wait a moment and retry (huice auth usage shows this month's use)",
    ErrorCode.CONFLICT: "the object changed or already exists; read it again, then retry",
    ErrorCode.PAYLOAD_TOO_LARGE: "send less at once",
    ErrorCode.UPSTREAM_ERROR: "the data provider failed; retry later",
    ErrorCode.SERVICE_UNAVAILABLE: "a server huice needs is unavailable; huice doctor shows which",
    ErrorCode.INTERNAL_ERROR: "huice doctor checks the set-up; the logs have the details",
}


def human_error(error: AppError) -> str:
    """The error as one line a person reads: `error: <message> (<CODE>, field: <f>) — hint: <hint>`. The hint
    is the details' did-you-mean suggestions, `hint`, retry delay, retry advice or allowed values when there
    are any, else the code's generic hint (left out when the message already names a command or a
    suggestion)."""
    details = error.details or {}
    field = details.get("field")
    message = " ".join(error.message.splitlines())  # one line, whatever the message holds
    named = field and message.startswith((f"{field}:", f"{field} "))
    code = str(error.code) + (f", field: {field}" if field and not named else "")
    errors = details.get("errors")
    more = f" (+{len(errors) - 1} more)" if isinstance(errors, list) and len(errors) > 1 else ""
    line = f"error: {message}{more} ({code})"
    hint = _hint(error, details)
    return f"{line} — hint: {hint}" if hint else line


def _hint(error: AppError, details: dict[str, Any]) -> str | None:
    suggestion = details.get("did_you_mean")
    if suggestion and "did you mean" not in error.message:
        if isinstance(suggestion, dict):
            return "did you mean " + ", ".join(f"{k} → {' or '.join(map(str, v))}" for k, v in suggestion.items()) + "?"
        return f"did you mean {suggestion}?"
    if details.get("hint"):
        return str(details["hint"])
    if details.get("retry_after") is not None:
        return f"retry in {details['retry_after']} s"
    if details.get("retry_advice"):
        return str(details["retry_advice"])
    if isinstance(details.get("allowed"), list) and details["allowed"]:
        return "one of " + ", ".join(map(str, details["allowed"]))
    if error.code == ErrorCode.INVALID_INPUT and details.get("field") in ("strategy", "source"):
        return "the error is in your strategy's code"
    if "did you mean" in error.message or "`huice " in error.message:  # the message says what to do
        return None
    return HINTS.get(error.code)


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors raised by a command into the envelope (`--json`) or a readable line, and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))  # every command's `--json` parameter (JsonOpt)
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except AppError as exc:
            fail(exc, as_json=as_json)
        except Exception:
            log.exception("command %s failed", fn.__name__)
            fail(AppError("internal error; see the logs", code=ErrorCode.INTERNAL_ERROR), as_json=as_json)

    return wrapper


class AppTyper(typer.Typer):
    """A Typer app whose commands are wrapped by `guard`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        decorator = super().command(*args, **kwargs)

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            decorator(guard(fn))
            return fn

        return register


class LazyContainer:
    """Builds the composition root on first use, at most once per CLI invocation."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._value: Any = None

    def get(self) -> Any:
        if self._value is None:
            self._value = self._factory()
        return self._value

    def close(self) -> None:
        if self._value is not None and hasattr(self._value, "close"):
            self._value.close()
        self._value = None


def container(ctx: typer.Context) -> Any:
    """The composition root for this command (settings, db, redis, registries)."""
    root = ctx.find_root()
    if not isinstance(root.obj, LazyContainer):
        raise AppError("the command was started without the huice composition root", code=ErrorCode.INTERNAL_ERROR)
    return root.obj.get()


def parse_key_values(pairs: Iterable[str], *, option: str = "--param") -> dict[str, str]:
    """`k=v` pairs → dict, refusing malformed ones with INVALID_INPUT naming the option."""
    from platform_core.errors import InvalidInput

    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{option} expects key=value, got {pair!r}", field=option)
        result[key.strip()] = value.strip()
    return result


def parse_value(text: str) -> Any:
    """One `--param` value: JSON when it parses (`5`, `0.5`, `true`, `null`, `[1, 2]`, `"5"`), `True`/`False`
    in any case as booleans, anything else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else text


def parse_params(pairs: Iterable[str], *, option: str = "--param") -> dict[str, Any]:
    """The one `--param k=v` parser of every CLI: `k=v` pairs with typed values (`parse_value`);
    INVALID_INPUT naming the option for a malformed pair."""
    return {key: parse_value(value) for key, value in parse_key_values(pairs, option=option).items()}


def updates(ctx: typer.Context, read: Callable[[], Any], events: Callable[[Any], Iterable[Any]]) -> Iterator[Any]:
    """A long job's state after each change, for `--wait`: over HTTP each server-sent event (`events(api)`)
    paces a `read()` (the stream ends with the job's terminal event); in-process the state is polled."""
    import time

    api = client(ctx)
    if getattr(api, "streams_events", False):
        yield read()
        for _event in events(api):
            yield read()
    while True:
        yield read()
        time.sleep(0.3)


def read_text(path: str, *, option: str) -> str:
    """A text file a command was given (`-` for stdin), read on the caller's side as UTF-8; INVALID_INPUT
    naming `option` when it cannot be read."""
    from platform_core.errors import InvalidInput

    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.__class__.__name__}", field=option) from None


def parse_model(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """`model` from plain data (a command's options); INVALID_INPUT naming the first bad field otherwise."""
    from pydantic import ValidationError

    from platform_core.errors import invalid_input_from

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input_from(exc) from None


# --- the API client a command calls (in-process or over HTTP) ----------------------------------------------


class CliRoot(LazyContainer):
    """The root object of one CLI invocation: the lazily built composition root (for operator commands) and
    the lazily built API client (for every user-facing command). `client_factory(root)` decides the
    transport: the composed app in-process, or HTTP(S) to `HUICE_API_URL` / `huice --api URL`."""

    def __init__(
        self, factory: Callable[[], Any], client_factory: Callable[[CliRoot], Any], *, remote: bool = False
    ) -> None:
        super().__init__(factory)
        self._client_factory = client_factory
        self._client: Any = None
        self.remote = remote

    def get(self) -> Any:
        """The composition root — refused over HTTP: an operator command opens the database of the host it
        runs on, which with `--api` is not the server's (and would silently start an empty embedded one)."""
        if self.remote:
            raise AppError(
                "this command runs on the server host only (it opens the database); "
                "run it there without HUICE_API_URL / --api",
                code=ErrorCode.INVALID_INPUT,
            )
        return super().get()

    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory(self)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()


def client(ctx: typer.Context) -> Any:
    """The `huice_client.Client` this command calls: one implementation per command, whichever transport.

    Under the root command it is the `CliRoot`'s; a context's sub-app invoked on its own (with a plain
    `LazyContainer`) gets the in-process client the composition root registered as `extras["cli_client"]`."""
    root = ctx.find_root()
    if isinstance(root.obj, CliRoot):
        return root.obj.client()
    built = getattr(root.obj, "_cli_client", None)
    if built is None:
        make = container(ctx).extras.get("cli_client")
        if make is None:
            raise AppError("the composition root registered no API client", code=ErrorCode.INTERNAL_ERROR)
        built = make(container(ctx))
        root.obj._cli_client = built
    return built


def is_remote(ctx: typer.Context) -> bool:
    """True when this invocation talks to a server over HTTP (`HUICE_API_URL` / `--api`)."""
    root = ctx.find_root()
    return isinstance(root.obj, CliRoot) and root.obj.remote


def app_error(code: str, message: str, details: dict[str, Any] | None = None) -> AppError:
    """An error answered by the API as the CLI's `AppError` (same envelope, same exit code)."""
    try:
        kind = ErrorCode(code)
    except ValueError:
        kind = ErrorCode.INTERNAL_ERROR
    return AppError(message, details=details or {}, code=kind)
