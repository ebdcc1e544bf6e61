"""The credit ledger's movements for runs: reserve on start, settle on success, release otherwise.

The balance is the sum of the ledger, and no run ever takes it below zero: a charge beyond the
reservation (the output's tokens) is taken only as far as the balance covers it (`cover`). A reservation locks the installation row first, so two
starts in different processes cannot both read the same balance and overspend it (SQLite gets the
same serialisation from BEGIN IMMEDIATE). A partial unique index on (kind, reference) makes each
run's reserve, settle and release happen at most once, however often a worker retries; so are
the credit metrics, counted for a row written and only once its transaction commits.
"""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import on_commit
from seecodes.errors import InsufficientCredits
from seecodes.installations.repository import credit_balance
from seecodes.kit import metrics
from seecodes.kit.clock import Clock
from seecodes.kit.sql import dialect_insert
from seecodes.models import CreditLedgerEntry, Installation

RESERVE = "reserve"
SETTLE = "settle"
RELEASE = "release"


def run_cost(base: float, per_token: float, tokens: int) -> int:
    """ceil(base + per_token × tokens): the estimate on start, the charge on success."""
    return math.ceil(base + per_token * tokens)


async def _locked_balance(session: AsyncSession, installation_id: str) -> int:
    await session.execute(select(Installation.id).where(Installation.id == installation_id).with_for_update())
    return await credit_balance(session, installation_id)


async def reserve(
    session: AsyncSession, clock: Clock, *, installation_id: str, amount: int, run_id: str, model: str
) -> None:
    available = await _locked_balance(session, installation_id)
    if available < amount:
        raise InsufficientCredits(required=amount, available=available)
    if await _record(
        session, clock, installation_id=installation_id, delta=-amount, kind=RESERVE, run_id=run_id
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
        on_commit(session, metrics.CREDITS_SETTLED.labels(model).inc, charged)


async def release(
    session: AsyncSession, clock: Clock, *, installation_id: str, reserved: int, run_id: str, model: str
) -> None:
    if await _record(
        session, clock, installation_id=installation_id, delta=reserved, kind=RELEASE, run_id=run_id
    ):
        on_commit(session, metrics.CREDITS_RELEASED.labels(model).inc, reserved)


async def _record(
    session: AsyncSession, clock: Clock, *, installation_id: str, delta: int, kind: str, run_id: str
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
        )
        .on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))
