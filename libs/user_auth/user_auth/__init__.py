"""user_auth — who is calling.

Owns users (email + argon2id password, role user/admin, plan free/pro, status), login sessions with
rotating refresh tokens, email verification and password reset tokens, API keys, the append-only audit
log and the mail outbox, monthly usage per quota, plan interest and disclaimer acceptances, all in the
PostgreSQL schema `user_auth`; attempt and per-route rate-limit counters live in Redis.

Publishes: `principal.Principal` / `Role` / `Plan`; `deps.CurrentPrincipal`, `deps.AdminPrincipal` and
`deps.Caller` (the one-hop form, for the most polled reads) for routes; `cli_session.cli_principal(ctx)` for
every context's CLI; `service.principal_for_user(session, user_id)` for jobs; the use cases in `service` and
the schemas in `schemas` — among them `service.record_usage(session, env, principal, quota, amount)`, which
every context that accepts counted work (runs, sweep evaluations, share links, artifact bytes) calls in its
accepting transaction; and `deps.RateLimitGuard`, which the composition app installs on every `/api` route.

Depends on platform_core only.
"""

# What other contexts may import of user_auth (checked by tests/spec/test_architecture.py and the
# import-linter contract "user_auth publishes only its surface" in pyproject.toml).
PUBLISHED_MODULES = ("service", "schemas", "config", "principal", "deps", "cli_session")
