"""Execution tickets: drafted from a document or a run's output, pushed to Jira, synced back.

Generate, push and sync talk to a model or to Jira between short units of work of their own (so
they take the `Database`) instead of inside the request's one transaction: on SQLite a transaction
is the database's write lock, and it must not be held across calls to another service. What makes push safe to repeat is in the data: a ticket with a Jira
issue id is never pushed again, and a ticket being pushed is claimed by one conditional UPDATE.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings
from seecodes.db import Database
from seecodes.errors import (
    ContextTooLarge,
    InvalidInput,
    ModelUnavailable,
    ObjectNotFound,
    RunNotFound,
    RunNotSucceeded,
    TicketGenerationFailed,
    TicketNotFound,
)
from seecodes.installations import budgets, credits
from seecodes.jira import adf, repository
from seecodes.jira.client import (
    AtlassianError,
    JiraNotFoundError,
    JiraRateLimitedError,
    JiraRefused,
    JiraRest,
)
from seecodes.jira.execution.checklist import DraftTicket, is_checklist, parse_checklist
from seecodes.jira.execution.generator import draft_with_model, drafting_model, prompt_tokens
from seecodes.jira.priorities import PriorityChoice, choose_priority
from seecodes.jira.service import JiraSite, domain_error, open_site
from seecodes.kit.clock import Clock
from seecodes.kit.dispatch import Enqueue, WorkflowRunner
from seecodes.kit.logging import get_logger
from seecodes.models import ExecutionTicket, Run
from seecodes.models.budgets import WHOLE_INSTALLATION
from seecodes.models.run import RunStatus
from seecodes.runs import repository as runs_repository
from seecodes.runs.catalog import Catalog
from seecodes.runs.layout import output_key
from seecodes.runs.service import drafting_key, queue_name
from seecodes.runs.storage import ObjectStorage
from seecodes.security.callers import InstallationManager
from seecodes.telemetry.limiter import RateLimiter

_log = get_logger("seecodes.jira.execution")

# A claim older than this belongs to a push that died between claiming and storing the issue.
STALE_CLAIM = timedelta(minutes=5)
SYNC_FIELDS = ("summary", "status", "priority", "labels")
SYNC_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Generated:
    batch_id: str
    source: Literal["checklist", "ai"]
    tickets: list[ExecutionTicket]
    # The model had not answered within the wait: the tickets land in the batch when it does.
    pending: bool = False


@dataclass(frozen=True, slots=True)
class PushOutcome:
    ticket: ExecutionTicket
    outcome: Literal["created", "already_pushed", "in_progress", "failed"]
    priority: PriorityChoice | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    ticket: ExecutionTicket
    outcome: Literal["synced", "moved", "not_pushed", "not_found", "failed"]
    reason: str | None = None


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


DRAFT_WORKFLOW = "seecodes.jira.draft_tickets"


async def generate(
    db: Database,
    clock: Clock,
    settings: Settings,
    storage: ObjectStorage,
    catalog: Catalog,
    limiter: RateLimiter,
    runner: WorkflowRunner,
    manager: InstallationManager,
    *,
    run_id: str | None,
    markdown: str | None,
) -> Generated:
    """A checklist is parsed here; other prose is drafted by a model, on that model's run queue
    (its concurrency limit holds for drafts and runs together) and paid for like a run."""
    if markdown is not None:
        document = markdown
    else:
        document = await _run_output(db, storage, manager, run_id or "")
    if not is_checklist(document):
        return await _draft(db, clock, settings, catalog, limiter, runner, manager, document, run_id)
    drafts = parse_checklist(document)
    if not drafts:
        raise InvalidInput("The document holds no open task to turn into a ticket.")
    batch_id = new_id("batch")
    tickets = _tickets(
        manager.installation_id, batch_id, drafts, source="checklist", run_id=run_id, now=clock.utcnow()
    )
    async with db.transaction() as session:
        await repository.add_tickets(session, tickets)
    return Generated(batch_id, "checklist", tickets)


async def _draft(
    db: Database,
    clock: Clock,
    settings: Settings,
    catalog: Catalog,
    limiter: RateLimiter,
    runner: WorkflowRunner,
    manager: InstallationManager,
    document: str,
    run_id: str | None,
) -> Generated:
    """Limited per installation; estimated on the prompt and reserved (402 when the balance is
    short) before the workflow is enqueued; the workflow settles on the model's own count, with a
    usage row of its own type, and stores the tickets, or releases the reservation when the model
    fails. A draft that takes longer than the wait still lands in its batch."""
    spec = drafting_model(catalog, settings, document)
    await limiter.hit(manager.installation_id)
    tokens = await asyncio.to_thread(prompt_tokens, document)
    reserved = credits.run_cost(spec.pricing.base, spec.pricing.per_token, tokens)
    batch_id = new_id("batch")
    async with db.transaction() as session:
        await credits.reserve(
            session,
            clock,
            installation_id=manager.installation_id,
            project_id=WHOLE_INSTALLATION,  # a draft belongs to no project: the installation's budget
            amount=reserved,
            run_id=batch_id,
            model=spec.id,
        )
    job = Enqueue(
        queue=queue_name(spec.id),
        workflow=DRAFT_WORKFLOW,
        workflow_id=batch_id,
        args=(manager.installation_id, batch_id, spec.id, document, reserved, run_id),
        # The run queue is partitioned: a job without a key would never be dequeued.
        partition_key=drafting_key(manager.installation_id),
    )
    try:
        outcome: dict[str, Any] = await runner.run(job, wait_seconds=settings.jira_draft_wait_seconds)
    except TimeoutError:
        return Generated(batch_id, "ai", [], pending=True)
    except Exception:  # never enqueued: nothing will settle the reservation but this
        await _release(db, clock, manager.installation_id, reserved, batch_id, spec.id)
        raise
    if outcome.get("error"):
        raise TicketGenerationFailed(str(outcome["error"]))
    async with db.transaction() as session:
        stored = await repository.tickets_of(
            session, manager.installation_id, batch_id=batch_id, pushed_only=False, limit=500
        )
    return Generated(batch_id, "ai", stored)


async def draft_outcome(catalog: Catalog, settings: Settings, model: str, document: str) -> dict[str, Any]:
    """The model's draft as the workflow checkpoints it: tickets and usage, or the reason it failed."""
    try:
        drafted = await draft_with_model(catalog.get(model), settings, document)
    except (TicketGenerationFailed, ContextTooLarge, ModelUnavailable) as error:
        return {"error": error.detail}
    return {
        "tickets": [asdict(ticket) for ticket in drafted.tickets],
        "input_tokens": drafted.usage.input_tokens,
        "output_tokens": drafted.usage.output_tokens,
    }


async def finish_draft(
    db: Database,
    clock: Clock,
    catalog: Catalog,
    *,
    installation_id: str,
    batch_id: str,
    model: str,
    reserved: int,
    run_id: str | None,
    outcome: dict[str, Any],
) -> None:
    """One transaction: the charge, the usage row and the tickets, or the release. Safe to run twice
    (each ledger movement and the usage row happen at most once per batch; tickets are checked)."""
    async with db.transaction() as session:
        if outcome.get("error"):
            await credits.release(
                session,
                clock,
                installation_id=installation_id,
                reserved=reserved,
                run_id=batch_id,
                model=model,
            )
            return
        if await repository.tickets_of(
            session, installation_id, batch_id=batch_id, pushed_only=False, limit=1
        ):
            return
        spec = catalog.get(model)
        used = int(outcome["input_tokens"]) + int(outcome["output_tokens"])
        cost = credits.run_cost(spec.pricing.base, spec.pricing.per_token, used)
        charged = await credits.cover(
            session, installation_id=installation_id, reserved=reserved, charge=cost
        )
        await credits.settle(
            session,
            clock,
            installation_id=installation_id,
            reserved=reserved,
            charged=charged,
            run_id=batch_id,
            model=model,
        )
        now = clock.utcnow()
        await runs_repository.add_usage_row(
            session,
            installation_id=installation_id,
            reference=batch_id,
            project_id="",
            task_id="",
            kind=runs_repository.TICKET_DRAFT,
            model=model,
            input_tokens=int(outcome["input_tokens"]),
            output_tokens=int(outcome["output_tokens"]),
            credits=charged,
            now=now,
        )
        await budgets.note_spend(
            session, clock, installation_id=installation_id, project_id=WHOLE_INSTALLATION
        )
        drafts = [DraftTicket(**ticket) for ticket in outcome["tickets"]]
        await repository.add_tickets(
            session, _tickets(installation_id, batch_id, drafts, source="ai", run_id=run_id, now=now)
        )


async def _release(
    db: Database, clock: Clock, installation_id: str, reserved: int, reference: str, model: str
) -> None:
    async with db.transaction() as session:
        await credits.release(
            session, clock, installation_id=installation_id, reserved=reserved, run_id=reference, model=model
        )


async def _run_output(db: Database, storage: ObjectStorage, manager: InstallationManager, run_id: str) -> str:
    async with db.transaction() as session:
        run = await session.get(Run, run_id)
        if run is None or run.installation_id != manager.installation_id:
            raise RunNotFound("No run with this id exists for the installation.")
        if run.status != RunStatus.SUCCEEDED:
            raise RunNotSucceeded()
        key = output_key(run)
    try:
        data = await storage.read(key)
    except ObjectNotFound:
        raise RunNotSucceeded("The run's output is no longer stored.") from None
    return data.decode("utf-8", errors="replace")


def _tickets(
    installation_id: str,
    batch_id: str,
    drafts: list[DraftTicket],
    *,
    source: Literal["checklist", "ai"],
    run_id: str | None,
    now: datetime,
) -> list[ExecutionTicket]:
    return [
        ExecutionTicket(
            id=new_id("tkt"),
            installation_id=installation_id,
            batch_id=batch_id,
            source=source,
            run_id=run_id,
            position=position,
            title=draft.title,
            description=draft.description,
            priority=draft.priority,
            labels=list(draft.labels),
            created_at=now,
        )
        for position, draft in enumerate(drafts)
    ]


async def list_tickets(
    session: AsyncSession, manager: InstallationManager, *, batch_id: str | None
) -> list[ExecutionTicket]:
    return await repository.tickets_of(
        session, manager.installation_id, batch_id=batch_id, pushed_only=False, limit=500
    )


async def _load(db: Database, manager: InstallationManager, ids: list[str]) -> list[ExecutionTicket]:
    unique = list(dict.fromkeys(ids))
    async with db.transaction() as session:
        tickets = await repository.tickets_by_id(session, manager.installation_id, unique)
    if len(tickets) != len(unique):
        missing = sorted(set(unique) - {ticket.id for ticket in tickets})
        raise TicketNotFound(f"No execution ticket {', '.join(missing[:5])} exists for the installation.")
    return tickets


async def push(
    db: Database,
    clock: Clock,
    settings: Settings,
    manager: InstallationManager,
    *,
    ticket_ids: list[str],
    project_key: str,
    issue_type: str,
) -> list[PushOutcome]:
    """One Jira issue per ticket; a ticket pushed before is reported, never created twice."""
    tickets = await _load(db, manager, ticket_ids)
    outcomes: list[PushOutcome] = []
    try:
        async with open_site(db, clock, settings, manager.installation_id) as site:
            try:
                project = await site.call(lambda rest: rest.get_project(project_key))
            except JiraNotFoundError:
                raise InvalidInput(f"Jira has no project {project_key!r} this connection can see.") from None
            project_id = str(project.get("id") or "")
            try:
                scheme: list[dict[str, Any]] | None = await site.call(
                    lambda rest: rest.creatable_priorities(project_id, issue_type)
                )
            except JiraRefused:
                scheme = None  # not readable with this token: ask by name, fall back on refusal
            for ticket in tickets:
                outcomes.append(
                    await _push_one(db, clock, manager, site, ticket, project_id, issue_type, scheme)
                )
    except AtlassianError as error:
        raise domain_error(error) from None
    return outcomes


async def _push_one(
    db: Database,
    clock: Clock,
    manager: InstallationManager,
    site: JiraSite,
    ticket: ExecutionTicket,
    project_id: str,
    issue_type: str,
    scheme: list[dict[str, Any]] | None,
) -> PushOutcome:
    if ticket.is_pushed:
        return PushOutcome(ticket, "already_pushed")
    now = clock.utcnow()
    async with db.transaction() as session:
        claimed = await repository.claim_for_push(
            session, manager.installation_id, ticket.id, now=now, stale_before=now - STALE_CLAIM
        )
        if not claimed:
            current = (await repository.tickets_by_id(session, manager.installation_id, [ticket.id]))[0]
            return PushOutcome(current, "already_pushed" if current.is_pushed else "in_progress")
    choice = choose_priority(ticket.priority, scheme)
    fields: dict[str, Any] = {
        "project": {"id": project_id},
        "issuetype": {"name": issue_type},
        "summary": adf.plain_summary(ticket.title),
        "description": adf.markdown_to_adf(ticket.description),
        "labels": list(ticket.labels),
    }
    if choice.field is not None:
        fields["priority"] = choice.field
    try:
        try:
            created = await site.call(lambda rest: rest.create_issue(fields))
        except JiraRefused as refused:
            if "priority" not in fields or "priority" not in refused.reason.lower():
                raise
            # The create screen has no priority field, or the name is unknown: create without it.
            del fields["priority"]
            choice = PriorityChoice(
                choice.requested,
                None,
                None,
                fallback=True,
                note=f"Jira refused the priority ({refused.reason}); its default applies.",
            )
            created = await site.call(lambda rest: rest.create_issue(fields))
    except AtlassianError as error:
        async with db.transaction() as session:
            await repository.release_claim(session, manager.installation_id, ticket.id)
        if isinstance(error, JiraRateLimitedError):
            raise
        return PushOutcome(ticket, "failed", choice, reason=error.reason)
    key = str(created.get("key") or "")
    async with db.transaction() as session:
        stored = (await repository.tickets_by_id(session, manager.installation_id, [ticket.id]))[0]
        stored.jira_cloud_id = site.access.cloud_id
        stored.jira_project_key = key.rsplit("-", 1)[0] if "-" in key else None
        stored.jira_issue_id = str(created["id"])
        stored.jira_issue_key = key or None
        stored.jira_url = site.issue_url(key) if key else None
        stored.jira_priority = choice.applied
        stored.jira_labels = list(ticket.labels)
        stored.pushed_at = clock.utcnow()
        stored.push_claimed_at = None
        await session.flush()
    _log.info("execution_ticket_pushed", ticket=ticket.id, issue=key)
    return PushOutcome(stored, "created", choice)


async def sync(
    db: Database,
    clock: Clock,
    settings: Settings,
    manager: InstallationManager,
    *,
    ticket_ids: list[str] | None,
) -> list[SyncOutcome]:
    """Status, status category, priority and labels read back, by the issue's id (a moved issue has
    a new key, which is followed and stored)."""
    if ticket_ids is not None:
        tickets = await _load(db, manager, ticket_ids)
    else:
        async with db.transaction() as session:
            tickets = await repository.tickets_of(
                session, manager.installation_id, batch_id=None, pushed_only=True, limit=SYNC_LIMIT
            )
    outcomes: list[SyncOutcome] = []
    pushed = [ticket for ticket in tickets if ticket.is_pushed]
    outcomes += [SyncOutcome(ticket, "not_pushed") for ticket in tickets if not ticket.is_pushed]
    if not pushed:
        return outcomes
    read: dict[str, dict[str, Any] | AtlassianError] = {}
    try:
        async with open_site(db, clock, settings, manager.installation_id) as site:
            for ticket in pushed:
                if ticket.jira_cloud_id != site.access.cloud_id:
                    read[ticket.id] = JiraNotFoundError(
                        "the issue is on another Jira site than the connection"
                    )
                    continue
                issue_id = str(ticket.jira_issue_id)
                try:
                    read[ticket.id] = await site.call(_reader(issue_id))
                except (JiraRefused, JiraRateLimitedError) as error:
                    if isinstance(error, JiraRateLimitedError) and not read:
                        raise
                    read[ticket.id] = error
            site_url = site.access.site_url
    except AtlassianError as error:
        raise domain_error(error) from None
    async with db.transaction() as session:
        stored = {
            ticket.id: ticket
            for ticket in await repository.tickets_by_id(
                session, manager.installation_id, [t.id for t in pushed]
            )
        }
        now = clock.utcnow()
        for ticket_id, result in read.items():
            ticket = stored[ticket_id]
            if isinstance(result, AtlassianError):
                not_found = isinstance(result, JiraNotFoundError)
                outcomes.append(SyncOutcome(ticket, "not_found" if not_found else "failed", result.reason))
                continue
            moved = _apply(ticket, result, site_url, now)
            outcomes.append(SyncOutcome(ticket, "moved" if moved else "synced"))
        await session.flush()
    order = {ticket.id: position for position, ticket in enumerate(tickets)}
    return sorted(outcomes, key=lambda outcome: order[outcome.ticket.id])


def _reader(issue_id: str) -> Callable[[JiraRest], Awaitable[dict[str, Any]]]:
    async def read(rest: JiraRest) -> dict[str, Any]:
        return await rest.get_issue(issue_id, SYNC_FIELDS)

    return read


def _apply(ticket: ExecutionTicket, issue: dict[str, Any], site_url: str | None, now: datetime) -> bool:
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    assert isinstance(fields, dict)
    status = fields.get("status") if isinstance(fields.get("status"), dict) else {}
    assert isinstance(status, dict)
    category = status.get("statusCategory") if isinstance(status.get("statusCategory"), dict) else {}
    assert isinstance(category, dict)
    priority = fields.get("priority") if isinstance(fields.get("priority"), dict) else None
    labels = fields.get("labels")
    key = str(issue.get("key") or ticket.jira_issue_key or "")
    moved = bool(key) and key != ticket.jira_issue_key
    if moved:
        ticket.jira_issue_key = key
        ticket.jira_project_key = key.rsplit("-", 1)[0]
        ticket.jira_url = f"{site_url}/browse/{key}" if site_url else ticket.jira_url
    ticket.jira_status = str(status.get("name")) if status.get("name") else None
    ticket.jira_status_category = str(category.get("key")) if category.get("key") else None
    ticket.jira_priority = str(priority.get("name")) if priority and priority.get("name") else None
    ticket.jira_labels = [str(label) for label in labels] if isinstance(labels, list) else ticket.jira_labels
    ticket.synced_at = now
    return moved
