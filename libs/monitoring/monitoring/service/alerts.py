"""Alerts: the rules judged on the current figures, their firing/resolved transitions stored and mailed to
the admins (user_auth's outbox), and the list of states and transitions.

Rules (thresholds in `HUICE_MONITOR_ALERT_*`; a threshold left unset turns its rule off):
- `queue_wait_p95`: the queue wait p95 of every job over the alert window is above the threshold (s);
- `failure_rate`: failed / finished jobs over the window is above the threshold, once the window holds
  at least `alert_failure_min_jobs` finished jobs;
- `no_live_worker`: no worker is alive (job_orchestration's definition), or Redis cannot tell;
- `data_stale`: with a Tushare token, the newest daily bar is more than N trading sessions old (or there is
  no daily data at all); without a token the rule does not apply (the sample data never refreshes);
- `disk_nearly_full`: the disk holding the data directory is fuller than the threshold (%).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from job_orchestration import service as jobs
from market_data import service as market
from monitoring import domain
from monitoring import repository as repo
from monitoring.config import MonitoringEnv
from monitoring.domain import AlertRule, AlertState, Transition, window_seconds
from monitoring.schemas import AlertEventRead, AlertRead, AlertsRead, EvaluationReport, Verdict
from monitoring.service._common import require_admin
from platform_core.ids import utcnow
from platform_core.pagination import PageParams
from user_auth import service as users
from user_auth.principal import Principal


def judge(session: Session, env: MonitoringEnv, now: datetime) -> list[domain.Verdict]:
    """Every rule on the figures of now (read through the owners' published services)."""
    s = env.settings
    queue = jobs.stats(session, env.jobs, window_s=window_seconds(s.alert_window, field="alert_window"))
    verdicts = [
        domain.judge_above(
            AlertRule.QUEUE_WAIT_P95,
            queue.queue_wait_p95_s,
            s.alert_queue_wait_p95_s,
            f"queue wait p95 over {s.alert_window}",
            " s",
        ),
        domain.judge_above(
            AlertRule.FAILURE_RATE,
            queue.failure_rate if queue.finished_in_window >= s.alert_failure_min_jobs else None,
            s.alert_failure_rate,
            f"failure rate over {s.alert_window} ({queue.failed_in_window}/{queue.finished_in_window} jobs)",
        ),
        domain.judge_no_worker(s.alert_no_worker, queue.workers_alive),
        _data_stale(session, env, now),
        domain.judge_above(
            AlertRule.DISK_NEARLY_FULL, disk_used_pct(env.data_dir), s.alert_disk_used_pct, "data disk used", " %"
        ),
    ]
    return verdicts


def _data_stale(session: Session, env: MonitoringEnv, now: datetime) -> domain.Verdict:
    threshold = env.settings.alert_data_stale_sessions
    freshness = market.data_freshness(session, env.market, now.date())
    limit = None if threshold is None else float(threshold)
    if not freshness.tushare_token_configured:
        return domain.Verdict(AlertRule.DATA_STALE, False, None, limit, "no Tushare token: the rule does not apply")
    if freshness.last_daily_date is None:
        firing = threshold is not None
        return domain.Verdict(AlertRule.DATA_STALE, firing, None, limit, "no daily bars are loaded")
    behind = None if freshness.sessions_behind is None else float(freshness.sessions_behind)
    verdict = domain.judge_above(
        AlertRule.DATA_STALE, behind, limit, f"sessions since the newest daily bar ({freshness.last_daily_date})"
    )
    return verdict


def disk_used_pct(path: Path) -> float | None:
    """How full (%) the disk holding `path` (or its nearest existing parent) is."""
    for candidate in (path, *path.resolve().parents):
        if candidate.exists():
            usage = shutil.disk_usage(candidate)
            return round(usage.used / usage.total * 100, 2) if usage.total else None
    return None


def evaluate_alerts(session: Session, env: MonitoringEnv, *, now: datetime | None = None) -> EvaluationReport:
    """Judge every rule, store each rule's state, record and mail the transitions (firing / resolved)."""
    now = now or utcnow()
    repo.lock_alerts(session)
    verdicts = judge(session, env, now)
    states = repo.alert_states(session, lock=True)
    changes: list[repo.AlertEventRow] = []
    for verdict in verdicts:
        row = states.get(verdict.rule)
        previous = AlertState(row.state) if row is not None else None
        change = domain.transition(previous, verdict)
        state = AlertState.FIRING if verdict.firing else AlertState.OK
        if row is None:
            row = repo.add(
                session,
                repo.AlertStateRow(
                    rule=verdict.rule,
                    state=state,
                    value=verdict.value,
                    threshold=verdict.threshold,
                    message=verdict.message,
                    since=now,
                    evaluated_at=now,
                ),
            )
        else:
            if row.state != state:
                row.since = now
            row.state, row.value, row.threshold = state, verdict.value, verdict.threshold
            row.message, row.evaluated_at = verdict.message, now
        if change is not None:
            changes.append(
                repo.add(
                    session,
                    repo.AlertEventRow(
                        rule=verdict.rule,
                        transition=change,
                        value=verdict.value,
                        threshold=verdict.threshold,
                        message=verdict.message,
                        at=now,
                    ),
                )
            )
    session.flush()
    notified = _notify(session, env, changes) if changes else 0
    return EvaluationReport(
        evaluated_at=now,
        verdicts=[Verdict(**v.__dict__) for v in verdicts],
        transitions=[AlertEventRead.model_validate(c) for c in changes],
        notified=notified,
    )


def _notify(session: Session, env: MonitoringEnv, changes: list[repo.AlertEventRow]) -> int:
    firing = [c.rule for c in changes if c.transition == Transition.FIRING]
    resolved = [c.rule for c in changes if c.transition == Transition.RESOLVED]
    parts = ([f"firing: {', '.join(firing)}"] if firing else []) + (
        [f"resolved: {', '.join(resolved)}"] if resolved else []
    )
    lines = [f"{c.at.isoformat()}  {c.rule}  {c.transition}: {c.message}" for c in changes]
    body = "\n".join([*lines, "", "huice monitor alerts   (or GET /api/monitor/alerts) lists every rule."])
    return users.notify_admins(session, env.auth, subject=f"[huice] alert {'; '.join(parts)}", body=body, kind="alert")


def list_alerts(session: Session, principal: Principal, *, page: PageParams | None = None) -> AlertsRead:
    """Every rule's state and the transitions, newest first (admins)."""
    require_admin(principal)
    page = page or PageParams()
    states = sorted(repo.alert_states(session).values(), key=lambda r: r.rule)
    events, total = repo.alert_events(session, limit=page.limit, offset=page.offset)
    return AlertsRead(
        states=[AlertRead.model_validate(r) for r in states],
        events=[AlertEventRead.model_validate(e) for e in events],
        total_events=total,
    )


def evaluate_now(session: Session, env: MonitoringEnv, principal: Principal) -> EvaluationReport:
    """Evaluate the rules now (admins; the schedule does this every `HUICE_MONITOR_ALERT_INTERVAL_S`)."""
    require_admin(principal)
    return evaluate_alerts(session, env)
