"""Queries on runs, their events and usage rows. Tenancy: `_of_task` is the one scoping helper."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, String, bindparam, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from seecodes.db import on_commit
from seecodes.kit import metrics
from seecodes.kit.clock import iso_utc
from seecodes.kit.sql import Statement, dialect_insert, dialect_of
from seecodes.models import Installation, Run, RunEvent, UsageItem
from seecodes.models.run import EXECUTING, SETTLED, RunStatus, sources_of
from seecodes.security.permits import PermitScope
from seecodes.webhooks import events as webhook_events

PurgeMark = Literal["uploads", "artifacts"]
# PostgreSQL: every transaction that adds a run's events notifies this channel with the run id
# (delivered on commit, once per run and transaction), so followers wake without polling (watch.py).
RUN_EVENTS_CHANNEL = "seecodes_run_events"
_NOTIFIED = "seecodes.notified_runs"


def _of_task(statement: Select[Any], scope: PermitScope) -> Select[Any]:
    return statement.where(
        Run.installation_id == scope.installation_id,
        Run.project_id == scope.project_id,
        Run.task_id == scope.task_id,
    )


def _run_of_task(for_update: bool) -> Statement:
    def build(_dialect: str) -> Select[Any]:
        statement = select(Run).where(
            Run.installation_id == bindparam("installation_id", type_=String),
            Run.project_id == bindparam("project_id", type_=String),
            Run.task_id == bindparam("task_id", type_=String),
            Run.id == bindparam("run_id", type_=String),
        )
        if for_update:
            return statement.with_for_update().execution_options(populate_existing=True)
        return statement

    return Statement(build)


# Every run route reads its run this way (the status poll most of all): built once. The same
# tenancy scope as `_of_task`.
_RUN_OF_TASK = {False: _run_of_task(False), True: _run_of_task(True)}


async def get_for_task(
    session: AsyncSession, scope: PermitScope, run_id: str, *, for_update: bool = False
) -> Run | None:
    """for_update: the row stays as read until the transaction ends (no executor moves it meanwhile)."""
    result = await _RUN_OF_TASK[for_update].load(
        session,
        installation_id=scope.installation_id,
        project_id=scope.project_id,
        task_id=scope.task_id,
        run_id=run_id,
    )
    found: Run | None = result.scalar_one_or_none()
    return found


async def get(session: AsyncSession, run_id: str) -> Run | None:
    return await session.get(Run, run_id, populate_existing=True)


async def list_for_task(
    session: AsyncSession,
    scope: PermitScope,
    *,
    statuses: Collection[RunStatus],
    limit: int,
    before: tuple[datetime, str] | None,
) -> Sequence[Run]:
    """Newest first; the cursor is the (created_at, id) of the last run on the previous page."""
    statement: Select[Any] = _of_task(select(Run), scope)
    if statuses:
        statement = statement.where(Run.status.in_([status.value for status in statuses]))
    return await _newest_first(session, statement, before, limit)


async def _newest_first(
    session: AsyncSession,
    statement: Select[Any],
    before: tuple[datetime, str] | None,
    limit: int,
    moment: InstrumentedAttribute[Any] = Run.created_at,
) -> Sequence[Run]:
    """A page of runs by (`moment`, id) descending, after the cursor's run when there is one."""
    if before is not None:
        at, run_id = before
        statement = statement.where((moment < at) | ((moment == at) & (Run.id < run_id)))
    statement = statement.order_by(moment.desc(), Run.id.desc()).limit(limit)
    runs: Sequence[Run] = (await session.execute(statement)).scalars().all()
    return runs


def _of_installation(statement: Select[Any], installation_id: str) -> Select[Any]:
    return statement.where(Run.installation_id == installation_id)


async def get_of_installation(
    session: AsyncSession, installation_id: str, run_id: str, *, for_update: bool = False
) -> Run | None:
    """Any run of the installation (the Jira App's and the operator's view, not a task's)."""
    statement = _of_installation(select(Run).where(Run.id == run_id), installation_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    found: Run | None = (await session.execute(statement)).scalar_one_or_none()
    return found


async def list_for_installation(
    session: AsyncSession,
    installation_id: str,
    *,
    project_id: str | None,
    task_id: str | None,
    statuses: Collection[RunStatus],
    limit: int,
    before: tuple[datetime, str] | None,
) -> Sequence[Run]:
    """Newest first, as `list_for_task`; a task filter needs its project (the index's order)."""
    statement = _of_installation(select(Run), installation_id)
    if project_id is not None:
        statement = statement.where(Run.project_id == project_id)
    if task_id is not None:
        statement = statement.where(Run.task_id == task_id)
    if statuses:
        statement = statement.where(Run.status.in_([status.value for status in statuses]))
    return await _newest_first(session, statement, before, limit)


async def awaiting_approval(
    session: AsyncSession, installation_id: str, *, limit: int, before: tuple[datetime, str] | None
) -> Sequence[Run]:
    """The installation's pending approvals, newest request first (the partial index's rows only)."""
    statement = _of_installation(select(Run), installation_id).where(
        Run.status == RunStatus.AWAITING_APPROVAL.value
    )
    return await _newest_first(session, statement, before, limit, Run.approval_requested_at)


async def approvals_requested_before(session: AsyncSession, moment: datetime, limit: int) -> Sequence[str]:
    return (
        await session.scalars(
            select(Run.id)
            .where(Run.status == RunStatus.AWAITING_APPROVAL.value, Run.approval_requested_at < moment)
            .order_by(Run.approval_requested_at)
            .limit(limit)
        )
    ).all()


def status_event(run: Run) -> str:
    return json.dumps(
        {"status": run.status, "updatedAt": iso_utc(run.updated_at), "error": run.error},
        separators=(",", ":"),
    )


async def add_run(session: AsyncSession, run: Run, now: datetime, *, log: str) -> None:
    """A new run, with its first status event and log line."""
    session.add(run)
    await add_event(session, run.id, "status", status_event(run), now)
    await add_event(session, run.id, "log", log, now)


async def move(
    session: AsyncSession, run_id: str, to: RunStatus, now: datetime, *, log: str | None = None, **values: Any
) -> Run | None:
    """Move a run to `to` from any state `NEXT` allows, with one conditional UPDATE, and write its
    status event (and `log`); None when the run is not in such a state (another writer got there
    first, or the move is not allowed). The status event of a settled run is its last event, so a
    client that stops reading there has seen every log line."""
    result = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_([state.value for state in sources_of(to)]))
        .values(status=to.value, updated_at=now, **values)
        .returning(Run)
        # The session may hold this run already; the returned row must replace its stale state.
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    moved: Run | None = result.scalar_one_or_none()
    if moved is None:
        return None
    _count_move(session, moved, to, now)
    await webhook_events.run_moved(session, moved, to, now)
    if log is not None and to in SETTLED:
        await add_event(session, run_id, "log", log, now)
    await add_event(session, run_id, "status", status_event(moved), now)
    if log is not None and to not in SETTLED:
        await add_event(session, run_id, "log", log, now)
    return moved


def _count_move(session: AsyncSession, run: Run, to: RunStatus, now: datetime) -> None:
    """Every run's claim and settlement passes here exactly once (the conditional UPDATE above), so
    the run metrics are counted here, once the move commits. Times are the database's timestamps:
    a run is queued in one process and settled in another."""
    if run.queued_at is None:
        return  # never started (cancelled or expired while initialized): no queue, no duration
    waited = max(0.0, (now - run.queued_at).total_seconds())
    if to is RunStatus.IN_PROCESS:
        on_commit(session, metrics.RUN_QUEUE_WAIT.labels(run.model).observe, waited)
    elif to in SETTLED:
        on_commit(session, metrics.RUN_DURATION.labels(run.model, to.value).observe, waited)


async def set_values(session: AsyncSession, run_id: str, now: datetime, **values: Any) -> None:
    await session.execute(
        update(Run)
        .where(Run.id == run_id)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )


async def add_event(session: AsyncSession, run_id: str, kind: str, data: str, now: datetime) -> None:
    session.add(RunEvent(run_id=run_id, kind=kind, data=data, created_at=now))
    notified: set[str] = session.info.setdefault(_NOTIFIED, set())
    if run_id not in notified and dialect_of(session) == "postgresql":
        notified.add(run_id)
        await session.execute(
            text("SELECT pg_notify(:channel, :run_id)"), {"channel": RUN_EVENTS_CHANNEL, "run_id": run_id}
        )


async def newest_event_ids(session: AsyncSession, run_ids: Sequence[str]) -> dict[str, int]:
    """The id of the newest event of each run (runs without events are left out)."""
    if not run_ids:
        return {}
    rows = await session.execute(
        select(RunEvent.run_id, func.max(RunEvent.id))
        .where(RunEvent.run_id.in_(run_ids))
        .group_by(RunEvent.run_id)
    )
    return {run_id: int(newest) for run_id, newest in rows.all()}


async def events_after(session: AsyncSession, run_id: str, after_id: int, limit: int) -> Sequence[RunEvent]:
    return (
        (
            await session.execute(
                select(RunEvent)
                .where(RunEvent.run_id == run_id, RunEvent.id > after_id)
                .order_by(RunEvent.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def log_lines(session: AsyncSession, run_id: str) -> Sequence[tuple[datetime, str]]:
    rows = await session.execute(
        select(RunEvent.created_at, RunEvent.data)
        .where(RunEvent.run_id == run_id, RunEvent.kind == "log")
        .order_by(RunEvent.id)
    )
    return [(created_at, data) for created_at, data in rows]


async def has_output_events(session: AsyncSession, run_id: str) -> bool:
    found = await session.scalar(
        select(func.count()).select_from(RunEvent).where(RunEvent.run_id == run_id, RunEvent.kind == "output")
    )
    return bool(found)


TASK_RUN = "task_run"
TICKET_DRAFT = "ticket_draft"  # execution tickets drafted from prose by a model; no task of their own


async def add_usage(
    session: AsyncSession, run: Run, *, input_tokens: int, output_tokens: int, credits: int, now: datetime
) -> None:
    """The run's one usage row (what the Jira App's usage view lists); a retry writes nothing."""
    await add_usage_row(
        session,
        installation_id=run.installation_id,
        reference=run.id,
        project_id=run.project_id,
        task_id=run.task_id,
        kind=TASK_RUN,
        model=run.model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        credits=credits,
        now=now,
    )


async def add_usage_row(
    session: AsyncSession,
    *,
    installation_id: str,
    reference: str,
    project_id: str,
    task_id: str,
    kind: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    credits: int,
    now: datetime,
) -> None:
    values = {
        "installation_id": installation_id,
        "run_id": reference,
        "project_id": project_id,
        "task_id": task_id,
        "type": kind,
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "credits": credits,
        "created_at": now,
    }
    await session.execute(
        dialect_insert(session, UsageItem).values(**values).on_conflict_do_nothing(index_elements=["run_id"])
    )


async def recent_usage(session: AsyncSession, installation_id: str, limit: int) -> Sequence[UsageItem]:
    return (
        (
            await session.execute(
                select(UsageItem)
                .where(UsageItem.installation_id == installation_id)
                .order_by(UsageItem.created_at.desc(), UsageItem.id.desc())
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def unstarted_count(session: AsyncSession, installation_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.installation_id == installation_id, Run.status == RunStatus.INITIALIZED.value)
        )
        or 0
    )


async def stored_input_bytes(session: AsyncSession, installation_id: str) -> int:
    """Input bytes of started runs whose uploads are still kept (unstarted runs are bounded by count)."""
    return int(
        await session.scalar(
            select(func.coalesce(func.sum(Run.input_bytes), 0)).where(
                Run.installation_id == installation_id, Run.uploads_purged_at.is_(None)
            )
        )
        or 0
    )


async def unstarted_before(session: AsyncSession, moment: datetime, limit: int) -> Sequence[Run]:
    return (
        (
            await session.execute(
                select(Run)
                .where(Run.status == RunStatus.INITIALIZED.value, Run.created_at < moment)
                .order_by(Run.created_at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def queued_before(
    session: AsyncSession, moment: datetime, limit: int
) -> Sequence[tuple[str, str, str, int]]:
    """Runs queued before `moment`: id, model, installation and dispatch slot."""
    rows = await session.execute(
        select(Run.id, Run.model, Run.installation_id, Run.dispatch_slot)
        .where(Run.status == RunStatus.QUEUED.value, Run.queued_at < moment)
        .order_by(Run.queued_at)
        .limit(limit)
    )
    return [(run_id, model, installation_id, slot or 0) for run_id, model, installation_id, slot in rows]


async def models_waiting(session: AsyncSession, queued_before_moment: datetime) -> list[str]:
    """Models with a run queued since before the moment and not yet claimed."""
    rows = await session.scalars(
        select(Run.model)
        .where(Run.status == RunStatus.QUEUED.value, Run.queued_at < queued_before_moment)
        .distinct()
        .limit(100)
    )
    return list(rows)


UNSETTLED = tuple(status for status in RunStatus if status not in SETTLED)


async def unsettled_counts(session: AsyncSession) -> list[tuple[str, RunStatus, int, datetime | None]]:
    """Runs not settled yet per model and status, with the oldest `queued_at` of each: one grouped
    query through the status index, which never reads a settled run (nearly all of the table)."""
    rows = await session.execute(
        select(Run.model, Run.status, func.count(), func.min(Run.queued_at))
        .where(Run.status.in_([status.value for status in UNSETTLED]))
        .group_by(Run.model, Run.status)
    )
    return [(model, RunStatus(status), int(count), oldest) for model, status, count, oldest in rows]


async def slot_loads(session: AsyncSession, installation_id: str, model: str) -> dict[int, int]:
    """Unfinished runs of the installation on the model, per dispatch slot."""
    rows = await session.execute(
        select(Run.dispatch_slot, func.count())
        .where(
            Run.status.in_([RunStatus.QUEUED.value, *(state.value for state in EXECUTING)]),
            Run.installation_id == installation_id,
            Run.model == model,
        )
        .group_by(Run.dispatch_slot)
    )
    return {slot or 0: count for slot, count in rows}


async def installation_run_concurrency(session: AsyncSession, installation_id: str) -> int | None:
    cap: int | None = await session.scalar(
        select(Installation.run_concurrency).where(Installation.id == installation_id)
    )
    return cap


async def delete_events(session: AsyncSession, run_id: str, *, limit: int) -> int:
    """Delete up to `limit` of the run's events, oldest first; returns how many went."""
    oldest = select(RunEvent.id).where(RunEvent.run_id == run_id).order_by(RunEvent.id).limit(limit)
    result = await session.execute(
        delete(RunEvent).where(RunEvent.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def settled_before(
    session: AsyncSession, moment: datetime, limit: int, *, not_yet_purged: PurgeMark
) -> Sequence[Run]:
    """Runs settled before `moment` whose uploads (or artifacts) are still there, oldest first."""
    mark = Run.uploads_purged_at if not_yet_purged == "uploads" else Run.artifacts_purged_at
    return (
        (
            await session.execute(
                select(Run)
                .where(Run.finished_at < moment, mark.is_(None))
                .order_by(Run.finished_at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
