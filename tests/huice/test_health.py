"""`huice doctor`'s checklist and the provider probe behind `/ready` (real PostgreSQL, Redis, Tushare stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from huice.health import doctor, provider_check, render_checklist
from market_data.config import env_of as market_env_of
from market_data.tushare_standin import StandinServer


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    with StandinServer(token="probe-token") as server:
        yield server


def _point_at(container, server: StandinServer, token: str) -> None:
    market = market_env_of(container)
    market.settings = market.settings.model_copy(update={"tushare_token": SecretStr(token), "tushare_url": server.url})


def test_the_checklist_has_one_marked_line_per_check_with_its_figure(container, session) -> None:
    from monitoring import service as monitoring
    from monitoring.config import env_of

    monitoring.ensure_schedules(session, env_of(container), now=datetime(2020, 1, 6, 1, 0, tzinfo=UTC))
    session.flush()
    report = doctor(container)
    lines = {line["check"]: line for line in report["checklist"]}
    assert list(lines)[:5] == ["postgres", "redis", "migrations", "workers", "sandbox"]
    assert lines["postgres"]["status"] == "ok" and lines["postgres"]["text"].endswith(" ms")
    assert lines["workers"] == {
        "check": "workers",
        "status": "fail",
        "text": f"0 of {container.settings.workers} configured alive — start huice serve or huice worker",
    }
    assert lines["secret"]["status"] == "ok"  # the dev default outside production
    assert lines["data provider"]["status"] == "warn" and "no Tushare token" in lines["data provider"]["text"]
    # interval schedules created in 2020 are due since then: overdue, the tick is not running
    assert lines["schedule alerts"]["status"] == "warn"
    assert lines["schedule alerts"]["text"].startswith("overdue: next 2020-01-06 01:00 UTC, last never")
    assert lines["schedule tushare_refresh"] == {
        "check": "schedule tushare_refresh",
        "status": "ok",
        "text": "disabled",
    }
    assert report["checks"]["scheduler"]["ok"] is False and report["ready"] is False
    text = render_checklist(report)
    assert text.splitlines()[3].startswith("✗ workers ") and "⚠ schedule alerts " in text
    assert text.endswith("huice is not ready (workers failed)")


def test_the_provider_probe_calls_tushare_once_with_a_token(container, standin) -> None:
    _point_at(container, standin, "probe-token")
    check = provider_check(container, fresh=True)
    assert check["ok"] is True and check["reachable"] is True and check["token_configured"] is True
    assert [r["api_name"] for r in standin.requests] == ["trade_cal"]
    again = provider_check(container)  # `/ready` reuses a young probe
    assert again == check and len(standin.requests) == 1


def test_a_refused_token_is_unreachable_without_quoting_it(container, standin) -> None:
    _point_at(container, standin, "wrong-token-123")
    check = provider_check(container, fresh=True)
    assert check["ok"] is False and check["reachable"] is False
    assert "wrong-token-123" not in str(check) and "token" in check["error"]
    line = next(x for x in doctor(container)["checklist"] if x["check"] == "data provider")
    assert line["status"] == "fail" and line["text"].startswith("tushare: token set, unreachable: Tushare trade_cal")


def test_without_a_token_nothing_is_called(container) -> None:
    check = provider_check(container, fresh=True)
    assert check["ok"] is True and check["reachable"] is None and check["latency_ms"] is None
