"""Team-competition queries: SQL does the aggregation, Python only sees one row per task and user.

Three sources feed the board, with a precedence per task inside the period:

1. activity snapshots, read through their daily sums (activity_daily, kept with every snapshot);
2. for a task with no snapshot in the period, its settled runs (the run-based fallback);
3. for a task with neither, the telemetry events its permits sent (the VS Code fallback).

A period is whole UTC days; a snapshot belongs to the day of its windowEndedAt. Every query is
scoped by one of the `_*_in(period)` helpers: the installation always, the project when one is
asked for, and the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    case,
    cast,
    exists,
    extract,
    func,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import dialect_of
from seecodes.models import ActivityDaily, ActivitySnapshot, ProgressReport, Run, TelemetryEvent
from seecodes.models.run import RunStatus
from seecodes.tasks.effort import MS_PER_MINUTE, WEIGHTS

Source = Literal["snapshot", "task_run", "vscode"]
SNAPSHOT: Final = "snapshot"
TASK_RUN: Final = "task_run"
VSCODE: Final = "vscode"

# The run-based fallback (docs/decisions.md): a settled run stands for the human work of preparing
# and reviewing it. Its processing time, capped, counts as active minutes; its tokens add one unit
# per thousand, capped. Cancelled and unsettled runs count for nothing.
SETTLED_RUN_STATUSES = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value)
RUN_ACTIVE_CAP_MS = 30 * MS_PER_MINUTE
RUN_TOKENS_CAP = 50_000
TOKENS_PER_UNIT = 1000
# The VS Code fallback: an accepted telemetry event stands for two active minutes (4 units).
EVENT_ACTIVE_MS = 2 * MS_PER_MINUTE

# Effort in 1/(100 × 60000) units, as in tasks.effort, so SQL rounds exactly as Python does.
_DENOMINATOR = 100 * MS_PER_MINUTE
_ACTIVE_HUNDREDTHS = round(WEIGHTS["activeMinute"] * 100)


@dataclass(frozen=True, slots=True)
class Period:
    installation_id: str
    project_id: str | None
    start: datetime  # inclusive
    end: datetime  # exclusive


@dataclass(frozen=True, slots=True)
class Totals:
    """One task × user × source aggregate over the period."""

    project_id: str
    task_id: str
    user_account_id: str
    source: Source
    items: int
    effort_units: int
    active_ms: int
    loc_changed: int
    files_changed: int
    architecture: int
    logic: int
    specification_ui: int
    # Epoch seconds: a board reads tens of thousands of these rows, and parsing two datetimes per
    # row cost more than the aggregation (SQLite hands them over as text).
    first_at: float
    last_at: float


@dataclass(frozen=True, slots=True)
class Item:
    source: Source
    project_id: str
    task_id: str
    user_account_id: str
    started_at: datetime
    ended_at: datetime
    active_ms: int
    loc_added: int
    loc_removed: int
    changed_files: list[str]
    changed_files_count: int
    architecture_change: bool
    logic_change: bool
    specification_ui_change: bool
    effort_units: int
    run_id: str | None = None
    event_type: str | None = None


# -- scoping ---------------------------------------------------------------------------------------
def _snapshots_in(period: Period) -> list[ColumnElement[bool]]:
    conditions = [
        ActivitySnapshot.installation_id == period.installation_id,
        ActivitySnapshot.window_ended_at >= period.start,
        ActivitySnapshot.window_ended_at < period.end,
    ]
    if period.project_id is not None:
        conditions.append(ActivitySnapshot.project_id == period.project_id)
    return conditions


def _daily_in(period: Period) -> list[ColumnElement[bool]]:
    conditions = [
        ActivityDaily.installation_id == period.installation_id,
        ActivityDaily.day >= period.start.date(),
        ActivityDaily.day < period.end.date(),
    ]
    if period.project_id is not None:
        conditions.append(ActivityDaily.project_id == period.project_id)
    return conditions


def _settled_runs_in(period: Period) -> list[ColumnElement[bool]]:
    conditions = [
        Run.installation_id == period.installation_id,
        Run.status.in_(SETTLED_RUN_STATUSES),
        Run.finished_at >= period.start,
        Run.finished_at < period.end,
    ]
    if period.project_id is not None:
        conditions.append(Run.project_id == period.project_id)
    return conditions


def _events_in(period: Period) -> list[ColumnElement[bool]]:
    conditions = [
        TelemetryEvent.installation_id == period.installation_id,
        TelemetryEvent.occurred_at >= period.start,
        TelemetryEvent.occurred_at < period.end,
    ]
    if period.project_id is not None:
        conditions.append(TelemetryEvent.project_id == period.project_id)
    return conditions


def _progress_until(period: Period) -> list[ColumnElement[bool]]:
    conditions = [
        ProgressReport.installation_id == period.installation_id,
        ProgressReport.created_at < period.end,
    ]
    if period.project_id is not None:
        conditions.append(ProgressReport.project_id == period.project_id)
    return conditions


def _task_has_snapshots(period: Period, project: Any, task: Any) -> ColumnElement[bool]:
    return exists().where(
        ActivityDaily.installation_id == period.installation_id,
        ActivityDaily.project_id == project,
        ActivityDaily.task_id == task,
        ActivityDaily.day >= period.start.date(),
        ActivityDaily.day < period.end.date(),
    )


def _task_has_settled_runs(period: Period, project: Any, task: Any) -> ColumnElement[bool]:
    return exists().where(*_settled_runs_in(period), Run.project_id == project, Run.task_id == task)


def _run_fallback(period: Period) -> list[ColumnElement[bool]]:
    return [*_settled_runs_in(period), ~_task_has_snapshots(period, Run.project_id, Run.task_id)]


def _event_fallback(period: Period) -> list[ColumnElement[bool]]:
    project, task = TelemetryEvent.project_id, TelemetryEvent.task_id
    return [
        *_events_in(period),
        ~_task_has_snapshots(period, project, task),
        ~_task_has_settled_runs(period, project, task),
    ]


# -- run effort in SQL -----------------------------------------------------------------------------
def _run_started() -> ColumnElement[datetime]:
    # When the engine took the run; older rows may only know when it was queued or created.
    return func.coalesce(Run.claimed_at, Run.queued_at, Run.created_at)


def _run_active_ms(session: AsyncSession) -> ColumnElement[int]:
    started = _run_started()
    if dialect_of(session) == "postgresql":
        elapsed: ColumnElement[Any] = cast(extract("epoch", Run.finished_at - started) * 1000, BigInteger)
    else:
        # julianday() is a float of days; round to the millisecond rather than truncate.
        days = func.julianday(Run.finished_at) - func.julianday(started)
        elapsed = cast(days * 86_400_000 + 0.5, Integer)
    return case((elapsed > RUN_ACTIVE_CAP_MS, RUN_ACTIVE_CAP_MS), (elapsed < 0, 0), else_=elapsed)


def _run_tokens() -> ColumnElement[int]:
    tokens = func.coalesce(Run.input_tokens, 0) + func.coalesce(Run.output_tokens, 0)
    return case((tokens > RUN_TOKENS_CAP, RUN_TOKENS_CAP), else_=tokens)


def _run_effort(active_ms: ColumnElement[int], tokens: ColumnElement[int]) -> ColumnElement[int]:
    numerator = (
        active_ms * _ACTIVE_HUNDREDTHS + tokens * (_DENOMINATOR // TOKENS_PER_UNIT) + _DENOMINATOR // 2
    )
    return numerator // _DENOMINATOR


def _epoch(session: AsyncSession, moment: ColumnElement[Any]) -> ColumnElement[Any]:
    # As a plain float: a Numeric result would be turned into Decimal objects row by row.
    if dialect_of(session) == "postgresql":
        return type_coerce(extract("epoch", moment), Float)
    return type_coerce((func.julianday(moment) - 2440587.5) * 86400.0, Float)  # Julian day of 1970-01-01


# -- aggregates --------------------------------------------------------------------------------------
async def totals(session: AsyncSession, period: Period) -> list[Totals]:
    """One row per task × user × source: all the board, the contributors and the baseline need."""
    rows: list[Totals] = []
    snapshots = await session.execute(_snapshot_totals(session, period))
    for project, task, user, count, effort, active, loc, files, arch, logic, spec, first, last in snapshots:
        rows.append(
            Totals(
                project, task, user, SNAPSHOT, int(count), int(effort), int(active), int(loc), int(files),
                int(arch), int(logic), int(spec), float(first), float(last),
            )
        )  # fmt: skip
    runs = await session.execute(_run_totals(session, period))
    for project, task, user, count, effort, active, first, last in runs:
        rows.append(
            Totals(
                project,
                task,
                user,
                TASK_RUN,
                int(count),
                int(effort),
                int(active),
                0,
                0,
                0,
                0,
                0,
                float(first),
                float(last),
            )
        )
    events = await session.execute(_event_totals(session, period))
    for project, task, user, count, first, last in events:
        effort, active = int(count) * event_effort_units(), int(count) * EVENT_ACTIVE_MS
        rows.append(
            Totals(
                project,
                task,
                user,
                VSCODE,
                int(count),
                effort,
                active,
                0,
                0,
                0,
                0,
                0,
                float(first),
                float(last),
            )
        )
    return rows


def _snapshot_totals(session: AsyncSession, period: Period) -> Select[*tuple[Any, ...]]:
    d = ActivityDaily
    return (
        select(
            d.project_id,
            d.task_id,
            d.user_account_id,
            func.sum(d.snapshots),
            func.sum(d.effort_units),
            func.sum(d.human_active_ms),
            func.sum(d.loc_changed),
            func.sum(d.files_changed),
            func.sum(d.architecture_changes),
            func.sum(d.logic_changes),
            func.sum(d.specification_ui_changes),
            _epoch(session, func.min(d.first_started_at)),
            _epoch(session, func.max(d.last_ended_at)),
        )
        .where(*_daily_in(period))
        .group_by(d.project_id, d.task_id, d.user_account_id)
    )


def _run_totals(session: AsyncSession, period: Period) -> Select[*tuple[Any, ...]]:
    active_ms, tokens = _run_active_ms(session), _run_tokens()
    return (
        select(
            Run.project_id,
            Run.task_id,
            Run.user_account_id,
            func.count(),
            func.sum(_run_effort(active_ms, tokens)),
            func.sum(active_ms),
            _epoch(session, func.min(_run_started())),
            _epoch(session, func.max(Run.finished_at)),
        )
        .where(*_run_fallback(period))
        .group_by(Run.project_id, Run.task_id, Run.user_account_id)
    )


def _event_totals(session: AsyncSession, period: Period) -> Select[*tuple[Any, ...]]:
    e = TelemetryEvent
    return (
        select(
            e.project_id,
            e.task_id,
            e.user_account_id,
            func.count(),
            _epoch(session, func.min(e.occurred_at)),
            _epoch(session, func.max(e.occurred_at)),
        )
        .where(*_event_fallback(period))
        .group_by(e.project_id, e.task_id, e.user_account_id)
    )


def event_effort_units() -> int:
    return (EVENT_ACTIVE_MS * _ACTIVE_HUNDREDTHS + _DENOMINATOR // 2) // _DENOMINATOR


# -- items -----------------------------------------------------------------------------------------
async def recent_items(session: AsyncSession, period: Period, *, limit: int) -> list[Item]:
    """The newest `limit` items of each source; the caller merges and cuts them."""
    items: list[Item] = []
    s = ActivitySnapshot
    snapshots = await session.execute(
        select(
            s.project_id,
            s.task_id,
            s.user_account_id,
            s.window_started_at,
            s.window_ended_at,
            s.human_active_ms,
            s.loc_added,
            s.loc_removed,
            s.changed_files,
            s.changed_files_count,
            s.architecture_change,
            s.logic_change,
            s.specification_ui_change,
            s.effort_units,
        )
        .where(*_snapshots_in(period))
        .order_by(s.window_ended_at.desc(), s.id.desc())
        .limit(limit)
    )
    for (
        project,
        task,
        user,
        started,
        ended,
        ms,
        added,
        removed,
        files,
        count,
        arch,
        logic,
        ui,
        effort,
    ) in snapshots:
        items.append(
            Item(
                SNAPSHOT,
                project,
                task,
                user,
                started,
                ended,
                ms,
                added,
                removed,
                files,
                count,
                arch,
                logic,
                ui,
                effort,
            )
        )
    active_ms, tokens = _run_active_ms(session), _run_tokens()
    runs = await session.execute(
        select(
            Run.id,
            Run.project_id,
            Run.task_id,
            Run.user_account_id,
            _run_started(),
            Run.finished_at,
            active_ms,
            _run_effort(active_ms, tokens),
        )
        .where(*_run_fallback(period))
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(limit)
    )
    for run_id, project, task, user, started, finished, ms, effort in runs:
        assert finished is not None  # settled runs have finished
        items.append(
            Item(TASK_RUN, project, task, user, started, finished, int(ms), 0, 0, [], 0, False, False, False, int(effort), run_id=run_id)
        )  # fmt: skip
    e = TelemetryEvent
    events = await session.execute(
        select(e.project_id, e.task_id, e.user_account_id, e.occurred_at, e.event_type)
        .where(*_event_fallback(period))
        .order_by(e.occurred_at.desc(), e.id.desc())
        .limit(limit)
    )
    effort = event_effort_units()
    items.extend(
        Item(
            VSCODE,
            project,
            task,
            user,
            at,
            at,
            EVENT_ACTIVE_MS,
            0,
            0,
            [],
            0,
            False,
            False,
            False,
            effort,
            event_type=kind,
        )
        for project, task, user, at, kind in events
    )
    return items


# -- solved tasks ----------------------------------------------------------------------------------
async def solved_tasks(session: AsyncSession, period: Period) -> set[tuple[str, str]]:
    """Tasks whose newest progress document, as of the period's end, reports 100%."""
    p = ProgressReport
    newest = (
        select(func.max(p.id).label("id"))
        .where(*_progress_until(period))
        .group_by(p.project_id, p.task_id)
        .subquery()
    )
    rows = await session.execute(
        select(p.project_id, p.task_id).join(newest, p.id == newest.c.id).where(p.progress == "100%")
    )
    return {(project, task) for project, task in rows}
