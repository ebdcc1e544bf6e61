"""One-time launch codes: what the browser and the vscode:// URL carry instead of a permit.

The exchange is one conditional UPDATE that also records the jti of the permit it is about to
mint, so a later replay of the same code can revoke that permit (RFC 6749 §4.1.2: a reused code
means the code leaked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import keep_writes
from seecodes.errors import LaunchCodeExpired, LaunchCodeMismatch, LaunchCodeRejected, LaunchCodeReplayed
from seecodes.kit.clock import Clock, to_epoch
from seecodes.kit.secrets import hash_secret, new_secret
from seecodes.models import LaunchCode
from seecodes.security.permits import new_jti, revoke_permits

LAUNCH_CODE_PREFIX = "sc_launch_"
LAUNCH_CODE_PATTERN = r"^sc_launch_[A-Za-z0-9_-]{20,100}$"


@dataclass(frozen=True, slots=True)
class MintedLaunchCode:
    code: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class ConsumedLaunchCode:
    installation_id: str
    project_id: str
    task_id: str
    user_account_id: str
    permit_jti: str


async def mint_launch_code(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    project_id: str,
    task_id: str,
    user_account_id: str,
    lifetime: timedelta,
) -> MintedLaunchCode:
    code = new_secret(LAUNCH_CODE_PREFIX)
    now = clock.utcnow()
    row = LaunchCode(
        code_hash=hash_secret(code),
        installation_id=installation_id,
        project_id=project_id,
        task_id=task_id,
        user_account_id=user_account_id,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    await session.flush()
    return MintedLaunchCode(code=code, expires_at=to_epoch(row.expires_at))


async def consume_launch_code(
    session: AsyncSession, clock: Clock, *, code: str, project_id: str, task_id: str
) -> ConsumedLaunchCode:
    code_hash = hash_secret(code)
    now = clock.utcnow()
    permit_jti = new_jti()
    won = (
        await session.execute(
            update(LaunchCode)
            .where(
                LaunchCode.code_hash == code_hash,
                LaunchCode.consumed_at.is_(None),
                LaunchCode.expires_at > now,
                LaunchCode.project_id == project_id,
                LaunchCode.task_id == task_id,
            )
            .values(consumed_at=now, permit_jti=permit_jti)
            .returning(LaunchCode.installation_id, LaunchCode.user_account_id)
        )
    ).one_or_none()
    if won is not None:
        return ConsumedLaunchCode(won.installation_id, project_id, task_id, won.user_account_id, permit_jti)

    stored = (
        await session.execute(select(LaunchCode).where(LaunchCode.code_hash == code_hash))
    ).scalar_one_or_none()
    if stored is None:
        raise LaunchCodeRejected()
    if stored.consumed_at is not None:
        if stored.permit_jti:
            await revoke_permits(session, clock, jti=stored.permit_jti, reason="launch code replayed")
            keep_writes(session)  # the revocation stands although the exchange fails
        raise LaunchCodeReplayed()
    if stored.expires_at <= now:
        raise LaunchCodeExpired()
    # A code presented for another task is refused but stays usable for its own task: the ids are
    # not secret, and burning the code here would let anyone who guesses a wrong id spoil it.
    raise LaunchCodeMismatch()
