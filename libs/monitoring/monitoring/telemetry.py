"""This process's HTTP request metrics (Prometheus): counts and latency by method, route template and
status. The composition app's middleware calls `observe` once per request; `/metrics` renders them with
the figures read from PostgreSQL and Redis at scrape time (`service.render_metrics`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "(unmatched)"


class HttpMetrics:
    """Counters and histograms in a registry of their own (one per process, kept in `MonitoringEnv`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "huice_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "huice_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # the labelled children by labels: `labels()` validates and locks on every call, a dict lookup does not
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one request. `route` is the matched route's template (`/api/runs/{run_id}`), never the raw
        path (no unbounded label values); unmatched requests share one label."""
        labels = (method, route or UNMATCHED, str(status))
        children = self._children.get(labels)
        if children is None:
            children = self._children[labels] = (self.requests.labels(*labels), self.latency.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)
