"""Who may call: typed auth dependencies, so a route's signature says which credential it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import InstallationInactive, InvalidForgeToken, InvalidPermit, RequestKeyMissing
from seecodes.installations import repository as installations
from seecodes.jira.tokens import FORGE_SYSTEM_TOKEN_HEADER, capture_forge_token
from seecodes.kit.http import set_next_request_key
from seecodes.models import Installation
from seecodes.security import legacy, request_keys
from seecodes.security.forge import ForgeIdentity
from seecodes.security.permits import PermitScope, authenticate_permit

MAX_BEARER_LENGTH = 8192
REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"

forge_bearer = HTTPBearer(
    scheme_name="ForgeInvocationToken",
    bearerFormat="JWT",
    description="Forge invocation token (FIT) from the Jira App.",
    auto_error=False,
)
permit_bearer = HTTPBearer(
    scheme_name="TaskPermit",
    bearerFormat="JWT",
    description="Task permit from POST /v1/security/launch-exchange or /v1/security/task-permit.",
    auto_error=False,
)

RequestKeyHeader = Annotated[
    str | None,
    Header(
        alias=REQUEST_KEY_HEADER,
        max_length=256,
        description="The current single-use Jira request key; read its successor from X-SeeCodes-Next-Request-Key.",
    ),
]


def _bearer_token(credentials: HTTPAuthorizationCredentials | None, error: type[Exception]) -> str:
    if credentials is None or not credentials.credentials or len(credentials.credentials) > MAX_BEARER_LENGTH:
        raise error()
    return credentials.credentials


async def forge_identity(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(forge_bearer)]
) -> ForgeIdentity:
    return await runtime.forge.verify(_bearer_token(credentials, InvalidForgeToken))


ForgeCaller = Annotated[ForgeIdentity, Depends(forge_identity)]


@dataclass(frozen=True, slots=True)
class JiraApp:
    identity: ForgeIdentity
    installation: Installation


async def jira_app(
    request: Request, runtime: RuntimeDep, identity: ForgeCaller, request_key: RequestKeyHeader = None
) -> JiraApp:
    """FIT + the current request key. The key is spent and its successor committed in a
    transaction of its own, so the successor survives whatever the route does next."""
    if not request_key:
        raise RequestKeyMissing()
    async with runtime.db.transaction() as session:
        next_key = await request_keys.consume_and_rotate(
            session,
            runtime.clock,
            presented=request_key,
            installation_id=identity.installation_id,
            principal=identity.principal,
            ttl_seconds=runtime.settings.request_key_ttl_seconds,
        )
        installation = await installations.get(session, identity.installation_id)
    set_next_request_key(request.scope, next_key.key)
    if installation is None or not installation.is_active:
        raise InstallationInactive()
    # Forge attaches the app system token to every request when the remote enables it; keeping it
    # from any route lets progress reach Jira without an OAuth connection (written only on change).
    await capture_forge_token(runtime, identity, request.headers.get(FORGE_SYSTEM_TOKEN_HEADER))
    return JiraApp(identity, installation)


JiraAppCaller = Annotated[JiraApp, Depends(jira_app)]


async def task_permit(
    runtime: RuntimeDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(permit_bearer)],
) -> PermitScope:
    return await authenticate_permit(session, runtime.permits, _bearer_token(credentials, InvalidPermit))


TaskPermitCaller = Annotated[PermitScope, Depends(task_permit)]


@dataclass(frozen=True, slots=True)
class Issuer:
    """A caller allowed to mint launch codes and permits for its installation."""

    installation: Installation
    # The FIT principal when a Jira user invoked the app; None for app-level and legacy callers.
    principal: str | None
    via_legacy_bridge: bool = False


async def issuer(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(forge_bearer)],
    request_key: RequestKeyHeader = None,
    x_cloud_id: Annotated[
        str | None, Header(alias="X-Cloud-Id", max_length=64, description="Legacy bridge only.")
    ] = None,
    x_instance_key: Annotated[
        str | None, Header(alias="X-Instance-Key", max_length=256, description="Legacy bridge only.")
    ] = None,
) -> Issuer:
    if credentials is None and runtime.settings.legacy_bridge_enabled and x_cloud_id and x_instance_key:
        installation = await legacy.authenticate_instance(
            session, cloud_id=x_cloud_id, instance_key=x_instance_key
        )
        if not installation.is_active:
            raise InstallationInactive()
        return Issuer(installation, principal=None, via_legacy_bridge=True)
    identity = await forge_identity(runtime, credentials)
    caller = await jira_app(request, runtime, identity, request_key)
    return Issuer(caller.installation, principal=identity.principal or None)


IssuerCaller = Annotated[Issuer, Depends(issuer)]


@dataclass(frozen=True, slots=True)
class TaskReader:
    """A caller that may read one task's state: the IDE with its permit, or the Jira App."""

    installation_id: str
    cloud_id: str | None
    permit: PermitScope | None


async def task_reader(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    forge_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(forge_bearer)],
    permit_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(permit_bearer)],
    request_key: RequestKeyHeader = None,
) -> TaskReader:
    # The request-key header is what tells the two apart: only the Jira App sends one.
    if request_key is not None:
        identity = await forge_identity(runtime, forge_credentials)
        caller = await jira_app(request, runtime, identity, request_key)
        return TaskReader(caller.installation.id, caller.installation.cloud_id, permit=None)
    scope = await authenticate_permit(
        session, runtime.permits, _bearer_token(permit_credentials, InvalidPermit)
    )
    return TaskReader(scope.installation_id, scope.cloud_id, permit=scope)


TaskReaderCaller = Annotated[TaskReader, Depends(task_reader)]
