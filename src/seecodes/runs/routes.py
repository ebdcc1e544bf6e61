"""Runs for the IDE (task permit) and the usage view for the Jira App.

`GET /v1/tasks/runs` is declared before `GET /v1/tasks/{runId}`: run ids start with `run_`, so the
literal segment never shadows one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep
from seecodes.errors import (
    BudgetExceeded,
    ContextTooLarge,
    HintMismatch,
    InsufficientCredits,
    InvalidInput,
    InvalidPermit,
    RunAlreadyFinished,
    RunAlreadyStarted,
    RunArtifactsPurged,
    RunNotFound,
    RunNotStarted,
    RunNotSucceeded,
    StorageQuotaExceeded,
    TooManyStreams,
    TooManyUnstartedRuns,
    UploadedFileTooLarge,
    UploadsIncomplete,
    responses,
)
from seecodes.installations import budgets
from seecodes.installations.service import check_cloud_hint
from seecodes.kit.clock import iso_utc
from seecodes.kit.cursors import PageCursor, PageLimit
from seecodes.models.run import RunStatus
from seecodes.openapi import IDE, JIRA_APP
from seecodes.runs import events, followups, listing, service
from seecodes.runs.schemas import (
    CancelRunResponse,
    FollowUpRequest,
    InitRunRequest,
    InitRunResponse,
    RunListResponse,
    RunStatusDocument,
    RunStatusResponse,
    RunSummary,
    RunTelemetry,
    StartRunRequest,
    StartRunResponse,
    UsageResponse,
    UsageRow,
)
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller, TaskPermitCaller, TaskPermitReader

router = APIRouter()
SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}

RunIdPath = Annotated[str, Path(max_length=40, pattern=r"^run_[a-z0-9]{1,36}$")]
TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {}}}}


@router.post(
    "/v1/tasks/init",
    tags=[IDE],
    operation_id="initRun",
    description=(
        "Creates a run for the permit's task: declares its files and answers a signed upload URL "
        "for each. Upload every file, then `startRun`. Nothing is reserved until the start."
    ),
    summary="Initialize an AI run",
    responses=responses(InvalidPermit, InvalidInput, TooManyUnstartedRuns),
)
async def init_run(
    runtime: RuntimeDep, session: SessionDep, permit: TaskPermitCaller, body: InitRunRequest
) -> InitRunResponse:
    created = await service.init_run(
        session,
        runtime.clock,
        runtime.catalog,
        runtime.storage,
        permit,
        model=body.model,
        files=body.files,
        upload_url_ttl_seconds=runtime.settings.upload_url_ttl_seconds,
        max_unstarted_runs=runtime.settings.max_unstarted_runs,
    )
    return InitRunResponse(
        runId=created.run.id,
        bucket=created.bucket,
        prefix=created.run.storage_prefix,
        uploads=created.uploads,
    )


@router.get(
    "/v1/tasks/runs",
    tags=[IDE],
    operation_id="listRuns",
    description="The task's runs, newest first, paged.",
    summary="List the task's runs, newest first",
    responses=responses(InvalidPermit, InvalidInput),
)
async def list_runs(
    session: ReadSessionDep,
    permit: TaskPermitReader,
    status: Annotated[list[RunStatus] | None, Query(max_length=len(RunStatus))] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> RunListResponse:
    page = await listing.list_runs(session, permit, statuses=status or [], limit=limit, cursor=cursor)
    return RunListResponse(items=[RunSummary.of(run) for run in page.runs], nextCursor=page.next_cursor)


@router.post(
    "/v1/tasks/{runId}/start",
    tags=[IDE],
    operation_id="startRun",
    description=(
        "Checks that every declared file was uploaded, reserves the run's estimated credits and "
        "queues it. 402 `insufficient_credits` says how many credits are missing, 402 "
        "`budget_exceeded` which monthly budget the estimate would pass; nothing is reserved then. "
        "When the installation has an approval threshold and the estimate reaches it, the answer "
        "is `awaiting_approval` instead of `queued`: nothing is reserved until the Jira App approves "
        "(the run then moves to `queued`) or rejects it (`rejected`, settled). Starting a run "
        "twice is 409 `run_already_started`: a retry after a timeout cannot queue it twice."
    ),
    summary="Queue the AI run",
    responses=responses(
        InvalidPermit,
        RunNotFound,
        RunAlreadyStarted,
        UploadsIncomplete,
        InsufficientCredits,
        BudgetExceeded,
        ContextTooLarge,
        UploadedFileTooLarge,
        StorageQuotaExceeded,
    ),
)
async def start_run(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    runId: RunIdPath,
    body: StartRunRequest,
) -> StartRunResponse:
    run = await service.start_run(
        session,
        runtime.clock,
        runtime.catalog,
        runtime.storage,
        permit,
        runId,
        model=body.model,
        user_prompt=body.userPrompt,
        upload_max_bytes=runtime.settings.upload_max_bytes,
        storage_quota_bytes=runtime.settings.storage_quota_bytes,
        installation_concurrency=runtime.settings.run_installation_concurrency,
    )
    return StartRunResponse.of(run)


@router.get(
    "/v1/tasks/{runId}",
    tags=[IDE],
    operation_id="getRun",
    description=(
        "The run's status and, once it settled, its charge. Poll it, or follow `followRunEvents` instead."
    ),
    summary="Poll run status",
    responses=responses(InvalidPermit, RunNotFound),
)
async def run_status(
    runtime: RuntimeDep, session: ReadSessionDep, permit: TaskPermitReader, runId: RunIdPath
) -> RunStatusResponse:
    found = await service.view(
        session,
        runtime.storage,
        permit,
        runId,
        download_url_ttl_seconds=runtime.settings.download_url_ttl_seconds,
    )
    run = found.run
    return RunStatusResponse(
        status=RunStatusDocument(
            status=run.status,
            updatedAt=iso_utc(run.updated_at),
            error=run.error,
            resultZipUrl=found.result_zip_url,
        )
    )


@router.get(
    "/v1/tasks/{runId}/output",
    tags=[IDE],
    operation_id="getRunOutput",
    description="The run's output text; 409 until the run has succeeded.",
    summary="Read task output",
    response_class=PlainTextResponse,
    responses={**TEXT, **responses(InvalidPermit, RunNotFound, RunNotSucceeded, RunArtifactsPurged)},
)
async def run_output(
    runtime: RuntimeDep, session: ReadSessionDep, permit: TaskPermitReader, runId: RunIdPath
) -> str:
    return await service.output_of(session, runtime.storage, permit, runId)


@router.get(
    "/v1/tasks/{runId}/logs",
    tags=[IDE],
    operation_id="getRunLogs",
    description="The run's log so far, as text.",
    summary="Read task logs",
    response_class=PlainTextResponse,
    responses={**TEXT, **responses(InvalidPermit, RunNotFound, RunArtifactsPurged)},
)
async def run_logs(session: ReadSessionDep, permit: TaskPermitReader, runId: RunIdPath) -> str:
    return await service.logs_of(session, permit, runId)


@router.post(
    "/v1/tasks/{runId}/cancel",
    tags=[IDE],
    operation_id="cancelRun",
    description=(
        "Cancels a run that has not settled; its reserved credits are released. Cancelling a "
        "settled run is 409."
    ),
    summary="Cancel a run that has not settled; reserved credits are released",
    responses=responses(InvalidPermit, RunNotFound, RunAlreadyFinished),
)
async def cancel_run(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    runId: RunIdPath,
) -> CancelRunResponse:
    run = await service.cancel_run(session, runtime.clock, permit, runId)
    return CancelRunResponse(runId=run.id, status=run.status)


@router.post(
    "/v1/tasks/{runId}/rerun",
    tags=[IDE],
    operation_id="rerunRun",
    description=(
        "Starts a new run with the same uploads, model and prompt as a run that was started; "
        "answers the new run."
    ),
    summary="Start a new run with the same uploads, model and prompt",
    responses=responses(
        InvalidPermit,
        RunNotFound,
        RunNotStarted,
        UploadsIncomplete,
        InsufficientCredits,
        ContextTooLarge,
        TooManyUnstartedRuns,
        StorageQuotaExceeded,
    ),
)
async def rerun(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    runId: RunIdPath,
) -> StartRunResponse:
    run = await followups.rerun(
        session,
        runtime.clock,
        runtime.catalog,
        runtime.storage,
        permit,
        runId,
        upload_url_ttl_seconds=runtime.settings.upload_url_ttl_seconds,
        upload_max_bytes=runtime.settings.upload_max_bytes,
        max_unstarted_runs=runtime.settings.max_unstarted_runs,
        storage_quota_bytes=runtime.settings.storage_quota_bytes,
        installation_concurrency=runtime.settings.run_installation_concurrency,
    )
    return StartRunResponse.of(run)


@router.post(
    "/v1/tasks/{runId}/continue",
    tags=[IDE],
    operation_id="continueRun",
    description=(
        "Starts a follow-up of a succeeded run: a new run whose context is the parent's inputs, one "
        "more file (`previous-run.md`) with the parent's instruction and output, and `userPrompt`. "
        "It is estimated on that whole context and reserved, gated and charged like any start, and "
        "records `parentRunId`. Answers like `start`, with the new `runId`. A run that did not "
        "succeed is 409; one whose output or inputs were purged by retention is 410 or 409."
    ),
    summary="Continue a succeeded run with a new instruction",
    responses=responses(
        InvalidPermit,
        RunNotFound,
        RunNotSucceeded,
        RunArtifactsPurged,
        UploadsIncomplete,
        InsufficientCredits,
        BudgetExceeded,
        ContextTooLarge,
        TooManyUnstartedRuns,
        StorageQuotaExceeded,
        InvalidInput,
    ),
)
async def continue_run(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    runId: RunIdPath,
    body: FollowUpRequest,
) -> StartRunResponse:
    run = await followups.follow_up(
        session,
        runtime.clock,
        runtime.catalog,
        runtime.storage,
        permit,
        runId,
        user_prompt=body.userPrompt,
        model=body.model,
        upload_url_ttl_seconds=runtime.settings.upload_url_ttl_seconds,
        upload_max_bytes=runtime.settings.upload_max_bytes,
        max_unstarted_runs=runtime.settings.max_unstarted_runs,
        storage_quota_bytes=runtime.settings.storage_quota_bytes,
        installation_concurrency=runtime.settings.run_installation_concurrency,
    )
    return StartRunResponse.of(run)


@router.get(
    "/v1/tasks/{runId}/events",
    tags=[IDE],
    operation_id="followRunEvents",
    description=(
        "Server-sent events for one run: `status` (the new status), `log` and `output` (JSON "
        '`{"text": …}` deltas), `reset` (the output so far is void: a retried step starts it '
        "again) and `end` when the run has settled. Each event's `id` is its position; reconnect "
        "with `Last-Event-ID` to get exactly the events after the last one seen, none twice and "
        "none missing. A stream also closes after its lifetime (`SEECODES_RUN_EVENTS_MAX_SECONDS`) "
        "and for a run not started yet, with a `retry:` hint: resume then. Open streams are "
        "bounded per permit and per installation (429 `too_many_streams`)."
    ),
    summary="Follow a run as server-sent events (status, log, output, reset, end); resumable",
    response_class=StreamingResponse,
    responses={**SSE, **responses(InvalidPermit, RunNotFound, TooManyStreams)},
)
async def run_events(
    runtime: RuntimeDep,
    session: ReadSessionDep,
    permit: TaskPermitReader,
    runId: RunIdPath,
    # Event ids are 64-bit row ids: anything larger names no event (and would overflow the query).
    last_event_id: Annotated[int, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = 0,
) -> StreamingResponse:
    run = await service.get_run(session, permit, runId)
    slot = runtime.streams.open(permit_jti=permit.jti, installation_id=permit.installation_id)
    return events.response(
        runtime.db,
        runtime.run_watch,
        run.id,
        last_event_id,
        slot=slot,
        max_seconds=runtime.settings.run_events_max_seconds,
    )


@router.get(
    "/v1/tasks/{runId}/telemetry",
    tags=[IDE],
    operation_id="getRunTelemetry",
    description="Tokens, latencies and credits of one run.",
    summary="Tokens, latencies and credits of one run",
    responses=responses(InvalidPermit, RunNotFound),
)
async def run_telemetry(session: ReadSessionDep, permit: TaskPermitReader, runId: RunIdPath) -> RunTelemetry:
    return RunTelemetry.of(await service.get_run(session, permit, runId))


@router.get(
    "/v1/jira/usage",
    operation_id="getUsage",
    tags=[JIRA_APP],
    description=(
        "The installation's available credits, its most recent usage rows (one per settled run), and "
        "this month's budgets with what they spent, hold reserved and have left, and the alert "
        "thresholds they crossed."
    ),
    summary="Recent usage rows and available credits",
    responses=responses(*REQUEST_KEY_ERRORS, HintMismatch),
)
async def usage(
    runtime: RuntimeDep,
    session: SessionDep,
    caller: JiraAppCaller,
    cloudIdHint: Annotated[str | None, Query(max_length=255)] = None,
) -> UsageResponse:
    installation = caller.installation
    check_cloud_hint(cloudIdHint, cloud_id=installation.cloud_id, installation_id=installation.id)
    items, available = await service.usage_of(session, installation.id)
    return UsageResponse(
        items=[UsageRow.of(item) for item in items],
        availableCredits=available,
        budgets=await budgets.usage(session, runtime.clock, installation.id),
    )
