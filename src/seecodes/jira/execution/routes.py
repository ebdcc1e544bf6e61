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
from seecodes.openapi import JIRA_APP
from seecodes.security.deps import MANAGER_ERRORS, InstallationManagerCaller

router = APIRouter(prefix="/v1/execution", tags=[JIRA_APP])


@router.post(
    "/generate",
    operation_id="generateTickets",
    description=(
        "Asks the model to draft execution tickets (title, description, priority, labels) from a "
        "succeeded run's output or from a Markdown checklist, and stores them unpushed. The "
        "drafting is charged like a run (402 `insufficient_credits` when credits are short); "
        "a model answer that is not valid tickets stores nothing (502 `ticket_generation_failed`)."
    ),
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


@router.get(
    "/tickets",
    operation_id="listTickets",
    description=(
        "The installation's execution tickets with their Jira keys and the state last read back from Jira."
    ),
    summary="The installation's execution tickets",
    responses=responses(*MANAGER_ERRORS),
)
async def tickets(
    session: SessionDep,
    manager: InstallationManagerCaller,
    batchId: Annotated[str | None, Query(max_length=40)] = None,
) -> TicketsResponse:
    found = await service.list_tickets(session, manager, batch_id=batchId)
    return TicketsResponse(tickets=[Ticket.of(ticket) for ticket in found])


@router.post(
    "/push",
    operation_id="pushTickets",
    description=(
        "Creates one Jira issue per ticket in the given project. A ticket already pushed creates "
        "nothing, so a retry after a timeout is safe."
    ),
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
    operation_id="syncTickets",
    description=(
        "Reads status, status category, priority and labels of pushed tickets back from Jira; an "
        "issue moved to another project is followed by its id."
    ),
    summary="Read status, status category, priority and labels back from Jira (moved issues followed by id)",
    responses=responses(*MANAGER_ERRORS, TicketNotFound, *JIRA_CALL_ERRORS),
)
async def sync(runtime: RuntimeDep, manager: InstallationManagerCaller, body: SyncRequest) -> SyncResponse:
    outcomes = await service.sync(
        runtime.db, runtime.clock, runtime.settings, manager, ticket_ids=body.ticketIds
    )
    return SyncResponse(results=[SyncResult.of(outcome) for outcome in outcomes])
