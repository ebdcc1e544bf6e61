"""Pages of runs, newest first: a task's (the IDE) and an installation's (the Jira App).

A cursor is the (moment, id) of the last run on the previous page, opaque to clients; a page is read
with one row more than it shows, and that row says there is a next page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import InvalidInput
from seecodes.kit.cursors import decode_cursor, encode_cursor
from seecodes.models import Run
from seecodes.models.run import RunStatus
from seecodes.runs import repository
from seecodes.security.permits import PermitScope


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None


async def list_runs(
    session: AsyncSession, scope: PermitScope, *, statuses: list[RunStatus], limit: int, cursor: str | None
) -> RunPage:
    before = decode_cursor(cursor) if cursor else None
    runs = list(
        await repository.list_for_task(session, scope, statuses=statuses, limit=limit + 1, before=before)
    )
    return page_of(runs, limit, lambda run: run.created_at)


async def list_installation_runs(
    session: AsyncSession,
    installation_id: str,
    *,
    project_id: str | None,
    task_id: str | None,
    statuses: list[RunStatus],
    limit: int,
    cursor: str | None,
) -> RunPage:
    """The Jira App's view: its installation's runs, of one project or task if named."""
    if task_id is not None and project_id is None:
        raise InvalidInput("Name the task's projectId with its taskId.")
    before = decode_cursor(cursor) if cursor else None
    runs = list(
        await repository.list_for_installation(
            session,
            installation_id,
            project_id=project_id,
            task_id=task_id,
            statuses=statuses,
            limit=limit + 1,
            before=before,
        )
    )
    return page_of(runs, limit, lambda run: run.created_at)


def page_of(runs: list[Run], limit: int, moment: Callable[[Run], datetime | None]) -> RunPage:
    """`runs` was read with limit + 1: the extra row says there is a next page, which starts after
    the last run shown, by (`moment`, id)."""
    page, more = runs[:limit], len(runs) > limit
    return RunPage(
        runs=page, next_cursor=encode_cursor(moment(page[-1]), page[-1].id) if more and page else None
    )
