"""Queries on credit budgets: the settings, what a month spent, what is reserved, thresholds crossed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import dialect_insert
from seecodes.models import BudgetAlert, CreditBudget, CreditLedgerEntry, UsageItem
from seecodes.models.budgets import WHOLE_INSTALLATION
from seecodes.models.credits import RESERVE


async def of_installation(session: AsyncSession, installation_id: str) -> Sequence[CreditBudget]:
    return (
        (
            await session.execute(
                select(CreditBudget)
                .where(CreditBudget.installation_id == installation_id)
                .order_by(CreditBudget.project_id)
            )
        )
        .scalars()
        .all()
    )


async def whole_installation(session: AsyncSession, installation_id: str) -> CreditBudget | None:
    return await session.get(CreditBudget, (installation_id, WHOLE_INSTALLATION))


async def limiting(session: AsyncSession, installation_id: str, project_id: str) -> Sequence[CreditBudget]:
    """The budgets with a limit that a reservation of `project_id` counts against."""
    return (
        (
            await session.execute(
                select(CreditBudget).where(
                    CreditBudget.installation_id == installation_id,
                    CreditBudget.project_id.in_({WHOLE_INSTALLATION, project_id}),
                    CreditBudget.monthly_credits.is_not(None),
                )
            )
        )
        .scalars()
        .all()
    )


async def replace(session: AsyncSession, installation_id: str, budgets: list[CreditBudget]) -> None:
    await session.execute(delete(CreditBudget).where(CreditBudget.installation_id == installation_id))
    session.add_all(budgets)
    await session.flush()


async def spent(
    session: AsyncSession, installation_id: str, project_id: str, *, since: datetime, until: datetime
) -> int:
    """Credits charged by settlements in [since, until): a usage row is written by each settlement
    that charges (a run that succeeded, a run cancelled after the model was called, a ticket draft)."""
    conditions = [
        UsageItem.installation_id == installation_id,
        UsageItem.created_at >= since,
        UsageItem.created_at < until,
    ]
    if project_id != WHOLE_INSTALLATION:
        conditions.append(UsageItem.project_id == project_id)
    return int(
        await session.scalar(select(func.coalesce(func.sum(UsageItem.credits), 0)).where(*conditions)) or 0
    )


async def reserved(session: AsyncSession, installation_id: str, project_id: str) -> int:
    """Credits held by reservations not settled or released yet (the partial index's rows only)."""
    conditions = [
        CreditLedgerEntry.installation_id == installation_id,
        CreditLedgerEntry.kind == RESERVE,
        CreditLedgerEntry.closed_at.is_(None),
    ]
    if project_id != WHOLE_INSTALLATION:
        conditions.append(CreditLedgerEntry.project_id == project_id)
    total = await session.scalar(
        select(func.coalesce(func.sum(-CreditLedgerEntry.delta), 0)).where(*conditions)
    )
    return int(total or 0)


async def alerts_in(session: AsyncSession, installation_id: str, month: str) -> Sequence[BudgetAlert]:
    return (
        (
            await session.execute(
                select(BudgetAlert)
                .where(BudgetAlert.installation_id == installation_id, BudgetAlert.month == month)
                .order_by(BudgetAlert.project_id, BudgetAlert.threshold)
            )
        )
        .scalars()
        .all()
    )


async def add_alert(session: AsyncSession, alert: BudgetAlert) -> bool:
    """Whether this call recorded the crossing: the first settlement past a threshold does."""
    result = await session.execute(
        dialect_insert(session, BudgetAlert)
        .values(
            installation_id=alert.installation_id,
            project_id=alert.project_id,
            month=alert.month,
            threshold=alert.threshold,
            monthly_credits=alert.monthly_credits,
            spent=alert.spent,
            crossed_at=alert.crossed_at,
        )
        .on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))
