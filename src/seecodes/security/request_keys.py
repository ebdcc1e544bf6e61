"""Single-use Jira request keys in rotation chains.

Each key is bound to installation + principal + chain, and lives 5 minutes (a setting). Consuming
a key is one conditional UPDATE, so under any number of concurrent presentations exactly one wins.
A key presented after it was consumed, or under another installation or principal, is treated as
stolen: the whole chain is revoked (and the revocation kept although the request fails, see
`db.keep_writes`), and the Jira App must bootstrap a new chain with a fresh FIT.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import keep_writes
from seecodes.errors import RequestKeyExpired, RequestKeyMismatch, RequestKeyRejected, RequestKeyReplayed
from seecodes.kit.clock import Clock, from_epoch
from seecodes.kit.secrets import hash_secret, new_secret
from seecodes.kit.sql import Statement
from seecodes.models import JiraRequestKey

REQUEST_KEY_PREFIX = "sc_jira_req_"
MAX_PRESENTED_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class IssuedRequestKey:
    key: str
    expires_at: int


async def start_chain(
    session: AsyncSession, clock: Clock, *, installation_id: str, principal: str, ttl_seconds: int
) -> IssuedRequestKey:
    return await _issue(session, clock, secrets.token_hex(16), installation_id, principal, ttl_seconds)


# The one conditional write that makes a key single use, under any number of processes.
_CONSUME = Statement(
    lambda _dialect: (
        update(JiraRequestKey)
        .where(
            # Parameter names differ from the columns': an UPDATE reserves those for its SET clause.
            JiraRequestKey.key_hash == bindparam("presented_hash"),
            JiraRequestKey.installation_id == bindparam("for_installation"),
            JiraRequestKey.principal == bindparam("for_principal"),
            JiraRequestKey.consumed_at.is_(None),
            JiraRequestKey.revoked_at.is_(None),
            JiraRequestKey.expires_at > bindparam("now", type_=JiraRequestKey.expires_at.type),
        )
        .values(consumed_at=bindparam("now", type_=JiraRequestKey.consumed_at.type))
        .returning(JiraRequestKey.chain_id)
    )
)
_ISSUE = Statement(lambda _dialect: insert(JiraRequestKey))


async def consume_and_rotate(
    session: AsyncSession,
    clock: Clock,
    *,
    presented: str,
    installation_id: str,
    principal: str,
    ttl_seconds: int,
) -> IssuedRequestKey:
    """Spend `presented` and return its successor in the same chain, or raise why not."""
    if not presented.startswith(REQUEST_KEY_PREFIX) or len(presented) > MAX_PRESENTED_KEY_LENGTH:
        raise RequestKeyRejected()
    key_hash = hash_secret(presented)
    consumed_chain = (
        await _CONSUME.execute(
            session,
            presented_hash=key_hash,
            for_installation=installation_id,
            for_principal=principal,
            now=clock.utcnow(),
        )
    ).scalar_one_or_none()
    if consumed_chain is not None:
        return await _issue(session, clock, consumed_chain, installation_id, principal, ttl_seconds)
    raise await _refusal(session, clock, key_hash, installation_id, principal)


async def _refusal(
    session: AsyncSession, clock: Clock, key_hash: str, installation_id: str, principal: str
) -> RequestKeyRejected:
    key = (
        await session.execute(select(JiraRequestKey).where(JiraRequestKey.key_hash == key_hash))
    ).scalar_one_or_none()
    if key is None:
        return RequestKeyRejected()
    if key.installation_id != installation_id or key.principal != principal:
        await _revoke_stolen_chain(session, clock, key.chain_id)
        return RequestKeyMismatch()
    if key.consumed_at is not None or key.revoked_at is not None:
        await _revoke_stolen_chain(session, clock, key.chain_id)
        return RequestKeyReplayed()
    return RequestKeyExpired()


async def _revoke_stolen_chain(session: AsyncSession, clock: Clock, chain_id: str) -> None:
    await revoke_chain(session, clock, chain_id)
    keep_writes(session)


async def revoke_chain(session: AsyncSession, clock: Clock, chain_id: str) -> None:
    await session.execute(
        update(JiraRequestKey)
        .where(JiraRequestKey.chain_id == chain_id, JiraRequestKey.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
    )


async def _issue(
    session: AsyncSession, clock: Clock, chain_id: str, installation_id: str, principal: str, ttl_seconds: int
) -> IssuedRequestKey:
    key = new_secret(REQUEST_KEY_PREFIX)
    issued_at = clock.now_int()
    await _ISSUE.execute(
        session,
        key_hash=hash_secret(key),
        chain_id=chain_id,
        installation_id=installation_id,
        principal=principal,
        issued_at=from_epoch(issued_at),
        expires_at=from_epoch(issued_at + ttl_seconds),
    )
    return IssuedRequestKey(key=key, expires_at=issued_at + ttl_seconds)
