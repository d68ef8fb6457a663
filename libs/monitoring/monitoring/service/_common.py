"""What the monitoring use cases share: the admin check."""

from __future__ import annotations

from platform_core.errors import Forbidden
from user_auth.principal import Principal


def require_admin(principal: Principal) -> None:
    """Monitoring is for administrators: FORBIDDEN for anyone else."""
    if not principal.is_admin:
        raise Forbidden("administrators only")
