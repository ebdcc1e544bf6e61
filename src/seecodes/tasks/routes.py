"""Task context for the IDE, and the progress document both sides read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep
from seecodes.errors import (
    ContextNotFound,
    HintMismatch,
    InvalidInput,
    InvalidPermit,
    PermitScopeMismatch,
    responses,
)
from seecodes.jira.sync_state import read_sync_state
from seecodes.kit.schemas import JiraId
from seecodes.openapi import IDE, JIRA_APP
from seecodes.security.deps import REQUEST_KEY_ERRORS, TaskPermitCaller, TaskPermitReader, TaskReaderCaller
from seecodes.tasks import service
from seecodes.tasks.schemas import (
    OkResponse,
    ProgressDocument,
    ProgressResponse,
    StoredProgress,
    TaskContextResponse,
)

router = APIRouter()

TaskIdPath = Annotated[JiraId, Path(description="The Jira issue key the permit is bound to.")]


@router.get(
    "/v1/tasks/context",
    tags=[IDE],
    operation_id="getTaskContext",
    description=(
        "The Jira issue context the Jira App stored for the permit's project and task, and the "
        "initial task-analysis text; `Context not found` until the Jira App has stored one."
    ),
    summary="Read the stored Jira task context",
    responses=responses(InvalidPermit, ContextNotFound),
)
async def read_task_context(session: ReadSessionDep, permit: TaskPermitReader) -> TaskContextResponse:
    context, initial_tai = await service.load_context(
        session, installation_id=permit.installation_id, project_id=permit.project_id, task_id=permit.task_id
    )
    return TaskContextResponse(context=context, initialTai=initial_tai)


@router.post(
    "/v1/tasks/{taskId}/progress",
    tags=[IDE],
    operation_id="saveProgress",
    description=(
        "Saves a new version of the task's progress document (ready, left, risks, confidence, "
        "percent). The latest version is what the Jira App reads, and it is written to the Jira "
        "issue in the background (`jiraSync` on the read says how far that got)."
    ),
    summary="Save task progress",
    responses=responses(InvalidPermit, PermitScopeMismatch, InvalidInput),
)
async def save_progress(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    taskId: TaskIdPath,
    body: ProgressDocument,
) -> OkResponse:
    await service.save_progress(
        session,
        runtime.clock,
        permit=permit,
        task_id=taskId,
        document=body,
        listeners=runtime.progress_listeners,
    )
    return OkResponse()


@router.get(
    "/v1/tasks/{taskId}/progress",
    operation_id="getProgress",
    tags=[JIRA_APP, IDE],
    description=(
        "The task's latest progress document and the state of its write-back to Jira. Called by "
        "the Jira App (FIT and request key: the key's presence is what marks the Jira App) or by "
        "the IDE (task permit, without a request key)."
    ),
    summary="Read task progress",
    responses=responses(*REQUEST_KEY_ERRORS, InvalidPermit, PermitScopeMismatch, HintMismatch, InvalidInput),
)
async def read_progress(
    session: SessionDep,
    reader: TaskReaderCaller,
    taskId: TaskIdPath,
    projectId: Annotated[JiraId, Query()],
    cloudIdHint: Annotated[str | None, Query(max_length=255)] = None,
) -> ProgressResponse:
    report = await service.read_progress(
        session, reader, project_id=projectId, task_id=taskId, cloud_id_hint=cloudIdHint
    )
    sync = await read_sync_state(
        session,
        installation_id=reader.installation_id,
        project_id=projectId,
        task_id=taskId,
        latest_report_id=report.id if report else None,
    )
    return ProgressResponse(progress=StoredProgress.of(report) if report else None, jiraSync=sync)
