"""`huice auth ...`: the same use cases as the API, acting as the logged-in user (or HUICE_API_KEY).

`login` keeps the session in the config dir (0600); tokens are never printed. `mailbox` shows the dev
mailbox (the outbox when no SMTP server is configured) — an operator command with database access.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import typer

from platform_core.cli import AppTyper, JsonOpt, client, container, emit
from platform_core.errors import AppError, ErrorCode, NotFound, Unauthorized
from platform_core.pagination import PageParams
from user_auth import service
from user_auth.cli_session import (
    NOT_LOGGED_IN,
    cli_principal,
    session_path,
)
from user_auth.config import AuthEnv, env_of
from user_auth.domain import UserStatus
from user_auth.principal import Plan, Principal, Role
from user_auth.schemas import UserAdminUpdate

app = AppTyper(help="Accounts, logins, API keys, roles and the audit log.")
keys_app = AppTyper(help="API keys for scripts and the CLI.")
admin_app = AppTyper(help="Administer users (admins).")
app.add_typer(keys_app, name="keys")
app.add_typer(admin_app, name="admin")

EmailOpt = Annotated[str, typer.Option("--email", "-e", help="Email address.")]
PasswordOpt = Annotated[
    str | None, typer.Option("--password", envvar="HUICE_AUTH_PASSWORD", help="Password (prompted when omitted).")
]
LimitOpt = Annotated[int, typer.Option(min=1, max=200, help="Items per page.")]
OffsetOpt = Annotated[int, typer.Option(min=0, help="Items to skip.")]


def _env(ctx: typer.Context) -> tuple[Any, AuthEnv]:
    c = container(ctx)
    return c, env_of(c)


def _password(value: str | None, prompt: str = "Password", confirm: bool = False) -> str:
    return value if value is not None else typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _act(ctx: typer.Context) -> tuple[Any, AuthEnv, Principal]:
    principal = cli_principal(ctx)
    c, env = _env(ctx)
    return c, env, principal


@app.command()
def register(ctx: typer.Context, email: EmailOpt, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Create an account; a verification link is mailed (see `huice auth mailbox` without SMTP)."""
    secret = _password(password, confirm=True)
    emit(client(ctx).register(email, secret), as_json)


@app.command()
def login(ctx: typer.Context, email: EmailOpt, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Log in and keep the session in the config dir (file mode 0600) for every `huice` command (one
    session per server with `--api`)."""
    secret = _password(password)
    api = client(ctx)
    pair = api.login(email, secret)
    emit({"user": pair.user, "expires_at": pair.expires_at, "session_file": str(api.store.path)}, as_json)


@app.command()
def logout(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """End the stored session (server side too) and forget it."""
    api = client(ctx)
    revoked = False
    if api.store.load() is not None:
        try:
            api.logout()
            revoked = True
        except AppError as exc:
            if exc.code != ErrorCode.UNAUTHORIZED:
                raise
    removed = api.store.clear()
    emit({"logged_out": removed, "session_revoked": revoked}, as_json)


@app.command()
def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The account the CLI acts as (HUICE_API_KEY or the stored session)."""
    api = client(ctx)
    emit({**api.me(), "via": api.via}, as_json)


@app.command()
def plans(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The plan catalogue: monthly quotas, rate limits and features of Free and Pro."""
    catalogue = client(ctx).plans()
    if as_json:
        emit(catalogue, True)
        return
    rows = [
        {"plan": p["name"], **dict(p["quotas"].items()), "hard": ",".join(p["hard_quotas"]) or "-"}
        for p in catalogue["plans"]
    ]
    emit(rows, False, title="plans (monthly quotas)")
    typer.echo(catalogue["disclaimer"]["text"])


@app.command()
def usage(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Your usage this month: used / limit / resets-at per quota."""
    report = client(ctx).usage()
    if as_json:
        emit(report, True)
        return
    emit(
        report["quotas"],
        False,
        columns=["quota", "used", "limit", "remaining", "hard", "exhausted", "resets_at"],
        title=f"{report['plan']} plan, period from {report['period_start']}",
    )


@app.command("accept-disclaimer")
def accept_disclaimer(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Accept the research-use disclaimer (研究用途，不构成投资建议), needed once before the first run."""
    accepted = client(ctx).accept_disclaimer()
    if as_json:
        emit(accepted, True)
        return
    typer.echo(accepted["disclaimer"]["text"])
    typer.echo(f"accepted at {accepted['accepted_at'] or '-'}")


@app.command()
def refresh(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Rotate the stored refresh token now (done automatically when the access token expires)."""
    api = client(ctx)
    if api.refresh_token is None:
        raise Unauthorized(NOT_LOGGED_IN)
    try:
        pair = api.refresh()
    except AppError as exc:
        if exc.code != ErrorCode.UNAUTHORIZED:
            raise
        api.store.clear()
        raise Unauthorized("session expired or revoked: run `huice auth login`") from None
    emit({"user": pair.user, "expires_at": pair.expires_at}, as_json)


@app.command()
def verify(
    ctx: typer.Context, token: Annotated[str, typer.Argument(help="Token from the mail.")], as_json: JsonOpt = False
) -> None:
    """Confirm your email address with the token from the verification mail."""
    emit(client(ctx).verify_email(token), as_json)


@app.command("resend-verification")
def resend_verification(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Mail a new verification link to the logged-in account."""
    emit(client(ctx).request_verification(), as_json)


@app.command("request-reset")
def request_reset(ctx: typer.Context, email: EmailOpt, as_json: JsonOpt = False) -> None:
    """Mail a password reset link (same answer whether or not the account exists)."""
    emit(client(ctx).request_password_reset(email), as_json)


@app.command("reset-password")
def reset_password(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="Token from the reset mail.")],
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Choose a new password with the token from the reset mail; every session ends."""
    secret = _password(password, "New password", confirm=True)
    client(ctx).reset_password(token, secret)
    emit({"status": "reset", "message": "password changed; log in again"}, as_json)


@app.command("change-password")
def change_password(
    ctx: typer.Context,
    current: Annotated[str | None, typer.Option("--current", help="Current password (prompted).")] = None,
    new: Annotated[str | None, typer.Option("--new", help="New password (prompted).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change your password; every other session ends (this CLI session stays)."""
    old_secret = _password(current, "Current password")
    new_secret = _password(new, "New password", confirm=True)
    answer = client(ctx).change_password(old_secret, new_secret)
    emit({"status": "changed", **(answer or {})}, as_json)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650, help="Lifetime in days.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the key is printed this once (use it as HUICE_API_KEY or a Bearer token)."""
    emit(client(ctx).create_api_key(name, expires_in_days), as_json)


@keys_app.command("list")
def keys_list(ctx: typer.Context, limit: LimitOpt = 50, offset: OffsetOpt = 0, as_json: JsonOpt = False) -> None:
    """Your API keys (prefixes only)."""
    page = client(ctx).api_keys(limit, offset)
    emit(page, as_json, columns=["id", "prefix", "name", "active", "created_at", "expires_at", "last_used_at"])


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key: Annotated[str, typer.Argument(help="Key id or prefix hk_...")], as_json: JsonOpt = False
) -> None:
    """Revoke one of your API keys."""
    emit(client(ctx).revoke_api_key(key), as_json)


@app.command()
def mailbox(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option("--to", help="Only mail to this address.")] = None,
    limit: LimitOpt = 20,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """The dev mailbox: mail huice queued (verification, reset), newest first."""
    c, _ = _env(ctx)
    with c.db.transaction() as session:
        page = service.mailbox(session, to=to, page=PageParams(limit=limit, offset=offset))
    if as_json:
        emit(page, True)
        return
    for mail in page.items:
        typer.echo(f"--- {mail.created_at:%Y-%m-%d %H:%M:%S} to {mail.to_address}: {mail.subject}\n{mail.body}")
    typer.echo(f"({page.total} message(s))")


@app.command("mail-deliver")
def mail_deliver(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Send pending outbox mail over SMTP (retries; a no-op without SMTP)."""
    _, env = _env(ctx)
    emit({"sent": service.deliver_pending(env)}, as_json)


@app.command("create-admin")
def create_admin(ctx: typer.Context, email: EmailOpt, password: PasswordOpt = None, as_json: JsonOpt = False) -> None:
    """Bootstrap an administrator: promote an existing account or create one (operators)."""
    c, env = _env(ctx)
    with c.db.transaction() as session:
        exists = service.account_exists(session, email)
    secret = password if exists else _password(password, confirm=True)
    with c.db.transaction() as session:
        user = service.create_admin(session, env, email=email, password=secret)
    emit(user, as_json)


@admin_app.command("users")
def admin_users(
    ctx: typer.Context,
    q: Annotated[str | None, typer.Option("--q", help="Email fragment.")] = None,
    role: Annotated[Role | None, typer.Option(help="Only this role.")] = None,
    plan: Annotated[Plan | None, typer.Option(help="Only this plan.")] = None,
    status: Annotated[UserStatus | None, typer.Option(help="Only this status.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Search users."""
    values = [v.value if v is not None else None for v in (role, plan, status)]
    page = client(ctx).admin_users(q, *values, limit=limit, offset=offset)
    emit(page, as_json, columns=["id", "email", "role", "plan", "status", "email_verified", "created_at"])


def _find_user(api: Any, ref: str) -> dict[str, Any]:
    """One user by id or email (admins)."""
    try:
        return api.admin_user(str(uuid.UUID(ref)))
    except ValueError:
        email = ref.strip().lower()
    found = [u for u in api.admin_users(q=email, limit=200)["items"] if u["email"] == email]
    if not found:
        raise NotFound("no such user", details={"user": ref[:320]})
    return found[0]


def _update(ctx: typer.Context, user: str, change: UserAdminUpdate, as_json: bool) -> None:
    api = client(ctx)
    target = _find_user(api, user)
    emit(api.admin_update_user(target["id"], change.model_dump(mode="json", exclude_unset=True)), as_json)


UserArg = Annotated[str, typer.Argument(help="User id or email.")]


@admin_app.command("disable")
def admin_disable(ctx: typer.Context, user: UserArg, as_json: JsonOpt = False) -> None:
    """Disable an account: its sessions end and its API keys stop working."""
    _update(ctx, user, UserAdminUpdate(status=UserStatus.DISABLED), as_json)


@admin_app.command("enable")
def admin_enable(ctx: typer.Context, user: UserArg, as_json: JsonOpt = False) -> None:
    """Enable a disabled account."""
    _update(ctx, user, UserAdminUpdate(status=UserStatus.ACTIVE), as_json)


@admin_app.command("set-role")
def admin_set_role(ctx: typer.Context, user: UserArg, role: Role, as_json: JsonOpt = False) -> None:
    """Make a user `user` or `admin`."""
    _update(ctx, user, UserAdminUpdate(role=role), as_json)


@admin_app.command("set-plan")
def admin_set_plan(ctx: typer.Context, user: UserArg, plan: Plan, as_json: JsonOpt = False) -> None:
    """Put a user on plan `free` or `pro`."""
    _update(ctx, user, UserAdminUpdate(plan=plan), as_json)


@app.command()
def audit(
    ctx: typer.Context,
    action: Annotated[str | None, typer.Option(help="e.g. login.failed, api_key.created.")] = None,
    actor: Annotated[uuid.UUID | None, typer.Option(help="Actor user id.")] = None,
    target: Annotated[uuid.UUID | None, typer.Option(help="Target user id.")] = None,
    outcome: Annotated[str | None, typer.Option(help="success or failure.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time (ISO 8601).")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, newest first (admins)."""
    ids = [str(v) if v is not None else None for v in (actor, target)]
    times = [v.isoformat() if v is not None else None for v in (since, until)]
    page = client(ctx).audit(action, *ids, outcome, *times, limit=limit, offset=offset)
    emit(page, as_json, columns=["at", "action", "outcome", "actor_id", "target_id", "client_address", "details"])


__all__ = ["NOT_LOGGED_IN", "app", "session_path"]
