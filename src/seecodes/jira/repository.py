"""Queries of the Jira connector. Every query on installation-owned rows goes through `_of`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, String, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.sql import Statement, dialect_insert, insert_for
from seecodes.models import (
    ExecutionTicket,
    JiraConnection,
    JiraForgeToken,
    JiraIssueSync,
    JiraOAuthState,
)
from seecodes.models.jira import ConnectionState

_Owned = type[JiraConnection] | type[JiraForgeToken] | type[JiraIssueSync] | type[ExecutionTicket]


def _of(model: _Owned, installation_id: str | BindParameter[str]) -> Any:
    """The tenancy scope: rows of this installation only (a prebuilt statement passes the parameter)."""
    return model.installation_id == installation_id


# -- OAuth states -------------------------------------------------------------------------------
async def add_state(session: AsyncSession, state: JiraOAuthState) -> None:
    session.add(state)
    await session.flush()


async def take_state(session: AsyncSession, state_hash: str) -> tuple[str, str, datetime] | None:
    """Delete and return (installation, actor, expires_at): one statement, so exactly one caller wins."""
    taken = (
        await session.execute(
            delete(JiraOAuthState)
            .where(JiraOAuthState.state_hash == state_hash)
            .returning(JiraOAuthState.installation_id, JiraOAuthState.actor, JiraOAuthState.expires_at)
        )
    ).first()
    return (taken[0], taken[1], taken[2]) if taken is not None else None


async def delete_expired_states(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(JiraOAuthState).where(JiraOAuthState.expires_at <= now))


# -- connections --------------------------------------------------------------------------------
async def live_connection(session: AsyncSession, installation_id: str) -> JiraConnection | None:
    return (
        await session.execute(
            select(JiraConnection).where(
                _of(JiraConnection, installation_id),
                JiraConnection.status != ConnectionState.DISCONNECTED.value,
            )
        )
    ).scalar_one_or_none()


async def newest_connection(session: AsyncSession, installation_id: str) -> JiraConnection | None:
    return (
        await session.execute(
            select(JiraConnection)
            .where(_of(JiraConnection, installation_id))
            .order_by(JiraConnection.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def require_reauthorization(
    session: AsyncSession, installation_id: str, connection_id: int, reason: str, now: datetime
) -> None:
    connection = await session.get(JiraConnection, connection_id, populate_existing=True)
    if connection is not None and connection.installation_id == installation_id:
        connection.require_reauthorization(reason, now)


async def lock_connection(
    session: AsyncSession, installation_id: str, connection_id: int
) -> JiraConnection | None:
    """SELECT … FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the write lock
    (BEGIN IMMEDIATE), which serialises every writer the same way."""
    return (
        await session.execute(
            select(JiraConnection)
            .where(_of(JiraConnection, installation_id), JiraConnection.id == connection_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def add_connection(session: AsyncSession, connection: JiraConnection) -> None:
    session.add(connection)
    await session.flush()


async def connections(session: AsyncSession) -> list[JiraConnection]:
    """Every connection holding a token (for key rotation)."""
    return list(
        (
            await session.execute(
                select(JiraConnection).where(
                    or_(
                        JiraConnection.access_token_encrypted.is_not(None),
                        JiraConnection.refresh_token_encrypted.is_not(None),
                    )
                )
            )
        ).scalars()
    )


# -- Forge system tokens ------------------------------------------------------------------------
async def forge_token(session: AsyncSession, installation_id: str) -> JiraForgeToken | None:
    return (
        await session.execute(select(JiraForgeToken).where(_of(JiraForgeToken, installation_id)))
    ).scalar_one_or_none()


async def save_forge_token(session: AsyncSession, values: dict[str, Any]) -> None:
    """Upsert; a token older than the stored one (a delayed request) does not replace it."""
    insert = dialect_insert(session, JiraForgeToken).values(**values)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["installation_id"],
            set_={
                "cloud_id": insert.excluded.cloud_id,
                "token_encrypted": insert.excluded.token_encrypted,
                "expires_at": insert.excluded.expires_at,
                "received_at": insert.excluded.received_at,
            },
            where=JiraForgeToken.expires_at <= insert.excluded.expires_at,
        )
    )


async def forge_tokens(session: AsyncSession) -> list[JiraForgeToken]:
    return list((await session.execute(select(JiraForgeToken))).scalars())


# Asked after every progress POST: one statement, built once.
_HAS_WRITE_ACCESS = Statement(
    lambda _dialect: select(
        or_(
            exists().where(
                _of(JiraConnection, bindparam("installation_id", type_=String)),
                JiraConnection.status == ConnectionState.ACTIVE.value,
                JiraConnection.reauthorization_required_at.is_(None),
            ),
            exists().where(
                _of(JiraForgeToken, bindparam("installation_id", type_=String)),
                JiraForgeToken.expires_at > bindparam("now", type_=JiraForgeToken.expires_at.type),
            ),
        )
    )
)


async def has_write_access(session: AsyncSession, installation_id: str, now: datetime) -> bool:
    """An active OAuth connection that needs no reauthorization, or an unexpired Forge app token."""
    return bool((await _HAS_WRITE_ACCESS.execute(session, installation_id=installation_id, now=now)).scalar())


# -- progress write-back ------------------------------------------------------------------------
async def request_sync(
    session: AsyncSession,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    report_id: int,
    now: datetime,
) -> None:
    """Record that `report_id` should reach Jira; a late request for an older report changes nothing."""
    await _REQUEST_SYNC.execute(
        session,
        installation_id=installation_id,
        project_id=project_id,
        task_id=task_id,
        requested_report_id=report_id,
        requested_at=now,
        writes=0,
    )


def _request_sync(dialect: str) -> Any:
    insert = insert_for(dialect, JiraIssueSync)
    return insert.on_conflict_do_update(
        index_elements=["installation_id", "project_id", "task_id"],
        set_={
            "requested_report_id": insert.excluded.requested_report_id,
            "requested_at": insert.excluded.requested_at,
        },
        where=JiraIssueSync.requested_report_id < insert.excluded.requested_report_id,
    )


_REQUEST_SYNC = Statement(_request_sync)


async def issue_sync(
    session: AsyncSession, *, installation_id: str, project_id: str, task_id: str
) -> JiraIssueSync | None:
    return (
        await session.execute(
            select(JiraIssueSync)
            .where(
                _of(JiraIssueSync, installation_id),
                JiraIssueSync.project_id == project_id,
                JiraIssueSync.task_id == task_id,
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


# A write-back is pending while its newest requested report is neither written nor given up on
# (`JiraIssueSync.state`, as SQL).
_PENDING = (
    JiraIssueSync.requested_report_id > func.coalesce(JiraIssueSync.synced_report_id, 0),
    JiraIssueSync.requested_report_id > func.coalesce(JiraIssueSync.failed_report_id, 0),
)


async def writeback_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """Pending write-backs across every installation (an operator's gauge), and the oldest request.
    One row per task ever written back, so the scan is bounded by tasks, not by progress posts."""
    row = (
        await session.execute(select(func.count(), func.min(JiraIssueSync.requested_at)).where(*_PENDING))
    ).one()
    return int(row[0]), row[1]


async def stale_syncs(
    session: AsyncSession, *, requested_before: datetime, limit: int
) -> list[JiraIssueSync]:
    """Pending write-backs whose job never ran (an enqueue that failed, a process that died)."""
    return list(
        (
            await session.execute(
                select(JiraIssueSync)
                .where(*_PENDING, JiraIssueSync.requested_at < requested_before)
                .order_by(JiraIssueSync.requested_at)
                .limit(limit)
            )
        ).scalars()
    )


# -- execution tickets --------------------------------------------------------------------------
async def add_tickets(session: AsyncSession, tickets: list[ExecutionTicket]) -> None:
    session.add_all(tickets)
    await session.flush()


async def tickets_by_id(session: AsyncSession, installation_id: str, ids: list[str]) -> list[ExecutionTicket]:
    rows = (
        await session.execute(
            select(ExecutionTicket)
            .where(_of(ExecutionTicket, installation_id), ExecutionTicket.id.in_(ids))
            .execution_options(populate_existing=True)
        )
    ).scalars()
    by_id = {row.id: row for row in rows}
    return [by_id[ticket_id] for ticket_id in ids if ticket_id in by_id]


async def tickets_of(
    session: AsyncSession, installation_id: str, *, batch_id: str | None, pushed_only: bool, limit: int
) -> list[ExecutionTicket]:
    query = select(ExecutionTicket).where(_of(ExecutionTicket, installation_id))
    if batch_id is not None:
        query = query.where(ExecutionTicket.batch_id == batch_id)
    if pushed_only:
        query = query.where(ExecutionTicket.jira_issue_id.is_not(None))
    query = query.order_by(ExecutionTicket.created_at.desc(), ExecutionTicket.position).limit(limit)
    return list((await session.execute(query)).scalars())


async def claim_for_push(
    session: AsyncSession, installation_id: str, ticket_id: str, *, now: datetime, stale_before: datetime
) -> bool:
    """One pusher per ticket: an unpushed ticket with no live claim is claimed, atomically."""
    claimed = await session.execute(
        update(ExecutionTicket)
        .where(
            _of(ExecutionTicket, installation_id),
            ExecutionTicket.id == ticket_id,
            ExecutionTicket.jira_issue_id.is_(None),
            or_(ExecutionTicket.push_claimed_at.is_(None), ExecutionTicket.push_claimed_at < stale_before),
        )
        .values(push_claimed_at=now)
        .returning(ExecutionTicket.id)
    )
    return claimed.first() is not None


async def release_claim(session: AsyncSession, installation_id: str, ticket_id: str) -> None:
    await session.execute(
        update(ExecutionTicket)
        .where(_of(ExecutionTicket, installation_id), ExecutionTicket.id == ticket_id)
        .values(push_claimed_at=None)
    )
