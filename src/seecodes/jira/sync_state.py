"""The write-back state the progress GET reports: `synced`, `pending`, or `failed` with reason and time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.jira import repository
from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import ResponseBody
from seecodes.models import JiraIssueSync


class JiraSyncState(ResponseBody):
    """Where the progress document stands in the Jira issue. Absent (null) when the installation
    has no way to write to Jira (no OAuth connection and no Forge system token)."""

    state: Literal["synced", "pending", "failed"]
    at: str | None = Field(description="When it was written (synced) or given up on (failed).")
    reason: str | None = Field(default=None, description="Why it failed; a newer report is tried again.")

    @classmethod
    def of(cls, sync: JiraIssueSync, latest_report_id: int | None) -> JiraSyncState:
        state = sync.state
        if latest_report_id is not None and latest_report_id > sync.requested_report_id:
            state = "pending"  # a newer report than the one whose write was last requested
        if state == "synced":
            return cls(state="synced", at=iso_utc(sync.synced_at) if sync.synced_at else None)
        if state == "failed":
            at = iso_utc(sync.last_error_at) if sync.last_error_at else None
            return cls(state="failed", at=at, reason=sync.last_error)
        return cls(state="pending", at=None)


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
    return JiraSyncState.of(sync, latest_report_id) if sync is not None else None
