"""The write-back state the progress GET reports: `synced`, `pending`, or `failed` with reason and time.

Its wire shape is part of the progress response (`tasks.schemas.JiraSyncState`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.jira import repository
from seecodes.kit.clock import iso_utc
from seecodes.models import JiraIssueSync
from seecodes.tasks.schemas import JiraSyncState


def sync_state_of(sync: JiraIssueSync, latest_report_id: int | None) -> JiraSyncState:
    state = sync.state
    if latest_report_id is not None and latest_report_id > sync.requested_report_id:
        state = "pending"  # a newer report than the one whose write was last requested
    if state == "synced":
        return JiraSyncState(state="synced", at=iso_utc(sync.synced_at) if sync.synced_at else None)
    if state == "failed":
        at = iso_utc(sync.last_error_at) if sync.last_error_at else None
        return JiraSyncState(state="failed", at=at, reason=sync.last_error)
    return JiraSyncState(state="pending", at=None)


async def read_sync_state(
    session: AsyncSession,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    latest_report_id: int | None,
) -> JiraSyncState | None:
    sync = await repository.issue_sync(
        session, installation_id=installation_id, project_id=project_id, task_id=task_id
    )
    return sync_state_of(sync, latest_report_id) if sync is not None else None
