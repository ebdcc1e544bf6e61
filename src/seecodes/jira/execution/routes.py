"""Execution tickets: /v1/execution/generate | push | sync, and the tickets list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import (
    ContextTooLarge,
    InsufficientCredits,
    ModelUnavailable,
    RateLimited,
    RunNotFound,
    RunNotSucceeded,
    TicketGenerationFailed,
    TicketNotFound,
    UnknownModel,
    responses,
)
from seecodes.jira.execution import service
from seecodes.jira.execution.schemas import (
    GenerateRequest,
    GenerateResponse,
    PushRequest,
    PushResponse,
    PushResult,
    SyncRequest,
    SyncResponse,
    SyncResult,
    Ticket,
    TicketsResponse,
)
from seecodes.jira.service import JIRA_CALL_ERRORS
from seecodes.security.deps import MANAGER_ERRORS, InstallationManagerCaller

router = APIRouter(prefix="/v1/execution", tags=["execution"])


@router.post(
    "/generate",
    summary="Draft execution tickets from a run's output or a Markdown document",
    responses=responses(
        *MANAGER_ERRORS,
        RunNotFound,
        RunNotSucceeded,
        ContextTooLarge,
        UnknownModel,
        ModelUnavailable,
        TicketGenerationFailed,
        InsufficientCredits,
        RateLimited,
    ),
)
async def generate(
    runtime: RuntimeDep, manager: InstallationManagerCaller, body: GenerateRequest
) -> GenerateResponse:
    generated = await service.generate(
        runtime.db,
        runtime.clock,
        runtime.settings,
        runtime.storage,
        runtime.catalog,
        runtime.ticket_draft_limiter,
        runtime.engine,
        manager,
        run_id=body.runId,
        markdown=body.markdown,
    )
    return GenerateResponse.of(generated)


@router.get("/tickets", summary="The installation's execution tickets", responses=responses(*MANAGER_ERRORS))
async def tickets(
    session: SessionDep,
    manager: InstallationManagerCaller,
    batchId: Annotated[str | None, Query(max_length=40)] = None,
) -> TicketsResponse:
    found = await service.list_tickets(session, manager, batch_id=batchId)
    return TicketsResponse(tickets=[Ticket.of(ticket) for ticket in found])


@router.post(
    "/push",
    summary="Create one Jira issue per ticket (a ticket already pushed creates nothing)",
    responses=responses(*MANAGER_ERRORS, TicketNotFound, *JIRA_CALL_ERRORS),
)
async def push(runtime: RuntimeDep, manager: InstallationManagerCaller, body: PushRequest) -> PushResponse:
    outcomes = await service.push(
        runtime.db,
        runtime.clock,
        runtime.settings,
        manager,
        ticket_ids=body.ticketIds,
        project_key=body.projectKey,
        issue_type=body.issueType,
    )
    return PushResponse(results=[PushResult.of(outcome) for outcome in outcomes])


@router.post(
    "/sync",
    summary="Read status, status category, priority and labels back from Jira (moved issues followed by id)",
    responses=responses(*MANAGER_ERRORS, TicketNotFound, *JIRA_CALL_ERRORS),
)
async def sync(runtime: RuntimeDep, manager: InstallationManagerCaller, body: SyncRequest) -> SyncResponse:
    outcomes = await service.sync(
        runtime.db, runtime.clock, runtime.settings, manager, ticket_ids=body.ticketIds
    )
    return SyncResponse(results=[SyncResult.of(outcome) for outcome in outcomes])
