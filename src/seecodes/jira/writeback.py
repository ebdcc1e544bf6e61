"""Progress written back into the Jira issue: the `seecodes-progress` entity property and one comment
that is edited in place. The job (jobs.py) decides when and how often; this module records the
request (inside the progress POST's transaction) and does one attempt.

An attempt reloads everything from the database and writes the newest report, so running it twice,
or after a newer report arrived, is harmless: a report already written is skipped. An attempt
talks to Jira between short units of work of its own, so it takes the `Database`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings
from seecodes.db import Database, after_commit, on_commit
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
from seecodes.kit import metrics
from seecodes.kit.clock import Clock
from seecodes.kit.dispatch import Enqueue
from seecodes.kit.logging import get_logger
from seecodes.models import JiraIssueSync, ProgressReport
from seecodes.tasks.service import latest_progress

_log = get_logger("seecodes.jira.writeback")

# The job sleeps through 429s itself (durably), so a single attempt never waits in place.
NO_INLINE_RETRY = RetryPolicy(retries=0, max_wait_seconds=0)
Status = Literal["synced", "skipped", "rate_limited", "unavailable", "failed"]

# The two stages of a write (jobs.py runs them): debounced per issue, then one at a time per site.
DEBOUNCE_QUEUE = "seecodes.jira.debounce"
SITE_QUEUE = "seecodes.jira.site"
DEBOUNCED_WORKFLOW = "seecodes.jira.progress_debounced"
WRITE_WORKFLOW = "seecodes.jira.write_progress"


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


def debounced_write(installation_id: str, project_id: str, task_id: str, *, delay_seconds: float) -> Enqueue:
    """Stage 1 for one issue. Its deduplication id makes every POST while it waits attach to it."""
    return Enqueue(
        queue=DEBOUNCE_QUEUE,
        workflow=DEBOUNCED_WORKFLOW,
        workflow_id=f"jira-progress-{uuid.uuid4().hex}",
        args=(installation_id, project_id, task_id),
        delay_seconds=delay_seconds,
        deduplication_id=f"jira-progress:{installation_id}:{project_id}:{task_id}",
    )


async def progress_saved(
    session: AsyncSession, clock: Clock, report: ProgressReport, *, debounce_seconds: float
) -> None:
    """In the progress POST's transaction: record that the report should reach Jira, and enqueue the
    debounced write after the commit. Nothing here calls Jira, so the POST never waits for it."""
    now = clock.utcnow()
    if not await repository.has_write_access(session, report.installation_id, now):
        return
    await repository.request_sync(
        session,
        installation_id=report.installation_id,
        project_id=report.project_id,
        task_id=report.task_id,
        report_id=report.id,
        now=now,
    )
    after_commit(
        session,
        debounced_write(
            report.installation_id, report.project_id, report.task_id, delay_seconds=debounce_seconds
        ),
    )


async def write_once(
    db: Database, clock: Clock, settings: Settings, *, installation_id: str, project_id: str, task_id: str
) -> Attempt:
    attempt = await _attempt(
        db, clock, settings, installation_id=installation_id, project_id=project_id, task_id=task_id
    )
    metrics.JIRA_WRITEBACK_ATTEMPTS.labels(attempt.status).inc()
    return attempt


async def _attempt(
    db: Database, clock: Clock, settings: Settings, *, installation_id: str, project_id: str, task_id: str
) -> Attempt:
    async with db.transaction() as session:
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
    refused: list[str] = []  # the part Jira refused, with its reason; the other part is still written
    try:
        async with open_site(db, clock, settings, installation_id, retry=NO_INLINE_RETRY) as site:
            try:
                await site.call(
                    lambda rest: rest.set_issue_property(
                        issue, adf.PROPERTY_KEY, adf.progress_property(report)
                    )
                )
            except JiraRefused as error:
                refused.append(f"property refused: {error.reason}")
            body = adf.progress_comment(report)
            # A comment id belongs to one site; after a switch of site a new comment is started.
            comment_id = sync.comment_id if sync.comment_cloud_id == site.access.cloud_id else None
            if comment_id is not None:
                existing = comment_id
                try:
                    await site.call(lambda rest: rest.update_comment(issue, existing, body))
                except JiraNotFoundError:
                    comment_id = None  # deleted in Jira: start a new one
                except JiraRefused as error:
                    refused.append(f"comment refused: {error.reason}")
            if comment_id is None:
                try:
                    comment_id = await site.call(lambda rest: rest.add_comment(issue, body))
                except JiraRefused as error:
                    refused.append(f"comment refused: {error.reason}")
                else:
                    # Kept at once, so a retry after a later failure edits this comment, not a new one.
                    await _keep_comment(db, sync.id, comment_id, site.access.cloud_id)
    except JiraRateLimitedError as error:
        return Attempt("rate_limited", report.id, retry_after=error.retry_after, reason=error.reason)
    except AtlassianUnavailable as error:
        return Attempt("unavailable", report.id, reason=error.reason)
    except JiraRefused as error:
        return Attempt("failed", report.id, reason=error.reason)
    except SeecodesError as error:  # no connection any more, grant refused, refresh unreachable
        status: Status = "unavailable" if error.status_code in (502, 503) else "failed"
        return Attempt(status, report.id, reason=f"{error.code}: {error.detail}")
    if refused:
        return Attempt("failed", report.id, reason="; ".join(refused))
    await _mark_synced(db, clock, sync.id, report.id)
    return Attempt("synced", report.id)


async def still_pending(db: Database, *, installation_id: str, project_id: str, task_id: str) -> bool:
    """A report newer than the one written was requested (and has not been given up on)."""
    async with db.transaction() as session:
        sync = await repository.issue_sync(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
    return sync is not None and sync.state == "pending"


async def _keep_comment(db: Database, sync_id: int, comment_id: str, cloud_id: str) -> None:
    async with db.transaction() as session:
        sync = await session.get(JiraIssueSync, sync_id)
        if sync is not None:
            sync.comment_id = comment_id
            sync.comment_cloud_id = cloud_id


async def _mark_synced(db: Database, clock: Clock, sync_id: int, report_id: int) -> None:
    async with db.transaction() as session:
        sync = await session.get(JiraIssueSync, sync_id, populate_existing=True)
        if sync is None:
            return
        if sync.synced_report_id is None or sync.synced_report_id < report_id:
            sync.synced_report_id = report_id
            sync.synced_at = clock.utcnow()
        sync.requested_report_id = max(sync.requested_report_id, report_id)
        sync.writes += 1


async def mark_failed(
    db: Database,
    clock: Clock,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    report_id: int | None,
    reason: str,
) -> None:
    async with db.transaction() as session:
        sync = await repository.issue_sync(
            session, installation_id=installation_id, project_id=project_id, task_id=task_id
        )
        if sync is None:
            return
        # The report given up on: a newer one requested meanwhile stays pending.
        sync.failed_report_id = report_id if report_id is not None else sync.requested_report_id
        sync.last_error = reason[:500]
        sync.last_error_at = clock.utcnow()
        on_commit(session, metrics.JIRA_WRITEBACKS_GIVEN_UP.inc)
    _log.warning("jira_writeback_failed", installation=installation_id, task=task_id, reason=reason[:200])
