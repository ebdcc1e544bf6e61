"""The Jira App's view of its installation's runs: list and stop them, and decide approvals.

No permit: the FIT and request key say which installation, and every run id is looked up within it
(another installation's run is 404, never 403, as for the IDE).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import (
    BudgetExceeded,
    InsufficientCredits,
    InvalidInput,
    ModelUnavailable,
    RunAlreadyFinished,
    RunNotAwaitingApproval,
    RunNotFound,
    responses,
)
from seecodes.kit.cursors import PageCursor, PageLimit
from seecodes.kit.schemas import JiraId
from seecodes.models.run import RunStatus
from seecodes.openapi import JIRA_APP
from seecodes.runs import approvals, listing, service
from seecodes.runs.schemas import (
    ApprovalDecisionRequest,
    ApprovalDecisionResponse,
    ApprovalItem,
    ApprovalListResponse,
    CancelRunResponse,
    RunListResponse,
    RunSummary,
)
from seecodes.security.callers import JiraApp
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller

router = APIRouter(tags=[JIRA_APP])

RunIdPath = Annotated[str, Path(max_length=40, pattern=r"^run_[a-z0-9]{1,36}$")]


def _who(caller: JiraApp) -> str:
    """How the run's log names the Jira App's decision: the Jira user when one invoked it."""
    principal = caller.identity.principal
    return f"Jira user {principal}" if principal else "the Jira App"


@router.get(
    "/v1/jira/runs",
    operation_id="listInstallationRuns",
    summary="List the installation's runs, newest first",
    description="The installation's runs, newest first, paged; `projectId` (and with it `taskId`) "
    "narrow them to a project or an issue, so the issue panel shows that issue's runs. `taskId` "
    "without `projectId` is 422.",
    responses=responses(*REQUEST_KEY_ERRORS, InvalidInput),
)
async def list_installation_runs(
    session: SessionDep,
    caller: JiraAppCaller,
    projectId: Annotated[JiraId | None, Query()] = None,
    taskId: Annotated[JiraId | None, Query()] = None,
    status: Annotated[list[RunStatus] | None, Query(max_length=len(RunStatus))] = None,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> RunListResponse:
    page = await listing.list_installation_runs(
        session,
        caller.installation.id,
        project_id=projectId,
        task_id=taskId,
        statuses=status or [],
        limit=limit,
        cursor=cursor,
    )
    return RunListResponse(items=[RunSummary.of(run) for run in page.runs], nextCursor=page.next_cursor)


@router.post(
    "/v1/jira/runs/{runId}/cancel",
    operation_id="cancelInstallationRun",
    summary="Stop one of the installation's runs",
    description="As the IDE's cancel: before the model was called the reservation is released; once "
    "it was, the input's cost is charged. A settled run is 409 `run_already_finished`.",
    responses=responses(*REQUEST_KEY_ERRORS, RunNotFound, RunAlreadyFinished),
)
async def cancel_installation_run(
    runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller, runId: RunIdPath
) -> CancelRunResponse:
    run = await service.cancel_installation_run(
        session, runtime.clock, caller.installation.id, runId, by=_who(caller)
    )
    return CancelRunResponse(runId=run.id, status=RunStatus(run.status))


@router.get(
    "/v1/jira/approvals",
    operation_id="listApprovals",
    summary="List the runs awaiting approval",
    description="Runs whose estimate reached the installation's `approvalThreshold` "
    "(`PUT /v1/jira/budgets`), newest request first, paged. Undecided past `expiresAt`, a run is "
    "rejected.",
    responses=responses(*REQUEST_KEY_ERRORS, InvalidInput),
)
async def list_approvals(
    runtime: RuntimeDep,
    session: SessionDep,
    caller: JiraAppCaller,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> ApprovalListResponse:
    page = await approvals.pending(session, caller.installation.id, limit=limit, cursor=cursor)
    hours = runtime.settings.approval_expire_hours
    return ApprovalListResponse(
        items=[ApprovalItem.of(run, approvals.expires_at(run, hours)) for run in page.runs],
        nextCursor=page.next_cursor,
    )


@router.post(
    "/v1/jira/approvals/{runId}",
    operation_id="decideApproval",
    summary="Approve or reject a waiting run",
    description="`approved` reserves the run's estimate and queues it in one transaction: 402 "
    "(`insufficient_credits` or `budget_exceeded`) when the balance or a budget no longer allows "
    "it, and the run keeps waiting for another decision. `rejected` settles it as `rejected` with "
    "the reason; nothing was reserved. A run not awaiting approval is 409.",
    responses=responses(
        *REQUEST_KEY_ERRORS,
        RunNotFound,
        RunNotAwaitingApproval,
        InsufficientCredits,
        BudgetExceeded,
        ModelUnavailable,
        InvalidInput,
    ),
)
async def decide_approval(
    runtime: RuntimeDep,
    session: SessionDep,
    caller: JiraAppCaller,
    runId: RunIdPath,
    body: ApprovalDecisionRequest,
) -> ApprovalDecisionResponse:
    run = await approvals.decide(
        session,
        runtime.clock,
        runtime.catalog,
        installation_id=caller.installation.id,
        run_id=runId,
        decision=approvals.Decision(body.decision),
        decided_by=_who(caller),
        reason=body.reason,
        installation_concurrency=runtime.settings.run_installation_concurrency,
    )
    return ApprovalDecisionResponse(runId=run.id, status=RunStatus(run.status))
