"""Task permits: our own JWTs, bound to one installation + project + task + user.

A permit is HS256-signed with the server secret (current key first; previous keys still verify
until their permits expire), with `typ`, `iss` and `aud` that nothing else we sign or accept uses,
so a FIT or another token type can never pass as a permit. Every use also checks the `jti` row:
revocation and installation status take effect immediately, not after 24 h.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import InvalidPermit, PermitScopeMismatch
from seecodes.kit.clock import Clock, from_epoch
from seecodes.kit.sql import Statement
from seecodes.kit.verified import VerifiedTokens
from seecodes.models import Installation, TaskPermit
from seecodes.models.installation import InstallationStatus

PERMIT_TYPE = "sc-permit+jwt"
PERMIT_ISSUER = "seecodes"
PERMIT_AUDIENCE = "seecodes:task-permit"
PERMIT_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class PermitScope:
    """What a verified, unrevoked permit allows: exactly one task of one installation."""

    jti: str
    installation_id: str
    cloud_id: str | None
    project_id: str
    task_id: str
    user_account_id: str

    def require_task(self, task_id: str, project_id: str | None = None) -> None:
        if task_id != self.task_id or (project_id is not None and project_id != self.project_id):
            raise PermitScopeMismatch()

    def require_project(self, project_id: str) -> None:
        if project_id != self.project_id:
            raise PermitScopeMismatch()


@dataclass(frozen=True, slots=True)
class IssuedPermit:
    token: str
    jti: str
    expires_at: int


class PermitCodec:
    def __init__(self, secrets_newest_first: list[bytes], clock: Clock) -> None:
        self._keys = {_key_id(secret): secret for secret in secrets_newest_first}
        self._current_kid = _key_id(secrets_newest_first[0])
        self._clock = clock
        self._verified: VerifiedTokens[PermitScope] = VerifiedTokens()

    def encode(self, scope: PermitScope, *, issued_at: int, expires_at: int) -> str:
        claims = {
            "iss": PERMIT_ISSUER,
            "aud": PERMIT_AUDIENCE,
            "sub": scope.user_account_id,
            "jti": scope.jti,
            "iat": issued_at,
            "exp": expires_at,
            "inst": scope.installation_id,
            "cid": scope.cloud_id,
            "pid": scope.project_id,
            "tid": scope.task_id,
        }
        headers = {"kid": self._current_kid, "typ": PERMIT_TYPE}
        return jwt.encode(claims, self._keys[self._current_kid], algorithm=PERMIT_ALGORITHM, headers=headers)

    def decode(self, token: str) -> PermitScope:
        """The scope a valid permit grants; whether it is revoked is the jti row's to say."""
        now = self._clock.now()
        scope = self._verified.get(token, now)
        if scope is None:
            scope, expires_at = self._decode(token, now)
            self._verified.keep(token, scope, expires_at)
        return scope

    def _decode(self, token: str, now: float) -> tuple[PermitScope, int]:
        try:
            header = jwt.get_unverified_header(token)
            secret = self._keys.get(str(header.get("kid")))
            if header.get("typ") != PERMIT_TYPE or header.get("alg") != PERMIT_ALGORITHM or secret is None:
                raise InvalidPermit()
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[PERMIT_ALGORITHM],
                audience=PERMIT_AUDIENCE,
                issuer=PERMIT_ISSUER,
                options={"require": ["exp", "iat", "jti", "sub"], "strict_aud": True, "verify_exp": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidPermit() from error
        expires_at = int(claims["exp"])
        if expires_at <= now:
            raise InvalidPermit("The task permit has expired; open the task from Jira again.")
        scope = PermitScope(
            jti=str(claims["jti"]),
            installation_id=str(claims["inst"]),
            cloud_id=claims.get("cid"),
            project_id=str(claims["pid"]),
            task_id=str(claims["tid"]),
            user_account_id=str(claims["sub"]),
        )
        return scope, expires_at


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"seecodes-permit-kid:" + secret).hexdigest()[:16]


def new_jti() -> str:
    return secrets.token_urlsafe(24)


async def issue_permit(
    session: AsyncSession,
    codec: PermitCodec,
    clock: Clock,
    *,
    installation: Installation,
    project_id: str,
    task_id: str,
    user_account_id: str,
    source: str,
    ttl_seconds: int,
    jti: str | None = None,
) -> IssuedPermit:
    issued_at = clock.now_int()
    expires_at = issued_at + ttl_seconds
    scope = PermitScope(
        jti=jti or new_jti(),
        installation_id=installation.id,
        cloud_id=installation.cloud_id,
        project_id=project_id,
        task_id=task_id,
        user_account_id=user_account_id,
    )
    session.add(
        TaskPermit(
            jti=scope.jti,
            installation_id=installation.id,
            project_id=project_id,
            task_id=task_id,
            user_account_id=user_account_id,
            source=source,
            issued_at=from_epoch(issued_at),
            expires_at=from_epoch(expires_at),
        )
    )
    await session.flush()
    token = codec.encode(scope, issued_at=issued_at, expires_at=expires_at)
    return IssuedPermit(token=token, jti=scope.jti, expires_at=expires_at)


# The row it was minted with binds every claim: a signature alone (a leaked secret) grants
# nothing beyond the project, task and user its jti row names.
_PERMIT_ROW = Statement(
    lambda _dialect: (
        select(TaskPermit.revoked_at, Installation.status)
        .join(Installation, Installation.id == TaskPermit.installation_id)
        .where(
            TaskPermit.jti == bindparam("jti"),
            TaskPermit.installation_id == bindparam("installation_id"),
            TaskPermit.project_id == bindparam("project_id"),
            TaskPermit.task_id == bindparam("task_id"),
            TaskPermit.user_account_id == bindparam("user_account_id"),
        )
    )
)


async def authenticate_permit(session: AsyncSession, codec: PermitCodec, token: str) -> PermitScope:
    scope = codec.decode(token)
    row = (
        await _PERMIT_ROW.execute(
            session,
            jti=scope.jti,
            installation_id=scope.installation_id,
            project_id=scope.project_id,
            task_id=scope.task_id,
            user_account_id=scope.user_account_id,
        )
    ).one_or_none()
    if row is None:
        raise InvalidPermit()
    if row.revoked_at is not None:
        raise InvalidPermit("The task permit has been revoked.")
    if row.status != InstallationStatus.ACTIVE:
        raise InvalidPermit("The installation this permit belongs to is not active.")
    return scope


async def revoke_permits(
    session: AsyncSession,
    clock: Clock,
    *,
    reason: str,
    jti: str | None = None,
    task: tuple[str, str, str] | None = None,
) -> int:
    """Revoke one permit by jti, or every live permit of (installation, project, task)."""
    statement = update(TaskPermit).where(TaskPermit.revoked_at.is_(None))
    if jti is not None:
        statement = statement.where(TaskPermit.jti == jti)
    elif task is not None:
        installation_id, project_id, task_id = task
        statement = statement.where(
            TaskPermit.installation_id == installation_id,
            TaskPermit.project_id == project_id,
            TaskPermit.task_id == task_id,
        )
    else:
        raise ValueError("revoke_permits needs a jti or a task")
    result = await session.execute(statement.values(revoked_at=clock.utcnow(), revoked_reason=reason[:200]))
    return int(getattr(result, "rowcount", 0) or 0)
