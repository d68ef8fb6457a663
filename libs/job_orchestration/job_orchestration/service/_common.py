"""What every use case of the job runtime shares: the owner scope of reads and the caller's job row."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from job_orchestration import repository as repo
from job_orchestration.repository import JobRow
from platform_core.errors import NotFound
from user_auth.principal import Principal


def scope(principal: Principal) -> uuid.UUID | None:
    """The owner filter of every read: none for admins."""
    return None if principal.is_admin else principal.user_id


def owned(session: Session, principal: Principal, job_id: uuid.UUID, *, for_update: bool = False) -> JobRow:
    """The caller's job (any job for admins); NOT_FOUND otherwise, as for a missing one."""
    row = repo.get_owned(session, job_id, scope(principal), for_update=for_update)
    if row is None:
        raise NotFound("job not found", details={"job_id": str(job_id)})
    return row
