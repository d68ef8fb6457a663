"""Pure rules of plans and limits (route classes, usage periods, hard-quota settings), `record_usage` on real
PostgreSQL, and the OpenAPI document of the rate-limit headers and the 429 answer on every `/api` operation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from platform_core.errors import ErrorCode, InvalidInput
from user_auth import service
from user_auth.config import env_of
from user_auth.domain import RouteClass, month_period, parse_hard_quotas, route_class


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/runs/{run_id}", RouteClass.READ),
        ("GET", "/api/runs/{run_id}/artifacts/{type}", RouteClass.DOWNLOAD),
        ("GET", "/api/strategies/{strategy_id}/export", RouteClass.DOWNLOAD),
        ("POST", "/api/backtests/{backtest_id}/runs", RouteClass.SUBMIT),
        ("POST", "/api/backtests/{backtest_id}/runs/{run_id}:rerun", RouteClass.SUBMIT),
        ("POST", "/api/sweeps", RouteClass.SUBMIT),
        ("POST", "/api/backtests/{backtest_id}/runs/{run_id}:cancel", RouteClass.WRITE),
        ("PATCH", "/api/strategies/{strategy_id}", RouteClass.WRITE),
        ("DELETE", "/api/auth/keys/{key}", RouteClass.WRITE),
    ],
)
def test_route_classes(method: str, path: str, expected: RouteClass) -> None:
    assert route_class(method, path) == expected


def test_a_declared_route_class_wins() -> None:
    assert route_class("GET", "/api/anything", "download") == RouteClass.DOWNLOAD


def test_usage_periods_are_calendar_months_in_utc() -> None:
    assert month_period(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        date(2026, 12, 1),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert month_period(datetime(2026, 2, 1, tzinfo=UTC))[1] == datetime(2026, 3, 1, tzinfo=UTC)


def test_hard_quota_settings() -> None:
    assert parse_hard_quotas("") == set()
    assert parse_hard_quotas(" free:runs , pro:share_links") == {("free", "runs"), ("pro", "share_links")}
    assert ("free", "artifact_bytes") in parse_hard_quotas("free:*")
    with pytest.raises(ValueError, match="unknown quota"):
        parse_hard_quotas("free:bananas")


def test_record_usage_refuses_unknown_quotas_and_negative_amounts(session: Any, container: Any, make_user: Any) -> None:
    principal = make_user()
    with pytest.raises(InvalidInput):
        service.record_usage(session, env_of(container), principal, "bananas")
    with pytest.raises(InvalidInput):
        service.record_usage(session, env_of(container), principal, "share_links", -1)


def test_record_usage_counts_share_links_and_refuses_a_hard_quota(session: Any, container: Any, make_user: Any) -> None:
    """What the share-link and sweep contexts call: counted, hinted, then refused once the quota is hard."""
    env = env_of(container)
    principal = make_user()
    first = service.record_usage(session, env, principal, "share_links", 1)
    assert (first.used, first.exceeded, first.limit) == (1, False, env.settings.quota_free_share_links)
    hard = type(env)(
        **{**env.__dict__, "settings": env.settings.model_copy(update={"hard_quotas": "free:share_links"})}
    )
    with pytest.raises(Exception) as refused:
        service.record_usage(session, hard, principal, "share_links", env.settings.quota_free_share_links)
    assert refused.value.code == ErrorCode.RATE_LIMITED  # type: ignore[attr-defined]
    assert refused.value.details["quota"] == "share_links"  # type: ignore[attr-defined]
    report = {q.quota: q for q in service.usage(session, env, principal).quotas}
    assert report["share_links"].used == 1


def test_every_api_operation_documents_the_rate_limit_headers_and_429(api: Any) -> None:
    doc = api.get("/openapi.json").json()
    operations = [(p, m, op) for p, ops in doc["paths"].items() if p.startswith("/api/") for m, op in ops.items()]
    assert operations
    for path, method, op in operations:
        assert "429" in op["responses"], (method, path)
        assert op["x-rate-limit-class"] in {"read", "write", "submit", "download", "anonymous"}
        for status, response in op["responses"].items():
            assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response["headers"])
            if status == "429":
                assert "Retry-After" in response["headers"]
    runs = doc["paths"]["/api/backtests/{backtest_id}/runs"]["post"]
    assert runs["x-rate-limit-class"] == "submit" and "X-Quota-Exceeded" in runs["responses"]["201"]["headers"]
    assert doc["paths"]["/api/plans"]["get"]["x-rate-limit-class"] == "anonymous"


def test_the_usage_summary_counts_accounts_that_ran_out(session: Any, container: Any, make_user: Any) -> None:
    """What the monitoring summary reads: accounts with usage, exhausted per quota, plan interest."""
    env = env_of(container)
    before = service.usage_summary(session)
    spent, light = make_user(), make_user()
    service.record_usage(session, env, spent, "share_links", env.settings.quota_free_share_links)
    service.record_usage(session, env, light, "share_links", 1)
    service.register_plan_interest(session, light, light.plan.__class__("pro"))
    after = service.usage_summary(session)
    assert after["accounts_with_usage"] == before["accounts_with_usage"] + 2
    assert after["exhausted_accounts"]["share_links"] == before["exhausted_accounts"]["share_links"] + 1
    assert after["plan_interest"].get("pro", 0) == before["plan_interest"].get("pro", 0) + 1
    assert 0 < after["exhaustion_rate"]["share_links"] <= 1
