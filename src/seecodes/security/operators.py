"""Operator tokens (`sc_admin_…`): issued by the CLI, shown once, stored hashed, revocable.

The dependencies that accept them (alone, or the Jira App's FIT + request key instead) are in
`deps.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import InvalidOperatorToken
from seecodes.kit.clock import Clock
from seecodes.kit.secrets import display_prefix, hash_secret, new_secret
from seecodes.models import OperatorToken

OPERATOR_TOKEN_PREFIX = "sc_admin_"  # noqa: S105 - a prefix, not a secret
# Longer than any bearer credential we issue or accept (FITs included).
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class IssuedOperatorToken:
    id: int
    name: str
    token: str = field(repr=False)
    display_prefix: str


async def create_operator_token(session: AsyncSession, clock: Clock, *, name: str) -> IssuedOperatorToken:
    """The token is returned once; only its hash is stored."""
    token = new_secret(OPERATOR_TOKEN_PREFIX)
    row = OperatorToken(
        name=name[:100],
        token_hash=hash_secret(token),
        display_prefix=display_prefix(token, OPERATOR_TOKEN_PREFIX),
        created_at=clock.utcnow(),
    )
    session.add(row)
    await session.flush()
    return IssuedOperatorToken(row.id, row.name, token, row.display_prefix)


async def revoke_operator_token(session: AsyncSession, clock: Clock, token_id: int) -> bool:
    revoked = await session.execute(
        update(OperatorToken)
        .where(OperatorToken.id == token_id, OperatorToken.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
        .returning(OperatorToken.id)
    )
    return revoked.first() is not None


async def list_operator_tokens(session: AsyncSession, *, include_revoked: bool) -> list[OperatorToken]:
    query = select(OperatorToken).order_by(OperatorToken.id)
    if not include_revoked:
        query = query.where(OperatorToken.revoked_at.is_(None))
    return list((await session.execute(query)).scalars())


async def authenticate_operator(session: AsyncSession, clock: Clock, presented: str) -> OperatorToken:
    """Lookup by hash (the hash of a 256-bit secret: equality on it is not a timing oracle)."""
    if not presented.startswith(OPERATOR_TOKEN_PREFIX) or len(presented) > MAX_TOKEN_LENGTH:
        raise InvalidOperatorToken()
    token = (
        await session.execute(select(OperatorToken).where(OperatorToken.token_hash == hash_secret(presented)))
    ).scalar_one_or_none()
    if token is None or not token.is_active:
        raise InvalidOperatorToken()
    token.last_used_at = clock.utcnow()
    await session.flush()
    return token
