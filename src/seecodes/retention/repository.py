"""The retention sweep's statements. Each deletes at most `limit` rows, chosen through an index on
the column its cutoff compares, and returns how many went."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from seecodes.models import (
    EnrollmentToken,
    JiraOAuthState,
    JiraRequestKey,
    LaunchCode,
    TaskPermit,
    TelemetryEvent,
)


async def _delete_chosen(
    session: AsyncSession,
    model: type[Any],
    key: InstrumentedAttribute[Any],
    where: Sequence[ColumnElement[bool]],
    order_by: InstrumentedAttribute[Any],
    limit: int,
) -> int:
    chosen = select(key).where(*where).order_by(order_by).limit(limit)
    result = await session.execute(
        # The predicate again on the rows themselves: what is deleted is what the rule allows even
        # if a concurrent write changed a chosen row in between.
        delete(model).where(key.in_(chosen), *where).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- request keys ----------------------------------------------------------------------------------
async def dead_chain_heads(
    session: AsyncSession, *, expired_before: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, chain) of chains whose newest key expired before `expired_before`, oldest first.

    A chain's newest key is its only unconsumed one (consuming a key issues its successor in the
    same transaction), so once it has expired no key of the chain can ever be used again. The
    installation's newest key is left out, and with it its chain until the installation starts
    another: it says when its Jira App last called (`admin installations`)."""
    head, newer = aliased(JiraRequestKey), aliased(JiraRequestKey)
    # A correlated LIMIT 1: one backward probe of (installation, issued, id) per candidate, which a
    # planner with stale statistics cannot turn into a join over the whole table.
    installations_newest = (
        select(newer.id)
        .where(newer.installation_id == head.installation_id)
        .order_by(newer.issued_at.desc(), newer.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(head.id, head.chain_id)
        .where(head.consumed_at.is_(None), head.expires_at < expired_before, head.id != installations_newest)
        .order_by(head.expires_at)
        .limit(limit)
    )
    return [(key_id, chain_id) for key_id, chain_id in rows.all()]


async def spent_keys_of(session: AsyncSession, chain_ids: Sequence[str], *, limit: int) -> list[int]:
    rows = await session.execute(
        select(JiraRequestKey.id)
        .where(JiraRequestKey.chain_id.in_(chain_ids), JiraRequestKey.consumed_at.is_not(None))
        # In the chain index's order: a LIMIT then never tempts the planner into a scan of the table.
        .order_by(JiraRequestKey.chain_id)
        .limit(limit)
    )
    return list(rows.scalars())


async def delete_request_keys(
    session: AsyncSession, key_ids: Sequence[int], *, expired_before: datetime
) -> int:
    if not key_ids:
        return 0
    result = await session.execute(
        delete(JiraRequestKey)
        .where(JiraRequestKey.id.in_(key_ids), JiraRequestKey.expires_at < expired_before)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# -- the other credentials -------------------------------------------------------------------------
async def delete_launch_codes(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    """Expired codes whose minted permit (if any) has expired too: replaying such a code could only
    revoke a permit that no longer works."""
    permit_alive = exists().where(
        TaskPermit.jti == LaunchCode.permit_jti, TaskPermit.expires_at >= expired_before
    )
    return await _delete_chosen(
        session,
        LaunchCode,
        LaunchCode.id,
        [LaunchCode.expires_at < expired_before, ~permit_alive],
        LaunchCode.expires_at,
        limit,
    )


async def delete_permits(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    return await _delete_chosen(
        session,
        TaskPermit,
        TaskPermit.jti,
        [TaskPermit.expires_at < expired_before],
        TaskPermit.expires_at,
        limit,
    )


async def delete_enrollment_tokens(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    return await _delete_chosen(
        session,
        EnrollmentToken,
        EnrollmentToken.id,
        [EnrollmentToken.expires_at < expired_before],
        EnrollmentToken.expires_at,
        limit,
    )


async def delete_oauth_states(session: AsyncSession, *, expired_before: datetime, limit: int) -> int:
    return await _delete_chosen(
        session,
        JiraOAuthState,
        JiraOAuthState.state_hash,
        [JiraOAuthState.expires_at < expired_before],
        JiraOAuthState.expires_at,
        limit,
    )


# -- telemetry -------------------------------------------------------------------------------------
async def delete_telemetry_events(session: AsyncSession, *, occurred_before: datetime, limit: int) -> int:
    return await _delete_chosen(
        session,
        TelemetryEvent,
        TelemetryEvent.id,
        [TelemetryEvent.occurred_at < occurred_before],
        TelemetryEvent.occurred_at,
        limit,
    )
