"""Activity snapshots: stored against the permit's task and user, scored once, deduplicated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import InvalidInput
from seecodes.kit.clock import Clock
from seecodes.security.permits import PermitScope
from seecodes.tasks import activity_repository as repository
from seecodes.tasks.activity_schemas import ActivitySnapshotIn
from seecodes.tasks.effort import Activity, effort_units

# Editors' clocks drift; a window that ends a little ahead of ours is still a real window.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RecordedSnapshot:
    stored: bool
    window_ended_at: datetime
    effort_units: int


async def record_snapshot(
    session: AsyncSession, clock: Clock, *, permit: PermitScope, snapshot: ActivitySnapshotIn
) -> RecordedSnapshot:
    """The permit decides where the snapshot goes; a body that names another task is refused."""
    if snapshot.taskId is not None or snapshot.projectId is not None:
        permit.require_task(snapshot.taskId or permit.task_id, snapshot.projectId)
    now = clock.utcnow()
    if snapshot.windowEndedAt > now + CLOCK_SKEW:
        raise InvalidInput("windowEndedAt is in the future.")
    started, ended = snapshot.windowStartedAt.astimezone(UTC), snapshot.windowEndedAt.astimezone(UTC)
    units = effort_units(
        Activity(
            human_active_ms=snapshot.humanActiveMs,
            loc_added=snapshot.locAdded,
            loc_removed=snapshot.locRemoved,
            changed_files_count=snapshot.files_count,
            architecture_change=snapshot.architectureChange,
            logic_change=snapshot.logicChange,
            specification_ui_change=snapshot.specificationUiChange,
        )
    )
    values = {
        "installation_id": permit.installation_id,
        "project_id": permit.project_id,
        "task_id": permit.task_id,
        "user_account_id": permit.user_account_id,
        "window_started_at": started,
        "window_ended_at": ended,
        "task_started_at": snapshot.taskStartedAt,
        "task_age_minutes": snapshot.taskAgeMinutes,
        "human_active_ms": snapshot.humanActiveMs,
        "loc_added": snapshot.locAdded,
        "loc_removed": snapshot.locRemoved,
        "loc_total": snapshot.loc_total,
        "changed_files": snapshot.changedFiles,
        "changed_files_count": snapshot.files_count,
        "architecture_change": snapshot.architectureChange,
        "logic_change": snapshot.logicChange,
        "specification_ui_change": snapshot.specificationUiChange,
        "effort_units": units,
        "created_at": now,
    }
    if await repository.insert_unless_stored(session, values):
        await repository.add_to_daily(session, values)
        return RecordedSnapshot(True, ended, units)
    existing = await repository.find_window(
        session,
        installation_id=permit.installation_id,
        project_id=permit.project_id,
        task_id=permit.task_id,
        user_account_id=permit.user_account_id,
        window_started_at=started,
        window_ended_at=ended,
    )
    assert existing is not None  # the conflicting row is committed before our insert returns
    return RecordedSnapshot(False, existing.window_ended_at, existing.effort_units)
