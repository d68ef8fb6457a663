"""The login throttle policy: throttled without letting a stranger lock the account owner out.

- Every attempt counts per (account, client address) — `login_pair_limit`, 5/minute — and per client
  address — `login_address_limit`, 20/minute. Both refuse with 429 when full, so someone guessing a
  password throttles only their own address: the owner, elsewhere, is not affected.
- Failed attempts also count per account across all addresses — `login_account_limit`, 100/hour —
  against guessing from many addresses. When that window is full, attempts for the account are refused
  only from addresses it has not signed in from in the last `known_address_days` days; a successful
  login (re)marks its address as known.
- The unlock path for an owner on a new address during such an attack is the mailbox: completing a
  password reset clears the account's failures and marks the address it was done from as known.
- Identities are the lower-cased email as typed (known or not, so the throttle reveals nothing about
  which accounts exist) and the client address (`local` for the CLI). Redis down: 503 (see `throttle`).
"""

from __future__ import annotations

from user_auth.config import AuthEnv
from user_auth.service._common import ClientInfo

_ACCOUNT_FAILURES = "login-account-failures"
_KNOWN = "login-address"


def _pair(identity: str, client: ClientInfo) -> str:
    return f"{identity}|{client.address or 'local'}"


def throttle_login(env: AuthEnv, identity: str, client: ClientInfo) -> str:
    """Count this attempt or refuse it (429, or 503 without Redis); returns the (account, address) identity."""
    pair = _pair(identity, client)
    settings = env.settings
    env.throttle.check("login", [(settings.login_pair_limit, pair), (settings.login_address_limit, client.address)])
    if not env.throttle.remembers(_KNOWN, pair):
        env.throttle.refuse_if_exhausted(_ACCOUNT_FAILURES, settings.login_account_limit, identity)
    return pair


def count_failure(env: AuthEnv, identity: str) -> None:
    env.throttle.count(_ACCOUNT_FAILURES, env.settings.login_account_limit, identity)


def remember_address(env: AuthEnv, pair: str) -> None:
    env.throttle.remember(_KNOWN, pair, env.settings.known_address_days * 86400)


def unlock_account(env: AuthEnv, email: str, client: ClientInfo) -> None:
    """After proof of the mailbox (a completed password reset): forget the account's failed logins and
    trust the address the reset was made from."""
    env.throttle.clear(_ACCOUNT_FAILURES, env.settings.login_account_limit, email)
    remember_address(env, _pair(email, client))
