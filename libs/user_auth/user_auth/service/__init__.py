"""The use cases of user_auth — the functions other contexts and the faces (API, CLI) call.

Every function takes the caller's session (it flushes, never commits); those that need settings, the
throttle or rollback-proof audit take the context's `AuthEnv` (`user_auth.config.env_of(container)`).
"""

from user_auth.mail import deliver_pending
from user_auth.service._common import LOCAL, ClientInfo
from user_auth.service.accounts import (
    change_password,
    create_user,
    issue_tokens,
    login,
    logout,
    me,
    principal_for_user,
    principal_from_access_token,
    refresh,
    register,
)
from user_auth.service.admin import (
    account_exists,
    create_admin,
    find_account,
    find_user,
    get_user,
    list_users,
    mailbox,
    notify_admins,
    query_audit,
    update_user,
    user_counts,
)
from user_auth.service.identity import authenticate, principal_from_external_token
from user_auth.service.keys import create_api_key, list_api_keys, principal_from_api_key, revoke_api_key
from user_auth.service.recovery import request_password_reset, request_verification, reset_password, verify_email
from user_auth.service.usage import (
    accept_disclaimer,
    disclaimer,
    disclaimer_status,
    plan_catalogue,
    plan_interest_summary,
    quota_hints,
    rate_limit,
    record_usage,
    register_plan_interest,
    require_disclaimer,
    usage,
    usage_summary,
)

__all__ = [
    "LOCAL",
    "ClientInfo",
    "accept_disclaimer",
    "account_exists",
    "authenticate",
    "change_password",
    "create_admin",
    "create_api_key",
    "create_user",
    "deliver_pending",
    "disclaimer",
    "disclaimer_status",
    "find_account",
    "find_user",
    "get_user",
    "issue_tokens",
    "list_api_keys",
    "list_users",
    "login",
    "logout",
    "mailbox",
    "me",
    "notify_admins",
    "plan_catalogue",
    "plan_interest_summary",
    "principal_for_user",
    "principal_from_access_token",
    "principal_from_api_key",
    "principal_from_external_token",
    "query_audit",
    "quota_hints",
    "rate_limit",
    "record_usage",
    "refresh",
    "register",
    "register_plan_interest",
    "request_password_reset",
    "request_verification",
    "require_disclaimer",
    "reset_password",
    "revoke_api_key",
    "update_user",
    "usage",
    "usage_summary",
    "user_counts",
    "verify_email",
]
