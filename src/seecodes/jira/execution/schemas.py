"""Wire models of /v1/execution/…: tickets, generate, push, sync."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from seecodes.jira.execution.service import Generated, PushOutcome, SyncOutcome
from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import RequestBody, ResponseBody
from seecodes.models import ExecutionTicket

TicketId = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
ProjectKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$")
]
MAX_DOCUMENT_CHARS = 200_000


class GenerateRequest(RequestBody):
    runId: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None, description="Draft from this run's output (the run must have succeeded)."
    )
    markdown: Annotated[str, StringConstraints(min_length=1, max_length=MAX_DOCUMENT_CHARS)] | None = Field(
        default=None,
        description="Or draft from this document. A checklist is parsed as is; prose goes to a model.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> GenerateRequest:
        if (self.runId is None) == (self.markdown is None):
            raise ValueError("give exactly one of runId and markdown")
        return self


class PushRequest(RequestBody):
    ticketIds: list[TicketId] = Field(min_length=1, max_length=100)
    projectKey: ProjectKey = Field(examples=["AUTH"])
    issueType: Annotated[str, StringConstraints(min_length=1, max_length=60)] = Field(
        default="Task", description="The issue type's name in that project."
    )


class SyncRequest(RequestBody):
    ticketIds: list[TicketId] | None = Field(
        default=None,
        max_length=200,
        description="Omitted: every pushed ticket of the installation (newest 200).",
    )


class JiraIssue(ResponseBody):
    cloudId: str | None
    projectKey: str | None
    issueId: str
    issueKey: str | None
    url: str | None
    priority: str | None
    labels: list[str] | None
    status: str | None
    statusCategory: str | None = Field(description="new, indeterminate or done.")
    pushedAt: str | None
    syncedAt: str | None


class Ticket(ResponseBody):
    id: str
    batchId: str
    source: Literal["checklist", "ai"]
    runId: str | None
    position: int
    title: str
    description: str
    priority: Literal["P0", "P1", "P2", "P3"] | None
    labels: list[str]
    createdAt: str
    jira: JiraIssue | None

    @classmethod
    def of(cls, ticket: ExecutionTicket) -> Ticket:
        jira = None
        if ticket.jira_issue_id is not None:
            jira = JiraIssue(
                cloudId=ticket.jira_cloud_id,
                projectKey=ticket.jira_project_key,
                issueId=ticket.jira_issue_id,
                issueKey=ticket.jira_issue_key,
                url=ticket.jira_url,
                priority=ticket.jira_priority,
                labels=ticket.jira_labels,
                status=ticket.jira_status,
                statusCategory=ticket.jira_status_category,
                pushedAt=iso_utc(ticket.pushed_at) if ticket.pushed_at else None,
                syncedAt=iso_utc(ticket.synced_at) if ticket.synced_at else None,
            )
        return cls(
            id=ticket.id,
            batchId=ticket.batch_id,
            source=ticket.source,
            runId=ticket.run_id,
            position=ticket.position,
            title=ticket.title,
            description=ticket.description,
            priority=ticket.priority,
            labels=list(ticket.labels),
            createdAt=iso_utc(ticket.created_at),
            jira=jira,
        )


class GenerateResponse(ResponseBody):
    ok: Literal[True] = True
    batchId: str
    source: Literal["checklist", "ai"]
    tickets: list[Ticket]
    pending: bool = Field(
        default=False,
        description="The model had not answered in time; the tickets land in this batch "
        "(GET /v1/execution/tickets?batchId=…) when it does.",
    )

    @classmethod
    def of(cls, generated: Generated) -> GenerateResponse:
        return cls(
            batchId=generated.batch_id,
            source=generated.source,
            tickets=[Ticket.of(ticket) for ticket in generated.tickets],
            pending=generated.pending,
        )


class TicketsResponse(ResponseBody):
    ok: Literal[True] = True
    tickets: list[Ticket]


class PriorityResult(ResponseBody):
    requested: str = Field(description="The Jira name P0–P3 maps to (unset: Medium).")
    applied: str | None = Field(description="The priority the issue got; null: Jira's default.")
    fallback: bool = Field(description="True when the project's scheme lacked the requested name.")
    note: str | None


class PushResult(ResponseBody):
    ticketId: str
    outcome: Literal["created", "already_pushed", "in_progress", "failed"]
    issueId: str | None = None
    issueKey: str | None = None
    url: str | None = None
    priority: PriorityResult | None = None
    reason: str | None = None

    @classmethod
    def of(cls, outcome: PushOutcome) -> PushResult:
        ticket, choice = outcome.ticket, outcome.priority
        return cls(
            ticketId=ticket.id,
            outcome=outcome.outcome,
            issueId=ticket.jira_issue_id,
            issueKey=ticket.jira_issue_key,
            url=ticket.jira_url,
            priority=PriorityResult(
                requested=choice.requested, applied=choice.applied, fallback=choice.fallback, note=choice.note
            )
            if choice is not None
            else None,
            reason=outcome.reason,
        )


class PushResponse(ResponseBody):
    ok: Literal[True] = True
    results: list[PushResult]


class SyncResult(ResponseBody):
    ticketId: str
    outcome: Literal["synced", "moved", "not_pushed", "not_found", "failed"]
    reason: str | None = None
    ticket: Ticket

    @classmethod
    def of(cls, outcome: SyncOutcome) -> SyncResult:
        return cls(
            ticketId=outcome.ticket.id,
            outcome=outcome.outcome,
            reason=outcome.reason,
            ticket=Ticket.of(outcome.ticket),
        )


class SyncResponse(ResponseBody):
    ok: Literal[True] = True
    results: list[SyncResult]
