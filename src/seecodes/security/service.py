"""Minting and exchanging the IDE's credentials: launch links, launch codes, task permits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import InstallationInactive, InvalidInput, PrincipalMismatch
from seecodes.installations import service as installations
from seecodes.kit.clock import Clock
from seecodes.models import Installation
from seecodes.security import launch_codes, legacy, request_keys
from seecodes.security.callers import Issuer
from seecodes.security.forge import ForgeIdentity
from seecodes.security.launcher import https_url, vscode_url
from seecodes.security.permits import IssuedPermit, PermitCodec, issue_permit
from seecodes.security.schemas import (
    LaunchExchangeRequest,
    LegacyConnectRequest,
    TaskBinding,
    VscodeLinkRequest,
)
from seecodes.tasks import service as tasks


@dataclass(frozen=True, slots=True)
class LaunchLink:
    code: str
    vscode_url: str
    https_url: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class MintedPermit:
    installation: Installation
    project_id: str
    task_id: str
    permit: IssuedPermit


def bound_user(issuer: Issuer, requested: str | None) -> str:
    """The permit's user comes from the FIT when Jira says who invoked the app; the body may only
    repeat it. App-level and legacy callers carry no principal and must name the user."""
    if issuer.principal is not None:
        if requested is not None and requested != issuer.principal:
            raise PrincipalMismatch()
        return issuer.principal
    if requested is None:
        raise InvalidInput("userAccountId is required when the caller carries no Jira user.")
    return requested


def _authorise_binding(issuer: Issuer, body: TaskBinding) -> str:
    installations.check_hints(issuer.installation, body.cloudIdHint, body.siteUrlHint)
    return bound_user(issuer, body.userAccountId)


async def create_launch_link(
    session: AsyncSession,
    clock: Clock,
    issuer: Issuer,
    body: VscodeLinkRequest,
    *,
    extension_id: str,
    public_base_url: str,
) -> LaunchLink:
    user = _authorise_binding(issuer, body)
    minted = await launch_codes.mint_launch_code(
        session,
        clock,
        installation_id=issuer.installation.id,
        project_id=body.projectId,
        task_id=body.taskId,
        user_account_id=user,
        lifetime=timedelta(days=body.expirationDays),
    )
    if body.jiraContext is not None or body.initialTaiDoc is not None:
        await tasks.save_context(
            session,
            clock,
            installation_id=issuer.installation.id,
            project_id=body.projectId,
            task_id=body.taskId,
            jira_context=body.jiraContext,
            initial_tai=body.initialTaiDoc,
        )
    return LaunchLink(
        code=minted.code,
        vscode_url=vscode_url(extension_id, body.projectId, body.taskId, minted.code),
        https_url=https_url(public_base_url, body.projectId, body.taskId, minted.code),
        expires_at=minted.expires_at,
    )


async def mint_direct_permit(
    session: AsyncSession,
    clock: Clock,
    codec: PermitCodec,
    issuer: Issuer,
    body: TaskBinding,
    *,
    ttl_seconds: int,
) -> MintedPermit:
    user = _authorise_binding(issuer, body)
    permit = await issue_permit(
        session,
        codec,
        clock,
        installation=issuer.installation,
        project_id=body.projectId,
        task_id=body.taskId,
        user_account_id=user,
        source="legacy" if issuer.via_legacy_bridge else "direct",
        ttl_seconds=ttl_seconds,
    )
    return MintedPermit(issuer.installation, body.projectId, body.taskId, permit)


async def exchange_launch_code(
    session: AsyncSession, clock: Clock, codec: PermitCodec, body: LaunchExchangeRequest, *, ttl_seconds: int
) -> MintedPermit:
    consumed = await launch_codes.consume_launch_code(
        session, clock, code=body.code, project_id=body.projectId, task_id=body.taskId
    )
    installation = await installations.require_active(session, consumed.installation_id)
    permit = await issue_permit(
        session,
        codec,
        clock,
        installation=installation,
        project_id=consumed.project_id,
        task_id=consumed.task_id,
        user_account_id=consumed.user_account_id,
        source="launch-exchange",
        ttl_seconds=ttl_seconds,
        jti=consumed.permit_jti,
    )
    return MintedPermit(installation, consumed.project_id, consumed.task_id, permit)


async def start_request_key_chain(
    session: AsyncSession, clock: Clock, identity: ForgeIdentity, *, ttl_seconds: int
) -> request_keys.IssuedRequestKey:
    """The Jira App's first call: the FIT creates or refreshes the installation, then a chain starts."""
    installation = await installations.sync_from_forge(session, clock, identity)
    if not installation.is_active:
        raise InstallationInactive()
    return await request_keys.start_chain(
        session, clock, installation_id=installation.id, principal=identity.principal, ttl_seconds=ttl_seconds
    )


async def enroll_legacy_site(
    session: AsyncSession, clock: Clock, body: LegacyConnectRequest
) -> legacy.ConnectedInstallation:
    return await legacy.connect(session, clock, enrollment_token=body.enrollmentToken, cloud_id=body.cloudId)
