"""Progress written back into the Jira issue: the `seecodes-progress` entity property and one comment
that is edited in place. The job (jobs.py) decides when and how often; this module does one attempt.

An attempt reloads everything from the database and writes the newest report, so running it twice,
or after a newer report arrived, is harmless: a report already written is skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from seecodes.errors import SeecodesError
from seecodes.jira import adf, repository
from seecodes.jira.client import (
    AtlassianUnavailable,
    JiraNotFoundError,
    JiraRateLimitedError,
    JiraRefused,
    RetryPolicy,
)
from seecodes.jira.service import open_site
from seecodes.kit.logging import get_logger
from seecodes.models import JiraIssueSync
from seecodes.runtime import Runtime
from seecodes.tasks.service import latest_progress

_log = get_logger("seecodes.jira.writeback")

# The job sleeps through 429s itself (durably), so a single attempt never waits in place.
NO_INLINE_RETRY = RetryPolicy(retries=0, max_wait_seconds=0)
Status = Literal["synced", "skipped", "rate_limited", "unavailable", "failed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    status: Status
    report_id: int | None = None
    retry_after: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Attempt:
        return cls(**value)


async def request(
    runtime: Runtime, *, installation_id: str, project_id: str, task_id: str, report_id: int
) -> bool:
    """Record that a report should reach Jira; False when the installation has no way to write."""
    now = runtime.clock.utcnow()
    async with runtime.db.transaction() as session:
        if not await repository.has_write_access(session, installation_id, now):
            return False
        await repository.request_sync(
            session,
            installation_id=installation_id,
            project_id=project_id,
            task_id=task_id,
            report_id=report_id,
            now=now,
        )
    return True


async def write_once(runtime: Runtime, *, installation_id: str, project_id: str, task_id: str) -> Attempt:
    async with runtime.db.transaction() as session:
        sync = await repository.issue_sync(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
        report = await latest_progress(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
    if sync is None or report is None:
        return Attempt("skipped")
    if sync.synced_report_id is not None and sync.synced_report_id >= report.id:
        return Attempt("skipped", report.id)
    issue = task_id  # the contract's taskId is the issue key
    try:
        async with open_site(runtime, installation_id, retry=NO_INLINE_RETRY) as site:
            await site.call(
                lambda rest: rest.set_issue_property(issue, adf.PROPERTY_KEY, adf.progress_property(report))
            )
            body = adf.progress_comment(report)
            # A comment id belongs to one site; after a switch of site a new comment is started.
            comment_id = sync.comment_id if sync.comment_cloud_id == site.access.cloud_id else None
            if comment_id is not None:
                existing = comment_id
                try:
                    await site.call(lambda rest: rest.update_comment(issue, existing, body))
                except JiraNotFoundError:
                    comment_id = None  # deleted in Jira: start a new one
            if comment_id is None:
                comment_id = await site.call(lambda rest: rest.add_comment(issue, body))
                # Kept at once, so a retry after a later failure edits this comment instead of adding one.
                await _keep_comment(runtime, sync.id, comment_id, site.access.cloud_id)
    except JiraRateLimitedError as error:
        return Attempt("rate_limited", report.id, retry_after=error.retry_after, reason=error.reason)
    except AtlassianUnavailable as error:
        return Attempt("unavailable", report.id, reason=error.reason)
    except JiraRefused as error:
        return Attempt("failed", report.id, reason=error.reason)
    except SeecodesError as error:  # no connection any more, grant refused, refresh unreachable
        status: Status = "unavailable" if error.status_code in (502, 503) else "failed"
        return Attempt(status, report.id, reason=f"{error.code}: {error.detail}")
    await _mark_synced(runtime, sync.id, report.id)
    return Attempt("synced", report.id)


async def still_pending(runtime: Runtime, *, installation_id: str, project_id: str, task_id: str) -> bool:
    """A report newer than the one written was requested (and has not been given up on)."""
    async with runtime.db.transaction() as session:
        sync = await repository.issue_sync(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
    return sync is not None and sync.state == "pending"


async def _keep_comment(runtime: Runtime, sync_id: int, comment_id: str, cloud_id: str) -> None:
    async with runtime.db.transaction() as session:
        sync = await session.get(JiraIssueSync, sync_id)
        if sync is not None:
            sync.comment_id = comment_id
            sync.comment_cloud_id = cloud_id


async def _mark_synced(runtime: Runtime, sync_id: int, report_id: int) -> None:
    async with runtime.db.transaction() as session:
        sync = await session.get(JiraIssueSync, sync_id, populate_existing=True)
        if sync is None:
            return
        if sync.synced_report_id is None or sync.synced_report_id < report_id:
            sync.synced_report_id = report_id
            sync.synced_at = runtime.clock.utcnow()
        sync.requested_report_id = max(sync.requested_report_id, report_id)
        sync.writes += 1


async def mark_failed(
    runtime: Runtime,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    report_id: int | None,
    reason: str,
) -> None:
    async with runtime.db.transaction() as session:
        sync = await repository.issue_sync(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
        if sync is None:
            return
        # The report given up on: a newer one requested meanwhile stays pending.
        sync.failed_report_id = report_id if report_id is not None else sync.requested_report_id
        sync.last_error = reason[:500]
        sync.last_error_at = runtime.clock.utcnow()
    _log.warning("jira_writeback_failed", installation=installation_id, task=task_id, reason=reason[:200])
