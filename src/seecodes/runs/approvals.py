"""The approval gate (issue 15 §2): runs estimated at or above the installation's threshold wait for
a decision by the Jira App or an operator.

A waiting run holds no credits. Approving it reserves and queues in one transaction, under the
installation's lock, so it is refused with 402 when the balance or a budget no longer allows it and
stays waiting for a later decision. Rejecting it, or leaving it undecided past
SEECODES_APPROVAL_EXPIRE_HOURS, settles it as `rejected`: nothing was reserved, so no credit moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import Database, on_commit
from seecodes.errors import RunNotAwaitingApproval, RunNotFound
from seecodes.installations import credits
from seecodes.kit.clock import Clock
from seecodes.kit.cursors import decode_cursor
from seecodes.kit.logging import get_logger
from seecodes.models import Run
from seecodes.models.run import RunStatus
from seecodes.runs import repository
from seecodes.runs.catalog import Catalog
from seecodes.runs.listing import RunPage, page_of
from seecodes.runs.service import queue
from seecodes.webhooks import events as webhook_events

_log = get_logger("seecodes.runs.approvals")


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


async def pending(session: AsyncSession, installation_id: str, *, limit: int, cursor: str | None) -> RunPage:
    """The installation's runs awaiting a decision, newest request first, paged."""
    before = decode_cursor(cursor) if cursor else None
    runs = list(await repository.awaiting_approval(session, installation_id, limit=limit + 1, before=before))
    return page_of(runs, limit, lambda run: run.approval_requested_at)


def expires_at(run: Run, expire_hours: float) -> datetime | None:
    requested = run.approval_requested_at
    return None if requested is None else requested + timedelta(hours=expire_hours)


async def decide(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    *,
    installation_id: str,
    run_id: str,
    decision: Decision,
    decided_by: str,
    reason: str | None,
    installation_concurrency: int,
) -> Run:
    """Approve (reserve and queue) or reject one waiting run of the installation."""
    run = await repository.get_of_installation(session, installation_id, run_id, for_update=True)
    if run is None:
        raise RunNotFound("No run with this id exists for this installation.")
    if run.status != RunStatus.AWAITING_APPROVAL:
        raise RunNotAwaitingApproval(f"The run is {run.status}, not awaiting approval.")
    now = clock.utcnow()
    because = f": {reason}" if reason else ""
    decided = {"approval_decided_at": now, "approval_decided_by": decided_by, "approval_reason": reason}
    if decision is Decision.APPROVED:
        spec = catalog.usable(run.model)
        await credits.reserve(
            session,
            clock,
            installation_id=run.installation_id,
            project_id=run.project_id,
            amount=run.estimated_credits or 0,
            run_id=run.id,
            model=run.model,
        )
        moved = await queue(
            session,
            clock,
            run,
            model=run.model,
            installation_concurrency=installation_concurrency,
            model_concurrency=spec.concurrency,
            log=f"approved by {decided_by}{because}; queued: {run.estimated_credits} credits reserved",
            **decided,
        )
    else:
        moved = await repository.move(
            session,
            run.id,
            RunStatus.REJECTED,
            now,
            log=f"rejected by {decided_by}{because}; nothing was reserved",
            finished_at=now,
            error=f"rejected by {decided_by}{because}",
            **decided,
        )
    if moved is None:  # cancelled or decided meanwhile (the row lock makes this rare)
        raise RunNotAwaitingApproval()
    await webhook_events.approval_decided(
        session, moved, now, decision=decision.value, decided_by=decided_by, reason=reason
    )
    on_commit(
        session,
        partial(
            _log.info,
            "approval_decided",
            run_id=run.id,
            installation_id=installation_id,
            decision=decision.value,
            decided_by=decided_by,
            credits=run.estimated_credits,
        ),
    )
    return moved


async def expire(db: Database, clock: Clock, *, expire_hours: float, batch: int = 200) -> int:
    """Reject the runs left undecided for `expire_hours`, each in its own short transaction."""
    async with db.transaction() as session:
        stale = await repository.approvals_requested_before(
            session, clock.utcnow() - timedelta(hours=expire_hours), batch
        )
    expired = 0
    for run_id in stale:
        async with db.transaction() as session:
            now = clock.utcnow()
            reason = f"not decided within {expire_hours:g} h"
            moved = await repository.move(
                session,
                run_id,
                RunStatus.REJECTED,
                now,
                log=f"rejected: {reason}; nothing was reserved",
                finished_at=now,
                error=f"approval expired: {reason}",
                approval_decided_at=now,
                approval_reason=reason,
            )
            if moved is not None:
                await webhook_events.approval_decided(
                    session, moved, now, decision=Decision.REJECTED.value, decided_by=None, reason=reason
                )
        expired += moved is not None
    return expired
