"""Task context handed over by the Jira App, and the progress document the IDE reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import ContextNotFound
from seecodes.installations.service import check_cloud_hint
from seecodes.kit.clock import Clock
from seecodes.kit.sql import Statement, dialect_insert
from seecodes.models import ProgressReport, TaskContext
from seecodes.security.callers import TaskReader
from seecodes.security.permits import PermitScope
from seecodes.tasks.schemas import ProgressDocument


class ProgressListener(Protocol):
    """Told of every saved report inside the POST's transaction (the connector records its Jira
    write-back here); may only write to the session and record after-commit work, never call out."""

    async def __call__(self, session: AsyncSession, clock: Clock, report: ProgressReport) -> None: ...


async def save_context(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    jira_context: dict[str, Any] | None,
    initial_tai: dict[str, Any] | None,
) -> None:
    """Upsert; a document left out of a later launch keeps its earlier value."""
    values = {
        "installation_id": installation_id,
        "project_id": project_id,
        "task_id": task_id,
        "jira_context": jira_context,
        "initial_tai": initial_tai,
        "updated_at": clock.utcnow(),
    }
    insert = dialect_insert(session, TaskContext).values(**values)
    changed = {"updated_at": insert.excluded.updated_at}
    if jira_context is not None:
        changed["jira_context"] = insert.excluded.jira_context
    if initial_tai is not None:
        changed["initial_tai"] = insert.excluded.initial_tai
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["installation_id", "project_id", "task_id"], set_=changed
        )
    )


async def load_context(
    session: AsyncSession, *, installation_id: str, project_id: str, task_id: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    stored = (
        await session.execute(
            select(TaskContext.jira_context, TaskContext.initial_tai).where(
                TaskContext.installation_id == installation_id,
                TaskContext.project_id == project_id,
                TaskContext.task_id == task_id,
            )
        )
    ).one_or_none()
    if stored is None or (stored.jira_context is None and stored.initial_tai is None):
        raise ContextNotFound()
    return stored.jira_context or {}, stored.initial_tai


_INSERT_REPORT = Statement(lambda _dialect: insert(ProgressReport).returning(ProgressReport.id))


async def save_progress(
    session: AsyncSession,
    clock: Clock,
    *,
    permit: PermitScope,
    task_id: str,
    document: ProgressDocument,
    listeners: Sequence[ProgressListener] = (),
) -> ProgressReport:
    """Only the permit's own task may be written; the report is stored under the permit's binding."""
    permit.require_task(task_id)
    values = {
        "installation_id": permit.installation_id,
        "project_id": permit.project_id,
        "task_id": permit.task_id,
        "user_account_id": permit.user_account_id,
        "ready": document.ready,
        "left": document.left,
        "progress": document.progress,
        "confidence": document.confidence,
        "risks": document.risks,
        "logs": document.logs,
        "created_at": clock.utcnow(),
    }
    report_id = (await _INSERT_REPORT.execute(session, **values)).scalar_one()
    # What the listeners read; not in the session (nothing of it changes after the insert).
    report = ProgressReport(id=report_id, **values)
    for listener in listeners:
        await listener(session, clock, report)
    return report


async def latest_progress(
    session: AsyncSession, *, installation_id: str, project_id: str, task_id: str
) -> ProgressReport | None:
    return (
        await session.execute(
            select(ProgressReport)
            .where(
                ProgressReport.installation_id == installation_id,
                ProgressReport.project_id == project_id,
                ProgressReport.task_id == task_id,
            )
            .order_by(ProgressReport.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def read_progress(
    session: AsyncSession, reader: TaskReader, *, project_id: str, task_id: str, cloud_id_hint: str | None
) -> ProgressReport | None:
    """The IDE reads only its permit's task; the Jira App reads any task of its installation."""
    if reader.permit is not None:
        reader.permit.require_task(task_id, project_id)
    check_cloud_hint(cloud_id_hint, cloud_id=reader.cloud_id, installation_id=reader.installation_id)
    return await latest_progress(
        session, installation_id=reader.installation_id, project_id=project_id, task_id=task_id
    )


async def prune_progress_versions(session: AsyncSession, *, keep: int) -> int:
    """Delete every report beyond the newest `keep` of its task; returns how many went."""
    newest_first = (
        select(
            ProgressReport.id,
            func.row_number()
            .over(
                partition_by=(
                    ProgressReport.installation_id,
                    ProgressReport.project_id,
                    ProgressReport.task_id,
                ),
                order_by=ProgressReport.id.desc(),
            )
            .label("position"),
        )
    ).subquery()
    beyond = select(newest_first.c.id).where(newest_first.c.position > keep)
    result = await session.execute(delete(ProgressReport).where(ProgressReport.id.in_(beyond)))
    return int(getattr(result, "rowcount", 0) or 0)
