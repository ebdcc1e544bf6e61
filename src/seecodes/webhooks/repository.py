"""Queries on webhook endpoints and deliveries. Tenancy: `_of_installation` is the one scoping helper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Select, String, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import Statement
from seecodes.models import WebhookDelivery, WebhookEndpoint
from seecodes.models.webhooks import DeliveryStatus


def _of_installation(statement: Select[Any], installation_id: str | BindParameter[str]) -> Select[Any]:
    return statement.where(WebhookEndpoint.installation_id == installation_id)


# Every event of an installation asks this (a run moving, a progress report saved): built once.
_SUBSCRIBED = Statement(
    lambda _dialect: _of_installation(
        select(WebhookEndpoint.id, WebhookEndpoint.events), bindparam("installation_id", type_=String)
    ).where(WebhookEndpoint.enabled.is_(True))
)


async def subscribed(session: AsyncSession, installation_id: str) -> list[tuple[str, list[Any]]]:
    """The installation's enabled endpoints with the events each takes."""
    rows = await _SUBSCRIBED.execute(session, installation_id=installation_id)
    found: list[tuple[str, list[Any]]] = [(row.id, list(row.events)) for row in rows.all()]
    return found


async def endpoints(session: AsyncSession, installation_id: str) -> Sequence[WebhookEndpoint]:
    statement = _of_installation(select(WebhookEndpoint), installation_id)
    found: Sequence[WebhookEndpoint] = (
        (await session.execute(statement.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)))
        .scalars()
        .all()
    )
    return found


async def count(session: AsyncSession, installation_id: str) -> int:
    statement = _of_installation(select(func.count()).select_from(WebhookEndpoint), installation_id)
    return int((await session.execute(statement)).scalar_one())


async def endpoint(
    session: AsyncSession, installation_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    statement = _of_installation(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id), installation_id
    )
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    found: WebhookEndpoint | None = (await session.execute(statement)).scalar_one_or_none()
    return found


async def remove(session: AsyncSession, installation_id: str, endpoint_id: str) -> bool:
    result = await session.execute(
        delete(WebhookEndpoint).where(
            WebhookEndpoint.installation_id == installation_id, WebhookEndpoint.id == endpoint_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def delivery_with_endpoint(
    session: AsyncSession, delivery_id: str
) -> tuple[WebhookDelivery, WebhookEndpoint] | None:
    """For the delivery workflow, which has only the delivery's id (its installation is the row's)."""
    row = (
        await session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def record_attempt(session: AsyncSession, delivery_id: str, **values: Any) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING.value)
        .values(attempts=WebhookDelivery.attempts + 1, **values)
    )


async def fail_pending(session: AsyncSession, delivery_id: str, reason: str, now: datetime) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.FAILED.value, last_error=reason, last_attempt_at=now)
    )


async def endpoint_succeeded(session: AsyncSession, endpoint_id: str, now: datetime) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_failures != 0)
        .values(consecutive_failures=0, updated_at=now)
    )


async def endpoint_failed(session: AsyncSession, endpoint_id: str, now: datetime) -> int | None:
    """One more failure in a row; the new count, None when the endpoint is gone."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1, updated_at=now)
        .returning(WebhookEndpoint.consecutive_failures)
    )
    failures: int | None = result.scalar_one_or_none()
    return failures


async def disable(session: AsyncSession, endpoint_id: str, reason: str, now: datetime) -> bool:
    """True for the one writer that disabled it (a concurrent failure finds it disabled already)."""
    result = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True))
        .values(enabled=False, disabled_reason=reason[:500], updated_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def deliveries(
    session: AsyncSession,
    endpoint_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None,
) -> Sequence[WebhookDelivery]:
    """Newest first; the endpoint was already scoped to its installation by the caller."""
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before is not None:
        at, delivery_id = before
        statement = statement.where(
            (WebhookDelivery.created_at < at)
            | ((WebhookDelivery.created_at == at) & (WebhookDelivery.id < delivery_id))
        )
    statement = statement.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit)
    found: Sequence[WebhookDelivery] = (await session.execute(statement)).scalars().all()
    return found


async def last_deliveries(session: AsyncSession, endpoint_ids: Sequence[str]) -> dict[str, WebhookDelivery]:
    """Each endpoint's newest delivery (for the list's delivery state)."""
    if not endpoint_ids:
        return {}
    newest = (
        select(WebhookDelivery.endpoint_id, func.max(WebhookDelivery.created_at).label("at"))
        .where(WebhookDelivery.endpoint_id.in_(endpoint_ids))
        .group_by(WebhookDelivery.endpoint_id)
        .subquery()
    )
    rows = await session.execute(
        select(WebhookDelivery)
        .join(
            newest,
            (newest.c.endpoint_id == WebhookDelivery.endpoint_id)
            & (newest.c.at == WebhookDelivery.created_at),
        )
        .order_by(WebhookDelivery.id)
    )
    return {delivery.endpoint_id: delivery for delivery in rows.scalars().all()}


async def pending_counts(session: AsyncSession, endpoint_ids: Sequence[str]) -> dict[str, int]:
    if not endpoint_ids:
        return {}
    rows = await session.execute(
        select(WebhookDelivery.endpoint_id, func.count())
        .where(
            WebhookDelivery.endpoint_id.in_(endpoint_ids),
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        )
        .group_by(WebhookDelivery.endpoint_id)
    )
    return {endpoint_id: int(pending) for endpoint_id, pending in rows.all()}


async def stranded(session: AsyncSession, *, due_before: datetime, limit: int) -> Sequence[tuple[str, str]]:
    """Pending deliveries overdue for their next attempt: their workflow may never have been
    enqueued (a process killed right after the commit). (delivery id, endpoint id)."""
    rows = await session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.next_attempt_at < due_before,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return [(delivery_id, endpoint_id) for delivery_id, endpoint_id in rows.all()]


async def delete_settled(session: AsyncSession, *, created_before: datetime, limit: int) -> int:
    """One batch of the retention sweep: settled deliveries older than the window."""
    batch = (
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.created_at < created_before,
            WebhookDelivery.status != DeliveryStatus.PENDING.value,
        )
        .limit(limit)
        .scalar_subquery()
    )
    result = await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(batch)))
    return int(getattr(result, "rowcount", 0))
