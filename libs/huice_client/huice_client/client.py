"""`Client`: one method per REST operation of huice that a user (not an operator) calls.

JSON answers come back as plain dicts / lists (the API's schemas, documented at `/docs`); tables of a run as
polars frames (`trades_frame`, `positions_frame`, `equity_frame`, `metrics_frame`, `optimization_frame`);
every error as `HuiceError(code, message, details, status)`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import polars as pl

from huice_client._core import Call, HuiceError, Route, TokenPair, clean, endpoint, error_from, sse_events

Json = Any
ErrorFactory = Callable[[HuiceError], Exception]


class Client:
    """A client of one huice server.

    `api_key` (`hk_...`) or `token` (an access token from `login`) authenticates; with `refresh_token` an
    expired access token is renewed once per request and `on_tokens(pair)` is told (to store it; `None`
    when the renewal was refused). `transport` is any httpx transport, or `http` a ready httpx client (the
    CLI passes one over the in-process ASGI app); `error` maps a
    `HuiceError` to the exception to raise (default: the `HuiceError` itself).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        *,
        refresh_token: str | None = None,
        on_tokens: Callable[[TokenPair | None], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
        error: ErrorFactory | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.token = token
        self.refresh_token = refresh_token
        self.on_tokens = on_tokens
        self._error = error or (lambda e: e)
        self._http = http or httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- machinery ---------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        secret = self.api_key or self.token
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def _request(self, route: Route, call: Call, stream: bool = False) -> httpx.Response:
        unknown = set(call.params) - set(route.query)
        if unknown:
            raise HuiceError("INVALID_INPUT", f"{route.key} has no query parameter {sorted(unknown)}")
        request = self._http.build_request(
            route.method,
            route.path.format(**{k: str(v) for k, v in call.path.items()}),
            params=clean(call.params),
            json=call.json if route.body is not None else None,
            headers={**self._auth_headers(), **call.headers},
        )
        try:
            return self._http.send(request, stream=stream)
        except httpx.HTTPError as exc:
            raise self._error(HuiceError("UPSTREAM_ERROR", f"cannot reach {self.base_url}: {exc}")) from None

    def _send(self, route: Route, call: Call) -> Any:
        response = self._request(route, call, stream=route.returns == "stream")
        if response.status_code == 401 and route.renew and self._renew():
            response.close()
            response = self._request(route, call, stream=route.returns == "stream")
        if response.status_code >= 400:
            if route.returns == "stream":
                response.read()
            error = error_from(response)
            error.route = route
            raise self._error(error)
        if route.returns == "stream":
            return self._stream(response)
        if route.returns == "bytes":
            return response.content
        if route.returns == "none" or response.status_code == 204 or not response.content:
            return None
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response.content  # a `format=csv` answer of a JSON route
        return response.json()

    def _stream(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        try:
            yield from sse_events(response.iter_lines())
        finally:
            response.close()

    def _renew(self) -> bool:
        """Renew the access token with the refresh token (once); False when there is nothing to renew."""
        if self.api_key or not self.refresh_token:
            return False
        refresh, self.refresh_token = self.refresh_token, None
        try:
            self.refresh(refresh)
        except Exception:
            if self.on_tokens is not None:
                self.on_tokens(None)
            return False
        return True

    # --- platform ----------------------------------------------------------------------------------

    @endpoint("GET /health")
    def health(self) -> Call:
        """Liveness and the server's version."""
        return Call()

    @endpoint("GET /ready")
    def ready(self) -> Call:
        """Readiness: PostgreSQL, Redis, migrations, workers (a not-ready server answers 503)."""
        return Call()

    # --- auth ----------------------------------------------------------------------------------------

    @endpoint("POST /api/auth/register", body="Credentials", renew=False)
    def register(self, email: str, password: str) -> Call:
        """Create an account (email verification and sign-in follow)."""
        return Call(json={"email": email, "password": password})

    def login(self, email: str, password: str) -> TokenPair:
        """Sign in; the client then uses the access token (and renews it with the refresh token)."""
        return self._adopt(TokenPair.model_validate(self._login(email, password)))

    @endpoint("POST /api/auth/login", body="Credentials", renew=False)
    def _login(self, email: str, password: str) -> Call:
        return Call(json={"email": email, "password": password})

    def refresh(self, refresh_token: str | None = None) -> TokenPair:
        """Rotate the refresh token for a new pair (the client adopts it)."""
        token = refresh_token or self.refresh_token
        if not token:
            raise self._error(HuiceError("UNAUTHORIZED", "no refresh token: log in first", status=401))
        return self._adopt(TokenPair.model_validate(self._refresh(token)))

    @endpoint("POST /api/auth/refresh", body="RefreshRequest", renew=False)
    def _refresh(self, refresh_token: str) -> Call:
        return Call(json={"refresh_token": refresh_token})

    def _adopt(self, pair: TokenPair) -> TokenPair:
        self.token, self.refresh_token = pair.access_token, pair.refresh_token
        if self.on_tokens is not None:
            self.on_tokens(pair)
        return pair

    @endpoint("POST /api/auth/logout", body="LogoutRequest")
    def logout(self, refresh_token: str | None = None) -> Call:
        """End this session (and revoke the refresh token)."""
        token = refresh_token or self.refresh_token
        return Call(json={"refresh_token": token} if token else None)

    @endpoint("GET /api/auth/me")
    def me(self) -> Call:
        """Who the client acts as: the user, the plan and how it authenticated."""
        return Call()

    @endpoint("GET /api/users/me")
    def user(self) -> Call:
        """The signed-in user's account."""
        return Call()

    @endpoint("POST /api/auth/verify-email", body="VerifyEmailRequest", renew=False)
    def verify_email(self, token: str) -> Call:
        return Call(json={"token": token})

    @endpoint("POST /api/auth/verify-email/request")
    def request_verification(self) -> Call:
        return Call()

    @endpoint("POST /api/auth/password-reset/request", body="ResetRequest", renew=False)
    def request_password_reset(self, email: str) -> Call:
        return Call(json={"email": email})

    @endpoint("POST /api/auth/password-reset", body="ResetPassword", renew=False)
    def reset_password(self, token: str, new_password: str) -> Call:
        return Call(json={"token": token, "new_password": new_password})

    @endpoint("POST /api/auth/change-password", body="ChangePassword")
    def change_password(self, current_password: str, new_password: str) -> Call:
        return Call(json={"current_password": current_password, "new_password": new_password})

    @endpoint("POST /api/auth/keys", body="ApiKeyCreate")
    def create_api_key(self, name: str, expires_in_days: int | None = None) -> Call:
        """A new API key; its secret is in the answer once."""
        return Call(json=clean({"name": name, "expires_in_days": expires_in_days}))

    @endpoint("GET /api/auth/keys", query=("limit", "offset"))
    def api_keys(self, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"limit": limit, "offset": offset})

    @endpoint("DELETE /api/auth/keys/{key}")
    def revoke_api_key(self, key: str) -> Call:
        """Revoke an API key by id or prefix."""
        return Call(path={"key": key})

    # --- administration (admins) ----------------------------------------------------------------------

    @endpoint("GET /api/admin/users", query=("q", "role", "plan", "status", "limit", "offset"))
    def admin_users(
        self,
        q: str | None = None,
        role: str | None = None,
        plan: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        """Search users by email fragment, role, plan and status (admins)."""
        return Call(params={"q": q, "role": role, "plan": plan, "status": status, "limit": limit, "offset": offset})

    @endpoint("GET /api/admin/users/{user_id}")
    def admin_user(self, user_id: str) -> Call:
        return Call(path={"user_id": user_id})

    @endpoint("PATCH /api/admin/users/{user_id}", body="UserAdminUpdate")
    def admin_update_user(self, user_id: str, body: Mapping[str, Any]) -> Call:
        """Change a user's role, plan or status (admins)."""
        return Call(path={"user_id": user_id}, json=dict(body))

    @endpoint(
        "GET /api/admin/audit",
        query=("action", "actor_id", "target_id", "outcome", "since", "until", "limit", "offset"),
    )
    def audit(
        self,
        action: str | None = None,
        actor_id: str | None = None,
        target_id: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        """The audit log, newest first (admins)."""
        params = {"action": action, "actor_id": actor_id, "target_id": target_id, "outcome": outcome}
        return Call(params={**params, "since": since, "until": until, "limit": limit, "offset": offset})

    @endpoint("GET /api/plans")
    def plans(self) -> Call:
        return Call()

    @endpoint("POST /api/plans/interest", body="PlanInterestCreate")
    def plan_interest(self, plan: str) -> Call:
        return Call(json={"plan": plan})

    @endpoint("GET /api/me/usage")
    def usage(self) -> Call:
        """This month's runs, sweep evaluations, bytes and share links against the plan's quotas."""
        return Call()

    @endpoint("GET /api/me/disclaimer")
    def disclaimer(self) -> Call:
        return Call()

    @endpoint("POST /api/me/disclaimer")
    def accept_disclaimer(self) -> Call:
        """Accept the research-use disclaimer (required once before the first run)."""
        return Call()

    # --- market data -----------------------------------------------------------------------------------

    @endpoint("GET /api/market/instruments", query=("q", "board", "exchange", "kind", "limit", "offset"))
    def instruments(
        self,
        q: str | None = None,
        board: str | None = None,
        exchange: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        params = {"q": q, "board": board, "exchange": exchange, "kind": kind}
        return Call(params={**params, "limit": limit, "offset": offset})

    @endpoint("GET /api/market/instruments/{symbol}")
    def instrument(self, symbol: str) -> Call:
        return Call(path={"symbol": symbol})

    @endpoint("GET /api/market/calendar", query=("start", "end"))
    def calendar(self, start: str, end: str) -> Call:
        return Call(params={"start": start, "end": end})

    @endpoint("GET /api/market/bars", query=("symbols", "start", "end", "freq", "adjust", "snapshot_id", "format"))
    def bars(
        self,
        symbols: Sequence[str] | str,
        start: str,
        end: str,
        freq: str = "1d",
        adjust: str = "qfq",
        snapshot_id: str | None = None,
        format: str = "json",
    ) -> Call:
        """Bars of symbols in a window (`format=json`; `bars_frame` gives a polars frame)."""
        codes = symbols if isinstance(symbols, str) else ",".join(symbols)
        params = {"symbols": codes, "start": start, "end": end, "freq": freq, "adjust": adjust}
        return Call(params={**params, "snapshot_id": snapshot_id, "format": format})

    def bars_frame(self, symbols: Sequence[str] | str, start: str, end: str, **kwargs: Any) -> pl.DataFrame:
        answer = self.bars(symbols, start, end, format="json", **kwargs)
        rows = answer.get("items", answer.get("bars", [])) if isinstance(answer, dict) else answer
        return pl.DataFrame(rows)

    @endpoint("GET /api/market/coverage", query=("freq", "symbol", "snapshot_id"))
    def coverage(self, freq: str = "1d", symbol: str | None = None, snapshot_id: str | None = None) -> Call:
        return Call(params={"freq": freq, "symbol": symbol, "snapshot_id": snapshot_id})

    @endpoint("GET /api/market/snapshots", query=("limit", "offset"))
    def snapshots(self, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"limit": limit, "offset": offset})

    @endpoint("GET /api/market/snapshots/{snapshot_id}")
    def snapshot(self, snapshot_id: str) -> Call:
        return Call(path={"snapshot_id": snapshot_id})

    @endpoint("GET /api/market/snapshots/default")
    def default_snapshot(self) -> Call:
        """The snapshot unpinned reads and new backtests use, how it became the default, and the rule."""
        return Call()

    @endpoint("PUT /api/market/snapshots/default", body="DefaultSnapshotSet")
    def set_default_snapshot(self, snapshot_id: str) -> Call:
        """Name the default snapshot (admin)."""
        return Call(json={"snapshot_id": snapshot_id})

    @endpoint("GET /api/market/indices/{index_code}/members", query=("on",))
    def index_members(self, index_code: str, on: str) -> Call:
        """An index's constituents as of a session (point in time), with their weights."""
        return Call(path={"index_code": index_code}, params={"on": on})

    @endpoint("GET /api/market/universe", query=("on",))
    def universe(self, on: str) -> Call:
        """Every stock listed on a session (delisted stocks on the sessions they traded)."""
        return Call(params={"on": on})

    @endpoint("GET /api/market/fundamentals", query=("symbols", "start", "end"))
    def fundamentals(self, symbols: Sequence[str] | str, start: str, end: str) -> Call:
        """PE, PB, PS, dividend yield, market value and turnover per stock and session (daily_basic)."""
        codes = symbols if isinstance(symbols, str) else ",".join(symbols)
        return Call(params={"symbols": codes, "start": start, "end": end})

    def fundamentals_frame(self, symbols: Sequence[str] | str, start: str, end: str) -> pl.DataFrame:
        """`fundamentals` as a polars frame, one row per stock and session."""
        return pl.DataFrame(self.fundamentals(symbols, start, end)["rows"])

    @endpoint("GET /api/market/sync/{job_id}")
    def sync_job(self, job_id: str) -> Call:
        """A market-data sync job (admin): status, latest progress, result or error."""
        return Call(path={"job_id": str(job_id)})

    # --- jobs ----------------------------------------------------------------------------------------------

    @endpoint("GET /api/jobs", query=("status", "kind", "limit", "offset"))
    def jobs(self, status: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"status": status, "kind": kind, "limit": limit, "offset": offset})

    @endpoint("GET /api/jobs/stats")
    def job_stats(self) -> Call:
        return Call()

    @endpoint("GET /api/jobs/{job_id}")
    def job(self, job_id: str) -> Call:
        return Call(path={"job_id": job_id})

    @endpoint("POST /api/jobs/{job_id}/cancel")
    def cancel_job(self, job_id: str) -> Call:
        return Call(path={"job_id": job_id})

    @endpoint("POST /api/jobs/{job_id}/retry")
    def retry_job(self, job_id: str) -> Call:
        return Call(path={"job_id": job_id})

    @endpoint("GET /api/jobs/{job_id}/events/log", query=("after",))
    def job_event_log(self, job_id: str, after: int | None = None) -> Call:
        return Call(path={"job_id": job_id}, params={"after": after})

    @endpoint("GET /api/jobs/{job_id}/events", returns="stream")
    def job_events(self, job_id: str, last_event_id: int | None = None) -> Call:
        """Server-sent events of a job until its terminal event (an iterator of dicts)."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        return Call(path={"job_id": job_id}, headers=headers)

    # --- strategies ----------------------------------------------------------------------------------------

    @endpoint("GET /api/strategies", query=("q", "tag", "archived", "all", "sort", "limit", "offset"))
    def strategies(
        self,
        q: str | None = None,
        tag: str | None = None,
        archived: bool = False,
        include_all: bool = False,
        sort: str = "-updated_at",
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        params = {"q": q, "tag": tag, "archived": archived, "all": include_all or None, "sort": sort}
        return Call(params={**params, "limit": limit, "offset": offset})

    @endpoint("POST /api/strategies", body="StrategyCreate")
    def create_strategy(self, body: Mapping[str, Any]) -> Call:
        """`body`: name, source, description, tags, message."""
        return Call(json=dict(body))

    @endpoint("POST /api/strategies/from-template", body="FromTemplate")
    def strategy_from_template(self, body: Mapping[str, Any]) -> Call:
        return Call(json=dict(body))

    @endpoint("POST /api/strategies/import", body="ImportRequest")
    def import_strategy(self, file: Mapping[str, Any], name: str | None = None) -> Call:
        return Call(json=clean({"file": dict(file), "name": name}))

    @endpoint("GET /api/strategies/{strategy_id}")
    def strategy(self, strategy_id: str) -> Call:
        return Call(path={"strategy_id": strategy_id})

    @endpoint("PATCH /api/strategies/{strategy_id}", body="StrategyUpdate")
    def update_strategy(self, strategy_id: str, body: Mapping[str, Any]) -> Call:
        return Call(path={"strategy_id": strategy_id}, json=dict(body))

    @endpoint("DELETE /api/strategies/{strategy_id}", returns="none")
    def delete_strategy(self, strategy_id: str) -> Call:
        return Call(path={"strategy_id": strategy_id})

    @endpoint("POST /api/strategies/{strategy_id}/archive")
    def archive_strategy(self, strategy_id: str) -> Call:
        return Call(path={"strategy_id": strategy_id})

    @endpoint("POST /api/strategies/{strategy_id}/restore")
    def restore_strategy(self, strategy_id: str) -> Call:
        return Call(path={"strategy_id": strategy_id})

    @endpoint("GET /api/strategies/{strategy_id}/versions", query=("limit", "offset"))
    def strategy_versions(self, strategy_id: str, limit: int = 50, offset: int = 0) -> Call:
        return Call(path={"strategy_id": strategy_id}, params={"limit": limit, "offset": offset})

    @endpoint("POST /api/strategies/{strategy_id}/versions", body="VersionCreate")
    def save_version(self, strategy_id: str, source: str, message: str = "") -> Call:
        return Call(path={"strategy_id": strategy_id}, json={"source": source, "message": message})

    @endpoint("GET /api/strategies/{strategy_id}/versions/latest")
    def latest_version(self, strategy_id: str) -> Call:
        return Call(path={"strategy_id": strategy_id})

    @endpoint("GET /api/strategies/{strategy_id}/versions/{number}")
    def strategy_version(self, strategy_id: str, number: int) -> Call:
        return Call(path={"strategy_id": strategy_id, "number": number})

    def version(self, strategy_id: str, number: int | None = None) -> Json:
        """One version, the latest when `number` is None."""
        if number is None:
            return self.latest_version(strategy_id)
        return self.strategy_version(strategy_id, number)

    @endpoint("GET /api/strategies/{strategy_id}/diff", query=("from", "to"))
    def diff_versions(self, strategy_id: str, from_number: int, to_number: int) -> Call:
        return Call(path={"strategy_id": strategy_id}, params={"from": from_number, "to": to_number})

    @endpoint("POST /api/strategies/{strategy_id}/validate", body="ValidateRequest")
    def validate_strategy(
        self, strategy_id: str, version: int | None = None, params: Mapping[str, Any] | None = None
    ) -> Call:
        """Static check, parameter check and a dry run on sample bars."""
        return Call(path={"strategy_id": strategy_id}, json={"version": version, "params": dict(params or {})})

    @endpoint("GET /api/strategies/{strategy_id}/export", query=("version",))
    def export_strategy(self, strategy_id: str, version: int | None = None) -> Call:
        return Call(path={"strategy_id": strategy_id}, params={"version": version})

    @endpoint("GET /api/templates")
    def templates(self) -> Call:
        return Call()

    @endpoint("GET /api/templates/{name}")
    def template(self, name: str) -> Call:
        return Call(path={"name": name})

    # --- backtests and runs ------------------------------------------------------------------------------

    @endpoint("POST /api/backtests", body="BacktestCreate")
    def create_backtest(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> Call:
        """`body`: strategy_ref (template | strategy_id | version_id, params), context, notes."""
        return Call(json=dict(body), headers=_idempotency(idempotency_key))

    @endpoint("GET /api/backtests", query=("limit", "offset"))
    def backtests(self, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"limit": limit, "offset": offset})

    @endpoint("GET /api/backtests/{backtest_id}")
    def backtest(self, backtest_id: str) -> Call:
        return Call(path={"backtest_id": backtest_id})

    @endpoint("POST /api/backtests/{backtest_id}/runs", body="RunCreate")
    def submit_run(self, backtest_id: str, body: Mapping[str, Any], idempotency_key: str | None = None) -> Call:
        """A run (`mode: single`) or a sweep (`grid`, `random`, `walk_forward`, ...) of a backtest."""
        return Call(path={"backtest_id": backtest_id}, json=dict(body), headers=_idempotency(idempotency_key))

    @endpoint("GET /api/backtests/{backtest_id}/runs", query=("status", "sort", "from", "to", "limit", "offset"))
    def backtest_runs(
        self,
        backtest_id: str,
        status: str | None = None,
        sort: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        params = {"status": status, "sort": sort, "from": since, "to": until, "limit": limit, "offset": offset}
        return Call(path={"backtest_id": backtest_id}, params=params)

    @endpoint("GET /api/backtests/{backtest_id}/runs/{run_id}")
    def backtest_run(self, backtest_id: str, run_id: str) -> Call:
        return Call(path={"backtest_id": backtest_id, "run_id": run_id})

    @endpoint("POST /api/backtests/{backtest_id}/runs/{run_id}:cancel")
    def cancel_backtest_run(self, backtest_id: str, run_id: str) -> Call:
        return Call(path={"backtest_id": backtest_id, "run_id": run_id})

    @endpoint("POST /api/backtests/{backtest_id}/runs/{run_id}:rerun")
    def rerun_backtest_run(self, backtest_id: str, run_id: str, idempotency_key: str | None = None) -> Call:
        return Call(path={"backtest_id": backtest_id, "run_id": run_id}, headers=_idempotency(idempotency_key))

    def cancel_run(self, run_id: str) -> None:
        """Cancel a run (repeating is harmless; a finished run is a CONFLICT)."""
        self.cancel_backtest_run(self.run(run_id)["backtest_id"], run_id)

    def rerun(self, run_id: str, idempotency_key: str | None = None) -> Json:
        """Run again with the same version, parameters and data snapshot: `{"run_ids": [...]}`."""
        return self.rerun_backtest_run(self.run(run_id)["backtest_id"], run_id, idempotency_key)

    @endpoint("GET /api/runs", query=("status", "strategy_id", "template", "sort", "from", "to", "limit", "offset"))
    def runs(
        self,
        status: str | None = None,
        strategy_id: str | None = None,
        template: str | None = None,
        sort: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        params = {"status": status, "strategy_id": strategy_id, "template": template, "sort": sort}
        return Call(params={**params, "from": since, "to": until, "limit": limit, "offset": offset})

    @endpoint("GET /api/runs/{run_id}")
    def run(self, run_id: str) -> Call:
        return Call(path={"run_id": run_id})

    @endpoint("GET /api/runs/{run_id}/artifacts/{type}", query=("format", "headers"), returns="bytes")
    def artifact(self, run_id: str, type: str, format: str | None = None, headers: str | None = None) -> Call:
        """An artifact's bytes: equity, trades, orders, positions, fills, logs, metrics (csv/json/parquet/xlsx;
        `headers="zh"` for Chinese column names) or report (html)."""
        return Call(path={"run_id": run_id, "type": type}, params={"format": format, "headers": headers})

    @endpoint("GET /api/runs/{run_id}/events", returns="stream")
    def run_events(self, run_id: str, last_event_id: int | None = None) -> Call:
        """Server-sent events of a run until its terminal event (an iterator of dicts)."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        return Call(path={"run_id": run_id}, headers=headers)

    def artifact_frame(self, run_id: str, type: str) -> pl.DataFrame:
        """An artifact table as a polars frame (downloaded as Parquet: typed columns)."""
        return pl.read_parquet(io.BytesIO(self.artifact(run_id, type, "parquet")))

    def trades_frame(self, run_id: str) -> pl.DataFrame:
        return self.artifact_frame(run_id, "trades")

    def positions_frame(self, run_id: str) -> pl.DataFrame:
        return self.artifact_frame(run_id, "positions")

    def equity_frame(self, run_id: str) -> pl.DataFrame:
        return self.artifact_frame(run_id, "equity")

    def metrics_frame(self, *run_ids: str) -> pl.DataFrame:
        """One row per run: its id, status and every headline metric."""
        rows = []
        for run_id in run_ids:
            run = self.run(run_id)
            rows.append({"run_id": run["run_id"], "status": run["status"], **(run.get("stats") or {})})
        return pl.DataFrame(rows)

    def report(self, run_id: str) -> bytes:
        """The run's self-contained interactive HTML report."""
        return self.artifact(run_id, "report", "html")

    @endpoint("GET /api/runs/{run_id}/trades", query=("sort", "symbol", "from", "to", "limit", "offset"))
    def run_trades(
        self,
        run_id: str,
        sort: str | None = None,
        symbol: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        """A page of the run's round trips (`since`/`until` select by exit date; sort on any column)."""
        return _page(run_id, sort, symbol, since, until, limit, offset)

    @endpoint(
        "GET /api/runs/{run_id}/orders",
        query=("sort", "symbol", "from", "to", "side", "status", "reason", "limit", "offset"),
    )
    def run_orders(
        self,
        run_id: str,
        sort: str | None = None,
        symbol: str | None = None,
        since: str | None = None,
        until: str | None = None,
        side: str | None = None,
        status: str | None = None,
        reason: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        """A page of the run's orders, including the ones not filled (with the reason)."""
        call = _page(run_id, sort, symbol, since, until, limit, offset)
        call.params.update(side=side, status=status, reason=reason)
        return call

    @endpoint("GET /api/runs/{run_id}/fills", query=("sort", "symbol", "from", "to", "side", "limit", "offset"))
    def run_fills(
        self,
        run_id: str,
        sort: str | None = None,
        symbol: str | None = None,
        since: str | None = None,
        until: str | None = None,
        side: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        call = _page(run_id, sort, symbol, since, until, limit, offset)
        call.params.update(side=side)
        return call

    @endpoint("GET /api/runs/{run_id}/positions", query=("sort", "symbol", "from", "to", "limit", "offset"))
    def run_positions(
        self,
        run_id: str,
        sort: str | None = None,
        symbol: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Call:
        return _page(run_id, sort, symbol, since, until, limit, offset)

    @endpoint("GET /api/runs/{run_id}/curves", query=("from", "to", "points"))
    def run_curves(
        self, run_id: str, since: str | None = None, until: str | None = None, points: int | None = None
    ) -> Call:
        """Equity, cash, market value, drawdown and benchmark on the same timestamps, downsampled."""
        return Call(path={"run_id": run_id}, params={"from": since, "to": until, "points": points})

    @endpoint("GET /api/runs/{run_id}/drawdowns", query=("top",))
    def run_drawdowns(self, run_id: str, top: int | None = None) -> Call:
        return Call(path={"run_id": run_id}, params={"top": top})

    @endpoint("GET /api/runs/{run_id}/returns")
    def run_returns(self, run_id: str) -> Call:
        return Call(path={"run_id": run_id})

    @endpoint("GET /api/runs/{run_id}/rolling", query=("window",))
    def run_rolling(self, run_id: str, window: int | None = None) -> Call:
        return Call(path={"run_id": run_id}, params={"window": window})

    @endpoint("GET /api/runs/{run_id}/study", query=("top",))
    def run_study(self, run_id: str, top: int | None = None) -> Call:
        return Call(path={"run_id": run_id}, params={"top": top})

    @endpoint("POST /api/compare", query=("format",), body="CompareRequest")
    def compare(self, run_ids: Sequence[str], format: str = "json") -> Call:
        return Call(params={"format": format}, json={"run_ids": list(run_ids)})

    @endpoint("GET /api/runs/{run_id}/diff/{other_id}")
    def diff_runs(self, run_id: str, other_id: str) -> Call:
        """What differs between two runs (inputs and figures); `identical` when nothing does."""
        return Call(path={"run_id": run_id, "other_id": other_id})

    # --- share links -----------------------------------------------------------------------------------------

    @endpoint("POST /api/runs/{run_id}/shares", body="ShareCreate")
    def share_run(self, run_id: str, expires_in: str, include: Mapping[str, bool] | None = None) -> Call:
        """A read-only link (`expires_in` like 7d; `include` e.g. {"trades": True, "positions": False})."""
        body = clean({"expires_in": expires_in, "include": dict(include) if include is not None else None})
        return Call(path={"run_id": run_id}, json=body)

    @endpoint("POST /api/optimizations/{optimization_id}/shares", body="ShareCreate")
    def share_optimization(self, optimization_id: str, expires_in: str | None = None) -> Call:
        return Call(path={"optimization_id": optimization_id}, json=clean({"expires_in": expires_in}))

    @endpoint("GET /api/shares", query=("limit", "offset"))
    def shares(self, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"limit": limit, "offset": offset})

    @endpoint("DELETE /api/shares/{share_id}")
    def revoke_share(self, share_id: str) -> Call:
        return Call(path={"share_id": share_id})

    @endpoint("GET /api/shared/{token}")
    def shared(self, token: str) -> Call:
        """What a share link shows (no login needed)."""
        return Call(path={"token": token})

    # --- optimisations ------------------------------------------------------------------------------------

    def optimize(self, backtest_id: str, body: Mapping[str, Any], idempotency_key: str | None = None) -> Json:
        """Start a sweep: `submit_run` with a sweep mode (`grid`, `random`, `walk_forward`, ...)."""
        return self.submit_run(backtest_id, body, idempotency_key=idempotency_key)

    @endpoint("GET /api/optimizations", query=("backtest_id", "limit", "offset"))
    def optimizations(self, backtest_id: str | None = None, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"backtest_id": backtest_id, "limit": limit, "offset": offset})

    @endpoint("GET /api/optimizations/{optimization_id}")
    def optimization(self, optimization_id: str) -> Call:
        return Call(path={"optimization_id": optimization_id})

    @endpoint("GET /api/optimizations/{optimization_id}/events", returns="stream")
    def optimization_events(self, optimization_id: str) -> Call:
        """Server-sent progress snapshots of a sweep until it ends."""
        return Call(path={"optimization_id": optimization_id})

    @endpoint(
        "GET /api/optimizations/{optimization_id}/results",
        query=("sort", "order", "filter", "status", "format", "limit", "offset"),
    )
    def optimization_results(
        self,
        optimization_id: str,
        sort: str | None = None,
        order: str | None = None,
        filter: Sequence[str] | None = None,
        status: str | None = None,
        format: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Call:
        params = {"sort": sort, "order": order, "filter": list(filter) if filter else None, "status": status}
        return Call(
            path={"optimization_id": optimization_id},
            params={**params, "format": format, "limit": limit, "offset": offset},
        )

    def optimization_frame(self, optimization_id: str, **kwargs: Any) -> pl.DataFrame:
        """Every evaluation of a sweep (parameters and metrics) as a polars frame."""
        data = self.optimization_results(optimization_id, format="csv", **kwargs)
        text = data if isinstance(data, str) else data.decode("utf-8-sig") if isinstance(data, bytes) else None
        if text is None:
            return pl.DataFrame(data.get("items", []) if isinstance(data, dict) else data)
        return pl.read_csv(io.StringIO(text))

    @endpoint("GET /api/optimizations/{optimization_id}/heatmap", query=("x", "y", "metric"))
    def optimization_heatmap(self, optimization_id: str, x: str, y: str, metric: str | None = None) -> Call:
        return Call(path={"optimization_id": optimization_id}, params={"x": x, "y": y, "metric": metric})

    @endpoint("GET /api/optimizations/{optimization_id}/report", query=("x", "y", "metric"), returns="bytes")
    def optimization_report(
        self, optimization_id: str, x: str | None = None, y: str | None = None, metric: str | None = None
    ) -> Call:
        """The sweep's self-contained HTML report."""
        return Call(path={"optimization_id": optimization_id}, params={"x": x, "y": y, "metric": metric})

    @endpoint("POST /api/optimizations/{optimization_id}:cancel")
    def cancel_optimization(self, optimization_id: str) -> Call:
        return Call(path={"optimization_id": optimization_id})

    @endpoint("POST /api/optimizations/{optimization_id}/results/{index}:promote")
    def promote(self, optimization_id: str, index: int) -> Call:
        """Turn one evaluation of a sweep into a full run with artifacts."""
        return Call(path={"optimization_id": optimization_id, "index": index})

    # --- monitoring (what a user sees of the service) -----------------------------------------------------

    @endpoint("GET /api/monitor/summary", query=("window",))
    def monitor_summary(self, window: str | None = None) -> Call:
        return Call(params={"window": window})

    @endpoint("GET /api/monitor/alerts", query=("limit", "offset"))
    def monitor_alerts(self, limit: int = 50, offset: int = 0) -> Call:
        return Call(params={"limit": limit, "offset": offset})

    @endpoint("POST /api/monitor/alerts/evaluate")
    def evaluate_alerts(self) -> Call:
        """Evaluate the alert rules now (admins)."""
        return Call()

    @endpoint("GET /api/monitor/schedules")
    def monitor_schedules(self) -> Call:
        return Call()


def _page(
    run_id: str, sort: str | None, symbol: str | None, since: str | None, until: str | None, limit: int, offset: int
) -> Call:
    params = {"sort": sort, "symbol": symbol, "from": since, "to": until, "limit": limit, "offset": offset}
    return Call(path={"run_id": run_id}, params=params)


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}
