"""Operator tokens (`sc_admin_…`) and the dependencies that let operators and the Jira App manage an
installation's connector: an operator for any installation, the Jira App for its own only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.deps import RuntimeDep
from seecodes.errors import InstallationMismatch, InstallationNotFound, InvalidInput, InvalidOperatorToken
from seecodes.installations import repository as installations
from seecodes.jira.tokens import FORGE_SYSTEM_TOKEN_HEADER
from seecodes.kit.clock import Clock
from seecodes.kit.secrets import display_prefix, hash_secret, new_secret
from seecodes.models import OperatorToken
from seecodes.security.deps import MAX_BEARER_LENGTH, RequestKeyHeader, forge_identity, jira_app
from seecodes.security.forge import ForgeIdentity, installation_ari

OPERATOR_TOKEN_PREFIX = "sc_admin_"  # noqa: S105 - a prefix, not a secret

operator_bearer = HTTPBearer(
    scheme_name="OperatorToken",
    description="An operator token (`sc_admin_…`) from `seecodes admin token create`.",
    auto_error=False,
)
manager_bearer = HTTPBearer(
    scheme_name="OperatorTokenOrForgeInvocationToken",
    description="An operator token (`sc_admin_…`), or the Jira App's FIT together with its request key.",
    auto_error=False,
)


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
    if not presented.startswith(OPERATOR_TOKEN_PREFIX) or len(presented) > MAX_BEARER_LENGTH:
        raise InvalidOperatorToken()
    token = (
        await session.execute(select(OperatorToken).where(OperatorToken.token_hash == hash_secret(presented)))
    ).scalar_one_or_none()
    if token is None or not token.is_active:
        raise InvalidOperatorToken()
    token.last_used_at = clock.utcnow()
    await session.flush()
    return token


async def operator(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)]
) -> OperatorToken:
    async with runtime.db.transaction() as session:
        return await authenticate_operator(
            session, runtime.clock, credentials.credentials if credentials else ""
        )


OperatorCaller = Annotated[OperatorToken, Depends(operator)]


@dataclass(frozen=True, slots=True)
class InstallationManager:
    """Who manages one installation's Jira connector in this request."""

    installation_id: str
    actor: str  # "operator:<id>" or "jira-app:<principal>", stored for audit
    # Set for the Jira App only: its verified FIT, and the app system token Forge attached, if any.
    identity: ForgeIdentity | None = None
    forge_system_token: str | None = field(default=None, repr=False)

    @property
    def is_operator(self) -> bool:
        return self.identity is None


async def installation_manager(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(manager_bearer)],
    request_key: RequestKeyHeader = None,
    installation_id: Annotated[
        str | None,
        Query(
            alias="installationId",
            max_length=200,
            description="Required for operators; the Jira App may omit it (its own installation).",
        ),
    ] = None,
    forge_system_token: Annotated[
        str | None,
        Header(
            alias=FORGE_SYSTEM_TOKEN_HEADER,
            max_length=MAX_BEARER_LENGTH,
            description="Forge app system token; Forge adds it when the app's remote enables appSystemToken.",
        ),
    ] = None,
) -> InstallationManager:
    presented = credentials.credentials if credentials is not None else ""
    if presented.startswith(OPERATOR_TOKEN_PREFIX):
        return await _operator_for(runtime, presented, installation_id)
    identity = await forge_identity(runtime, credentials)
    caller = await jira_app(request, runtime, identity, request_key)
    if installation_id is not None and installation_ari(installation_id) != caller.installation.id:
        raise InstallationMismatch()
    return InstallationManager(
        installation_id=caller.installation.id,
        actor=f"jira-app:{identity.principal or 'app'}"[:200],
        identity=identity,
        forge_system_token=forge_system_token or None,
    )


async def _operator_for(
    runtime: RuntimeDep, presented: str, installation_id: str | None
) -> InstallationManager:
    async with runtime.db.transaction() as session:
        token = await authenticate_operator(session, runtime.clock, presented)
        if installation_id is None:
            raise InvalidInput("installationId is required with an operator token.")
        installation = await installations.get(session, installation_ari(installation_id))
        if installation is None:
            raise InstallationNotFound()
        return InstallationManager(installation_id=installation.id, actor=f"operator:{token.id}")


InstallationManagerCaller = Annotated[InstallationManager, Depends(installation_manager)]
