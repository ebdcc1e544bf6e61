"""The credit ledger's movements for runs: reserve on start, settle on success, release otherwise.

The balance is the sum of the ledger, and no run ever takes it below zero: a charge beyond the
reservation (the output's tokens) is taken only as far as the balance covers it (`cover`). A
reservation locks the installation row first, so two starts in different processes cannot both read
the same balance, or the same monthly budget, and overspend it (SQLite gets the same serialisation
from BEGIN IMMEDIATE). A partial unique index on (kind, reference) makes each
run's reserve, settle and release happen at most once, however often a worker retries; so are
the credit metrics, counted for a row written and only once its transaction commits.
"""

from __future__ import annotations

import math

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import on_commit
from seecodes.errors import InsufficientCredits
from seecodes.installations import budgets
from seecodes.installations.repository import credit_balance, lock
from seecodes.kit import metrics
from seecodes.kit.clock import Clock
from seecodes.kit.sql import dialect_insert
from seecodes.models import CreditLedgerEntry
from seecodes.models.credits import RELEASE, RESERVE, SETTLE


def run_cost(base: float, per_token: float, tokens: int) -> int:
    """ceil(base + per_token × tokens): the estimate on start, the charge on success."""
    return math.ceil(base + per_token * tokens)


async def _locked_balance(session: AsyncSession, installation_id: str) -> int:
    await lock(session, installation_id)
    return await credit_balance(session, installation_id)


async def check(
    session: AsyncSession, clock: Clock, *, installation_id: str, project_id: str, amount: int
) -> None:
    """Refuse `amount` if the balance or a `stop` budget cannot hold it, under the installation's
    lock, which stays held until the transaction ends: a reservation that follows in the same
    transaction is what was checked."""
    available = await _locked_balance(session, installation_id)
    if available < amount:
        raise InsufficientCredits(required=amount, available=available)
    await budgets.check_reservation(
        session, clock.utcnow(), installation_id=installation_id, project_id=project_id, amount=amount
    )


async def reserve(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    project_id: str,
    amount: int,
    run_id: str,
    model: str,
) -> None:
    """`project_id` is the run's Jira project ("" for work of none): its budget counts the reservation."""
    await check(session, clock, installation_id=installation_id, project_id=project_id, amount=amount)
    if await _record(
        session,
        clock,
        installation_id=installation_id,
        delta=-amount,
        kind=RESERVE,
        run_id=run_id,
        project_id=project_id,
    ):
        on_commit(session, metrics.CREDITS_RESERVED.labels(model).inc, amount)


async def cover(session: AsyncSession, *, installation_id: str, reserved: int, charge: int) -> int:
    """What a run may be charged: its reservation, and beyond it only what the balance still holds,
    taken under the installation's lock like a reservation of its own."""
    if charge <= reserved:
        return charge
    available = await _locked_balance(session, installation_id)
    return reserved + max(0, min(charge - reserved, available))


async def settle(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    reserved: int,
    charged: int,
    run_id: str,
    model: str,
) -> None:
    """Return the reservation and take the real charge, as one ledger row (reserved − charged)."""
    if await _record(
        session, clock, installation_id=installation_id, delta=reserved - charged, kind=SETTLE, run_id=run_id
    ):
        await _close_reservation(session, clock, run_id)
        on_commit(session, metrics.CREDITS_SETTLED.labels(model).inc, charged)


async def release(
    session: AsyncSession, clock: Clock, *, installation_id: str, reserved: int, run_id: str, model: str
) -> None:
    if await _record(
        session, clock, installation_id=installation_id, delta=reserved, kind=RELEASE, run_id=run_id
    ):
        await _close_reservation(session, clock, run_id)
        on_commit(session, metrics.CREDITS_RELEASED.labels(model).inc, reserved)


async def _close_reservation(session: AsyncSession, clock: Clock, run_id: str) -> None:
    """The reservation stops counting as open: the budgets read only open reservations."""
    await session.execute(
        update(CreditLedgerEntry)
        .where(
            CreditLedgerEntry.kind == RESERVE,
            CreditLedgerEntry.reference == run_id,
            CreditLedgerEntry.closed_at.is_(None),
        )
        .values(closed_at=clock.utcnow())
        .execution_options(synchronize_session=False)
    )


async def _record(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    delta: int,
    kind: str,
    run_id: str,
    project_id: str | None = None,
) -> bool:
    """Whether the row was written: a retried movement finds its row and writes (and counts) nothing."""
    result = await session.execute(
        dialect_insert(session, CreditLedgerEntry)
        .values(
            installation_id=installation_id,
            delta=delta,
            kind=kind,
            reference=run_id,
            created_at=clock.utcnow(),
            project_id=project_id,
        )
        .on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))
