"""Queries on installations and their credit ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import Statement, dialect_insert
from seecodes.models import CreditLedgerEntry, Installation, JiraRequestKey
from seecodes.models.installation import InstallationStatus

# Every Jira App request reads its installation: a select built once, not `session.get`'s per call.
_BY_ID = Statement(
    lambda _dialect: select(Installation).where(Installation.id == bindparam("id", type_=String))
)


async def get(session: AsyncSession, installation_id: str) -> Installation | None:
    found: Installation | None = (await _BY_ID.load(session, id=installation_id)).scalar_one_or_none()
    return found


async def insert_if_absent(session: AsyncSession, values: dict[str, Any]) -> None:
    """Two first requests of a new installation race; both must end with one row and no error."""
    await session.execute(
        dialect_insert(session, Installation).values(**values).on_conflict_do_nothing(index_elements=["id"])
    )


async def newest_for_cloud(session: AsyncSession, cloud_id: str) -> Installation | None:
    return (
        await session.execute(
            select(Installation)
            .where(Installation.cloud_id == cloud_id, Installation.status == InstallationStatus.ACTIVE.value)
            .order_by(Installation.updated_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def by_instance_key_hash(session: AsyncSession, cloud_id: str, key_hash: str) -> Installation | None:
    return (
        await session.execute(
            select(Installation).where(
                Installation.instance_key_hash == key_hash, Installation.cloud_id == cloud_id
            )
        )
    ).scalar_one_or_none()


_BALANCE = Statement(
    lambda _dialect: select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
        CreditLedgerEntry.installation_id == bindparam("installation_id")
    )
)


async def lock(session: AsyncSession, installation_id: str) -> None:
    """Hold the installation's row until the transaction ends: every credit check takes it first, so
    checks in different processes run one after another (SQLite: BEGIN IMMEDIATE serialises anyway)."""
    await session.execute(select(Installation.id).where(Installation.id == installation_id).with_for_update())


async def credit_balance(session: AsyncSession, installation_id: str) -> int:
    total = (await _BALANCE.execute(session, installation_id=installation_id)).scalar()
    return int(total or 0)


def _overview() -> Select[Any]:
    balance = (
        select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0))
        .where(CreditLedgerEntry.installation_id == Installation.id)
        .scalar_subquery()
    )
    # The newest request key issued to the installation: when its Jira App last called.
    last_seen = (
        select(func.max(JiraRequestKey.issued_at))
        .where(JiraRequestKey.installation_id == Installation.id)
        .scalar_subquery()
    )
    return select(Installation, balance.label("balance"), last_seen.label("last_seen")).order_by(
        Installation.created_at, Installation.id
    )


async def overview(
    session: AsyncSession, installation_id: str | None = None
) -> list[tuple[Installation, int, datetime | None]]:
    """Every installation (or one) with its balance and when its Jira App was last seen."""
    statement = _overview()
    if installation_id is not None:
        statement = statement.where(Installation.id == installation_id)
    rows = await session.execute(statement)
    return [(installation, int(balance), last_seen) for installation, balance, last_seen in rows.all()]
