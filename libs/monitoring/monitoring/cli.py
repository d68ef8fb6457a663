"""`huice monitor`: the operations summary, the alerts (and an evaluation now), the schedules (admins), through
the API client (in-process, or the server of `HUICE_API_URL`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitoring.domain import DEFAULT_WINDOW, WINDOWS
from monitoring.schemas import AlertsRead, Summary
from platform_core.cli import AppTyper, JsonOpt, client, emit

app = AppTyper(help="Monitoring: the operations summary, alerts and maintenance schedules (admins).")

Window = Annotated[str, typer.Option(help=f"Window of the timings and rates: {', '.join(WINDOWS)}.")]


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def print_summary(s: Summary) -> None:
    """The summary as a few readable tables."""
    console = Console()
    table = Table(
        "figure", "value", title=f"huice operations — window {s.window} — {s.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    u, st, r, j = s.users, s.strategies, s.runs, s.jobs
    rows = [
        ("users (verified)", f"{u.total} ({u.verified})"),
        ("active users 1d / 7d / 30d", f"{u.active_1d} / {u.active_7d} / {u.active_30d}"),
        ("strategies (archived) / versions", f"{st.strategies} ({st.archived}) / {st.versions}"),
        ("template usage", f"{st.from_template} of {st.strategies} ({_pct(st.template_usage_rate)})"),
        ("backtests / runs", f"{s.backtests.backtests} / {s.backtests.runs}"),
        ("runs by status", ", ".join(f"{k} {v}" for k, v in sorted(r.by_status.items())) or "—"),
        ("runs running / queued", f"{r.running} / {r.queued}"),
        (
            "run queue wait p50 / p95 / mean",
            f"{_fmt(r.queue_wait_p50_s, ' s')} / {_fmt(r.queue_wait_p95_s, ' s')} / {_fmt(r.queue_wait_mean_s, ' s')}",
        ),
        ("run time p50 / p95", f"{_fmt(r.run_time_p50_s, ' s')} / {_fmt(r.run_time_p95_s, ' s')}"),
        ("run failure / completion rate", f"{_pct(r.failure_rate)} / {_pct(r.completion_rate)}"),
        (
            "jobs queue wait p50 / p95 / mean",
            f"{_fmt(j.queue_wait_p50_s, ' s')} / {_fmt(j.queue_wait_p95_s, ' s')} / {_fmt(j.queue_wait_mean_s, ' s')}",
        ),
        ("jobs failure rate", f"{_pct(j.failure_rate)} ({j.failed_in_window}/{j.finished_in_window})"),
        ("queue depth", ", ".join(f"{q.queue} {q.waiting + q.enqueued}" for q in j.queues)),
        ("live workers", _fmt(s.workers_alive)),
        ("newest snapshot", _snapshot(s)),
        ("sessions behind", _fmt(s.data.freshness.sessions_behind)),
        (
            "last sync",
            f"{s.data.last_sync.status} at {s.data.last_sync.submitted_at:%Y-%m-%d %H:%M}"
            if s.data.last_sync
            else "never",
        ),
        ("optimisations running", _fmt(s.optimisations_running)),
        ("share-link visits", _fmt(s.share_link_visits)),
        ("alerts firing", ", ".join(a.rule for a in s.alerts_firing) or "none"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for name, reason in s.absent.items():
        console.print(f"[dim]{name}: {reason}[/dim]")


def _snapshot(s: Summary) -> str:
    snap = s.data.freshness.newest_snapshot
    if snap is None:
        return "no data loaded"
    return (
        f"{snap.id} ({snap.source}, {snap.created_at:%Y-%m-%d %H:%M}), bars to {_fmt(s.data.freshness.last_daily_date)}"
    )


@app.command("summary")
def summary_cmd(ctx: typer.Context, window: Window = DEFAULT_WINDOW, as_json: JsonOpt = False) -> None:
    """The operations summary: users, strategies, backtests and runs, queues, workers, data, alerts (admins)."""
    result = Summary.model_validate(client(ctx).monitor_summary(window))
    if as_json:
        emit(result, True)
    else:
        print_summary(result)


@app.command("alerts")
def alerts_cmd(
    ctx: typer.Context,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Evaluate the rules first.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Transitions to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Every alert rule's state and the recent firing/resolved transitions (admins)."""
    api = client(ctx)
    if evaluate:
        api.evaluate_alerts()
    result = AlertsRead.model_validate(api.monitor_alerts(limit=limit))
    if as_json:
        emit(result, True)
        return
    emit(
        [s.model_dump() for s in result.states],
        False,
        columns=["rule", "state", "value", "threshold", "since", "message"],
        title="alert rules",
    )
    emit(
        [e.model_dump() for e in result.events],
        False,
        columns=["at", "rule", "transition", "value", "message"],
        title=f"transitions ({result.total_events} total)",
    )


@app.command("schedules")
def schedules_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The maintenance schedules: kind, period, next and last run, last job (admins)."""
    rows = client(ctx).monitor_schedules()
    emit(
        rows,
        as_json,
        columns=["name", "kind", "interval_s", "daily_at", "enabled", "next_run_at", "last_run_at", "last_job_id"],
    )
