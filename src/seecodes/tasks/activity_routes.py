"""Activity snapshots: how IDE activity reaches the Team Competition retrospective board."""

from __future__ import annotations

from fastapi import APIRouter

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import InvalidInput, InvalidPermit, PermitScopeMismatch, responses
from seecodes.openapi import IDE
from seecodes.security.deps import TaskPermitCaller
from seecodes.tasks import activity_service
from seecodes.tasks.activity_schemas import ActivitySnapshotIn, ActivitySnapshotResponse, iso_utc_micro

router = APIRouter(tags=[IDE])


@router.post(
    "/v1/tasks/activity-snapshot",
    operation_id="saveActivitySnapshot",
    summary="Save task activity snapshot",
    description="Stores one activity window against the permit's project, task and user, with its "
    "effort units (formula v1). A retry of the same task, user and window is stored once and "
    "answers `stored: false`.",
    responses=responses(InvalidPermit, PermitScopeMismatch, InvalidInput),
)
async def save_activity_snapshot(
    runtime: RuntimeDep, session: SessionDep, permit: TaskPermitCaller, body: ActivitySnapshotIn
) -> ActivitySnapshotResponse:
    recorded = await activity_service.record_snapshot(session, runtime.clock, permit=permit, snapshot=body)
    return ActivitySnapshotResponse(
        stored=recorded.stored,
        timestamp=iso_utc_micro(recorded.window_ended_at),
        effortUnits=recorded.effort_units,
    )
