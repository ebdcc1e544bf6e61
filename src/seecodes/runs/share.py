"""Read-only share links to one run (issue 15 §4).

A link is a random secret in the URL, kept only as its hash, bound to one run of one installation.
It opens that run's status, output and log and nothing else: an unknown, expired or revoked token
and a token presented for another run are all the same 404, so a link says nothing about what else
exists. The IDE that holds a permit for the run's task mints and revokes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import RunNotStarted, ShareLinkNotFound
from seecodes.kit.clock import Clock
from seecodes.kit.secrets import hash_secret, new_secret
from seecodes.models import Run, ShareLink
from seecodes.models.run import RunStatus
from seecodes.runs import repository
from seecodes.runs.service import get_run
from seecodes.security.permits import PermitScope

SHARE_TOKEN_PREFIX = "sc_share_"  # noqa: S105 (a type prefix, not a secret)
SHARE_PATH = "/v1/share/"


@dataclass(frozen=True, slots=True)
class MintedLink:
    token: str  # shown once, in the URL
    expires_at: datetime


async def mint(
    session: AsyncSession, clock: Clock, scope: PermitScope, run_id: str, *, ttl_hours: float
) -> MintedLink:
    run = await get_run(session, scope, run_id)
    if run.status == RunStatus.INITIALIZED:
        raise RunNotStarted("A run that was never started has nothing to show yet.")
    token = new_secret(SHARE_TOKEN_PREFIX)
    now = clock.utcnow()
    link = ShareLink(
        token_hash=hash_secret(token),
        installation_id=run.installation_id,
        run_id=run.id,
        created_by=scope.user_account_id,
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    session.add(link)
    await session.flush()
    return MintedLink(token=token, expires_at=link.expires_at)


async def revoke(session: AsyncSession, clock: Clock, scope: PermitScope, run_id: str) -> int:
    """Every live link of the run stops opening it; how many there were."""
    run = await get_run(session, scope, run_id)
    result = await session.execute(
        update(ShareLink)
        .where(ShareLink.run_id == run.id, ShareLink.installation_id == run.installation_id)
        .where(ShareLink.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def shared_run(session: AsyncSession, clock: Clock, token: str) -> Run:
    """The run a live token opens, or ShareLinkNotFound."""
    if not token.startswith(SHARE_TOKEN_PREFIX) or len(token) > 100:
        raise ShareLinkNotFound()
    link = (
        await session.execute(select(ShareLink).where(ShareLink.token_hash == hash_secret(token)))
    ).scalar_one_or_none()
    if link is None or link.revoked_at is not None or link.expires_at <= clock.utcnow():
        raise ShareLinkNotFound()
    run = await repository.get_of_installation(session, link.installation_id, link.run_id)
    if run is None:
        raise ShareLinkNotFound()
    return run
