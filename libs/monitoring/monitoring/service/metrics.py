"""`/metrics` in the Prometheus text format: this process's HTTP metrics plus the figures every process
contributes, read from PostgreSQL and Redis at scrape time (jobs by kind and outcome, queue depth, queue
wait, live workers, run durations, firing alerts). Reading the shared stores — rather than the library's
multiprocess mode — covers the worker processes on every machine with one scrape of one API process.
"""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from backtest import service as backtests
from job_orchestration import service as jobs
from monitoring import repository as repo
from monitoring.config import MonitoringEnv
from monitoring.domain import AlertRule, AlertState
from platform_core.errors import Unauthorized

RUN_DURATION_BUCKETS = [0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ACTIVE = frozenset({"queued", "running"})  # every other job status is an outcome


def check_metrics_token(env: MonitoringEnv, authorization: str | None) -> None:
    """With `HUICE_METRICS_TOKEN` set, `/metrics` needs `Authorization: Bearer <token>`: UNAUTHORIZED otherwise."""
    token = env.settings.metrics_token
    if token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise Unauthorized("a valid metrics token is required (Authorization: Bearer <HUICE_METRICS_TOKEN>)")


class StoreCollector(Collector):
    """Families computed from PostgreSQL and Redis in the scrape's session."""

    def __init__(self, session: Session, env: MonitoringEnv) -> None:
        self.session = session
        self.env = env

    def collect(self):
        session, env = self.session, self.env
        finished = CounterMetricFamily(
            "huice_jobs_finished", "Jobs that ended, by kind and outcome.", labels=["kind", "outcome"]
        )
        current = GaugeMetricFamily("huice_jobs_current", "Queued and running jobs by kind.", labels=["kind", "status"])
        for count in jobs.job_counts(session):
            if count.status in _ACTIVE:
                current.add_metric([count.kind, str(count.status)], count.count)
            else:
                finished.add_metric([count.kind, str(count.status)], count.count)
        yield finished
        yield current

        stats = jobs.stats(session, env.jobs)
        depth = GaugeMetricFamily(
            "huice_queue_depth",
            "Queued jobs per queue: in RQ (redis), handed to RQ (enqueued), held back (waiting).",
            labels=["queue", "where"],
        )
        for q in stats.queues:
            depth.add_metric([q.queue, "waiting"], q.waiting)
            depth.add_metric([q.queue, "enqueued"], q.enqueued)
            if q.redis is not None:
                depth.add_metric([q.queue, "redis"], q.redis)
        yield depth
        wait = GaugeMetricFamily(
            "huice_queue_wait_seconds",
            f"Queue wait (first start − submission) of the jobs started in the last {stats.window_s} s.",
            labels=["quantile"],
        )
        for quantile, value in (("0.5", stats.queue_wait_p50_s), ("0.95", stats.queue_wait_p95_s)):
            if value is not None:
                wait.add_metric([quantile], value)
        yield wait
        if stats.workers_alive is not None:
            yield GaugeMetricFamily(
                "huice_workers_alive",
                "Workers with a recent heartbeat (HUICE_JOBS_WORKER_ALIVE_S).",
                stats.workers_alive,
            )

        hist = backtests.run_time_histogram(session, RUN_DURATION_BUCKETS)
        family = HistogramMetricFamily(
            "huice_run_duration_seconds", "Run time (finish − first start) of the succeeded backtest runs."
        )
        buckets = [(f"{b:g}", c) for b, c in zip(hist.bounds, hist.cumulative, strict=True)] + [("+Inf", hist.count)]
        family.add_metric([], buckets, hist.sum_s)
        yield family

        alerts = GaugeMetricFamily("huice_alert_firing", "1 while the alert rule fires.", labels=["rule"])
        states = repo.alert_states(session)
        for rule in AlertRule:
            row = states.get(rule)
            alerts.add_metric([str(rule)], 1.0 if row is not None and row.state == AlertState.FIRING else 0.0)
        yield alerts


def render_metrics(session: Session, env: MonitoringEnv) -> bytes:
    """The text exposition: this process's HTTP metrics, then the store figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(session, env))
    return generate_latest(env.http.registry) + generate_latest(registry)
