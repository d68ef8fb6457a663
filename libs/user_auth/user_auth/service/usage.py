"""Plans, quotas, usage, the research-use disclaimer and per-route rate limits.

Quotas are counted in PostgreSQL when work is accepted: the context that accepts it calls
`record_usage(session, env, principal, quota, amount)` in the same transaction (so a rolled-back request
counts nothing) — `backtest` for runs; sweeps (`sweep_evaluations`), share links (`share_links`) and
stored artifacts (`artifact_bytes`) call it the same way. The count is one atomic upsert, so concurrent
submissions never under-count. Quotas are soft by default: past the limit the work is accepted, the
account's row records when it ran out, and the API response carries the `X-Quota-*` hint headers; a
quota named in `HUICE_AUTH_HARD_QUOTAS` for the caller's plan refuses instead (429 RATE_LIMITED naming the
quota, `Retry-After` until the period resets). Submissions of runs and sweep evaluations also require the
disclaimer to be accepted when `HUICE_REQUIRE_DISCLAIMER` is on.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy.orm import Session

from platform_core.errors import Forbidden, InvalidInput, RateLimited
from platform_core.ids import utcnow
from user_auth import repository as repo
from user_auth.config import AuthEnv
from user_auth.domain import (
    COUNTED_QUOTAS,
    DISCLAIMER,
    DISCLAIMER_EN,
    DISCLAIMER_ROUTE,
    DISCLAIMER_VERSION,
    DISCLAIMER_ZH,
    Quota,
    RouteClass,
    month_period,
)
from user_auth.principal import Plan, Principal
from user_auth.ratelimit import Decision
from user_auth.schemas import (
    Disclaimer,
    DisclaimerAcceptance,
    PlanCatalogue,
    PlanInterestRead,
    PlanRead,
    QuotaStatus,
    QuotaUsage,
    UsageRead,
)

_HINTS = "user_auth.quota_hints"
_WORK_QUOTAS = (Quota.RUNS, Quota.SWEEP_EVALUATIONS)
_TITLES = {Plan.FREE: "Free", Plan.PRO: "Pro"}
_PRICES = {Plan.FREE: "¥0", Plan.PRO: "placeholder — not billed yet"}
_FEATURES = {
    Plan.FREE: [
        "daily, 5- and 15-minute bars",
        "strategy templates and custom Python strategies",
        "CSV/Parquet export",
    ],
    Plan.PRO: [
        "everything in Free",
        "higher monthly quotas and rate limits",
        "more concurrent jobs",
        "priority queue for runs",
    ],
}


def disclaimer() -> Disclaimer:
    """The research-use statement shown with the plans, every run's stats and the CLI's run output."""
    return Disclaimer(version=DISCLAIMER_VERSION, zh=DISCLAIMER_ZH, en=DISCLAIMER_EN, text=DISCLAIMER)


# --- catalogue -------------------------------------------------------------------------------------------


def _plan(env: AuthEnv, plan: Plan) -> PlanRead:
    settings = env.settings
    quotas = {q.value: settings.quota_limit(plan.value, q.value) for q in COUNTED_QUOTAS}
    quotas[Quota.CONCURRENT_JOBS.value] = env.concurrent_jobs.get(plan.value, 0)
    return PlanRead(
        name=plan,
        title=_TITLES[plan],
        price=_PRICES[plan],
        quotas=quotas,
        hard_quotas=[q.value for q in COUNTED_QUOTAS if settings.quota_is_hard(plan.value, q.value)],
        rate_limits={
            c.value: settings.rate_limit(plan.value, c.value) for c in RouteClass if c != RouteClass.ANONYMOUS
        },
        features=_FEATURES[plan],
    )


def plan_catalogue(env: AuthEnv) -> PlanCatalogue:
    """Free and Pro: quotas, rate limits, features, and the disclaimer (public, for the pricing page)."""
    return PlanCatalogue(
        plans=[_plan(env, plan) for plan in Plan],
        anonymous_rate_limit=env.settings.rate_anonymous,
        disclaimer=disclaimer(),
    )


def register_plan_interest(session: Session, principal: Principal, plan: Plan) -> PlanInterestRead:
    """The caller clicked "subscribe" on `plan`: recorded once per user and plan (a conversion signal)."""
    recorded = repo.add_plan_interest(session, principal.user_id, plan.value)
    return PlanInterestRead(
        plan=plan, recorded=recorded, interested_users=repo.plan_interest_counts(session).get(plan.value, 0)
    )


def plan_interest_summary(session: Session) -> dict[str, int]:
    """Users interested per plan (for the monitoring summary)."""
    return repo.plan_interest_counts(session)


def usage_summary(session: Session) -> dict[str, object]:
    """The owner's signals for the monitoring summary: this month's accounts with usage, per quota the
    accounts that ran out of it (配额用尽率 = exhausted / active), and the plan interest counts."""
    period, resets_at = month_period(utcnow())
    active, exhausted = repo.usage_counts(session, period)
    return {
        "period_start": period.isoformat(),
        "resets_at": resets_at.isoformat(),
        "accounts_with_usage": active,
        "exhausted_accounts": {q.value: exhausted.get(q.value, 0) for q in COUNTED_QUOTAS},
        "exhaustion_rate": {q.value: (exhausted.get(q.value, 0) / active if active else 0.0) for q in COUNTED_QUOTAS},
        "plan_interest": repo.plan_interest_counts(session),
    }


# --- usage -----------------------------------------------------------------------------------------------


def usage(session: Session, env: AuthEnv, principal: Principal) -> UsageRead:
    """The caller's used / limit / resets-at of every counted quota in the current month."""
    now = utcnow()
    period, resets_at = month_period(now)
    rows = repo.usage_of(session, principal.user_id, period)
    plan = principal.plan.value
    quotas = []
    for quota in COUNTED_QUOTAS:
        row = rows.get(quota.value)
        used = row.used if row else 0
        limit = env.settings.quota_limit(plan, quota.value)
        quotas.append(
            QuotaUsage(
                quota=quota.value,
                used=used,
                limit=limit,
                remaining=max(0, limit - used),
                hard=env.settings.quota_is_hard(plan, quota.value),
                exhausted=used >= limit,
                exhausted_at=row.exhausted_at if row else None,
                resets_at=resets_at,
            )
        )
    return UsageRead(
        user_id=principal.user_id,
        plan=principal.plan,
        period_start=period.isoformat(),
        resets_at=resets_at,
        quotas=quotas,
        disclaimer_accepted_at=repo.disclaimer_accepted_at(session, principal.user_id, DISCLAIMER_VERSION),
    )


def record_usage(
    session: Session, env: AuthEnv, principal: Principal, quota: str, amount: int = 1, *, enforce: bool = True
) -> QuotaStatus:
    """Count `amount` of `quota` for the caller's account in this month, in the caller's transaction.

    Runs and sweep evaluations first require the accepted disclaimer (FORBIDDEN naming the route, when
    HUICE_REQUIRE_DISCLAIMER is on). A hard quota (HUICE_AUTH_HARD_QUOTAS) that would be passed raises
    RATE_LIMITED with `details.quota` and counts nothing; a soft one counts and returns `exceeded=True`
    (the API adds the `X-Quota-*` hint headers to the response). `enforce=False` counts work already done
    (stored artifact bytes): no disclaimer check, never refused. Returns the quota after counting."""
    name = next((q for q in COUNTED_QUOTAS if q.value == quota), None)
    if name is None:
        raise InvalidInput(f"not a counted quota: {quota!r}", field="quota")
    if amount < 0:
        raise InvalidInput("usage amounts are not negative", field="amount")
    if enforce and name in _WORK_QUOTAS:
        require_disclaimer(session, env, principal)
    now = utcnow()
    period, resets_at = month_period(now)
    plan = principal.plan.value
    limit = env.settings.quota_limit(plan, name.value)
    hard = enforce and env.settings.quota_is_hard(plan, name.value)
    used = repo.add_usage(session, principal.user_id, name.value, period, amount, limit=limit, hard=hard, now=now)
    if used is None:
        raise _quota_refusal(session, principal, name.value, limit, resets_at, now)
    status = QuotaStatus(
        quota=name.value, used=used, limit=limit, hard=hard, exceeded=used > limit, resets_at=resets_at
    )
    session.info.setdefault(_HINTS, {})[name.value] = status
    return status


def quota_hints(session: Session) -> list[QuotaStatus]:
    """The quotas counted in this session so far (the API edge turns them into `X-Quota-*` headers)."""
    return list(session.info.get(_HINTS, {}).values())


def _quota_refusal(
    session: Session, principal: Principal, quota: str, limit: int, resets_at: datetime, now: datetime
) -> RateLimited:
    period, _ = month_period(now)
    row = repo.usage_of(session, principal.user_id, period).get(quota)
    used = row.used if row else 0
    retry_after = max(1, math.ceil((resets_at - now).total_seconds()))
    return RateLimited(
        f"monthly quota {quota!r} of the {principal.plan.value} plan is used up ({used}/{limit}); "
        f"it resets at {resets_at.isoformat()}",
        details={
            "quota": quota,
            "plan": principal.plan.value,
            "used": used,
            "limit": limit,
            "resets_at": resets_at.isoformat(),
            "retry_after": retry_after,
        },
        headers={
            "Retry-After": str(retry_after),
            "X-Quota-Name": quota,
            "X-Quota-Used": str(used),
            "X-Quota-Limit": str(limit),
            "X-Quota-Reset": str(int(resets_at.timestamp())),
            "X-Quota-Exceeded": "true",
        },
    )


# --- disclaimer ------------------------------------------------------------------------------------------


def disclaimer_status(session: Session, principal: Principal) -> DisclaimerAcceptance:
    accepted_at = repo.disclaimer_accepted_at(session, principal.user_id, DISCLAIMER_VERSION)
    return DisclaimerAcceptance(
        version=DISCLAIMER_VERSION, accepted=accepted_at is not None, accepted_at=accepted_at, disclaimer=disclaimer()
    )


def accept_disclaimer(session: Session, principal: Principal) -> DisclaimerAcceptance:
    """Record that the caller accepted the disclaimer (idempotent: the first timestamp stays)."""
    accepted_at = repo.accept_disclaimer(session, principal.user_id, DISCLAIMER_VERSION)
    return DisclaimerAcceptance(
        version=DISCLAIMER_VERSION, accepted=True, accepted_at=accepted_at, disclaimer=disclaimer()
    )


def require_disclaimer(session: Session, env: AuthEnv, principal: Principal) -> None:
    """FORBIDDEN naming the route to accept, when enforcement is on and the caller has not accepted."""
    if not env.settings.require_disclaimer:
        return
    if repo.disclaimer_accepted_at(session, principal.user_id, DISCLAIMER_VERSION) is None:
        raise Forbidden(
            f"accept the research-use disclaimer first: {DISCLAIMER_ROUTE} (CLI: huice auth accept-disclaimer)",
            details={
                "reason": "disclaimer_not_accepted",
                "accept": DISCLAIMER_ROUTE,
                "cli": "huice auth accept-disclaimer",
                "disclaimer": DISCLAIMER,
            },
        )


# --- rate limits -----------------------------------------------------------------------------------------


def rate_limit(env: AuthEnv, route_class: RouteClass, *, plan: Plan | None, identity: str) -> Decision | None:
    """Count one request of `route_class` for `identity` (a principal, or a client address when `plan` is
    None); RATE_LIMITED with `Retry-After` when over. The decision (for `X-RateLimit-*`), or None when
    limits are off or the store is unreachable (let through)."""
    if not env.settings.rate_limits_enabled:
        return None
    cls = RouteClass.ANONYMOUS if plan is None else route_class
    spec = env.settings.rate_limit(plan.value if plan else "", cls.value)
    decision = env.limiter.hit(cls.value, identity, spec)
    if decision is not None and not decision.allowed:
        raise decision.refusal()
    return decision
