"""Who may call: typed auth dependencies, so a route's signature says which credential it takes.

Credential checks that write (spending a request key and committing its successor; an operator
token's last use) commit in a unit of work of their own here, before the route runs: the
contract wants the successor key to survive whatever the route does next, and a refusal that
revokes a stolen chain must stick although the request fails. Everything else a route writes is in
the request's one transaction (`SessionDep`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep, runtime_of
from seecodes.errors import (
    InstallationInactive,
    InstallationMismatch,
    InstallationNotFound,
    InvalidForgeToken,
    InvalidInput,
    InvalidOperatorToken,
    InvalidPermit,
    NotFound,
    RequestKeyExpired,
    RequestKeyMismatch,
    RequestKeyMissing,
    RequestKeyRejected,
    RequestKeyReplayed,
)
from seecodes.installations import repository as installations
from seecodes.kit.http import set_next_request_key
from seecodes.models import OperatorToken
from seecodes.openapi import REQUIRED_MARK, ROTATES_MARK
from seecodes.security import legacy, request_keys
from seecodes.security.callers import (
    FORGE_SYSTEM_TOKEN_HEADER,
    InstallationManager,
    Issuer,
    JiraApp,
    TaskReader,
)
from seecodes.security.forge import ForgeIdentity, installation_ari
from seecodes.security.operators import MAX_TOKEN_LENGTH, OPERATOR_TOKEN_PREFIX, authenticate_operator
from seecodes.security.permits import PermitScope, authenticate_permit

MAX_BEARER_LENGTH = MAX_TOKEN_LENGTH
REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"

# What a route behind `JiraAppCaller` can answer before its own work starts.
REQUEST_KEY_ERRORS = (
    InvalidForgeToken,
    RequestKeyMissing,
    RequestKeyRejected,
    RequestKeyExpired,
    RequestKeyReplayed,
    RequestKeyMismatch,
    InstallationInactive,
)
# ... and behind `InstallationManagerCaller`.
MANAGER_ERRORS = (
    *REQUEST_KEY_ERRORS,
    InvalidOperatorToken,
    InstallationMismatch,
    InstallationNotFound,
    InvalidInput,
)

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

_REQUEST_KEY_DESCRIPTION = (
    "The current single-use Jira request key (from `createRequestKey`, then from the last answer's "
    "X-SeeCodes-Next-Request-Key). Each key is good for one call: sending one twice (a retry after "
    "a timeout, two calls racing) revokes its whole chain, and every later call of the chain is "
    "refused `request_key_replayed` until the Jira App bootstraps again."
)
# Optional at runtime even where the document says required: leaving it out must be a 403
# `request_key_missing` in the envelope, not FastAPI's 422.
RequestKeyHeader = Annotated[
    str | None,
    Header(
        alias=REQUEST_KEY_HEADER,
        max_length=256,
        description=_REQUEST_KEY_DESCRIPTION,
        json_schema_extra={ROTATES_MARK: True},
    ),
]
RequiredRequestKeyHeader = Annotated[
    str | None,
    Header(
        alias=REQUEST_KEY_HEADER,
        max_length=256,
        description=_REQUEST_KEY_DESCRIPTION + " Without it: 403 `request_key_missing`.",
        json_schema_extra={ROTATES_MARK: True, REQUIRED_MARK: True},
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


async def jira_app(
    request: Request, runtime: RuntimeDep, identity: ForgeCaller, request_key: RequiredRequestKeyHeader = None
) -> JiraApp:
    """FIT + the current request key. The key is spent and its successor committed in a
    transaction of its own, so the successor survives whatever the route does next: the one place
    a request-key chain moves."""
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
    await runtime.forge_tokens(identity, request.headers.get(FORGE_SYSTEM_TOKEN_HEADER))
    return JiraApp(identity, installation)


JiraAppCaller = Annotated[JiraApp, Depends(jira_app)]


async def task_permit(
    runtime: RuntimeDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(permit_bearer)],
) -> PermitScope:
    return await authenticate_permit(session, runtime.permits, _bearer_token(credentials, InvalidPermit))


TaskPermitCaller = Annotated[PermitScope, Depends(task_permit)]


async def task_permit_reading(
    runtime: RuntimeDep,
    session: ReadSessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(permit_bearer)],
) -> PermitScope:
    return await task_permit(runtime, session, credentials)


# The same check for a route that only reads (its session is `ReadSessionDep`): a revoked permit is
# refused just as at once, since the row is read on every request either way.
TaskPermitReader = Annotated[PermitScope, Depends(task_permit_reading)]


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


async def operator(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)]
) -> OperatorToken:
    async with runtime.db.transaction() as session:
        return await authenticate_operator(
            session, runtime.clock, credentials.credentials if credentials else ""
        )


OperatorCaller = Annotated[OperatorToken, Depends(operator)]


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


class LegacyBridgeRoute(APIRoute):
    """A route of the legacy bridge: while the bridge is off it is not there, 404 whatever was
    sent. Checked before FastAPI reads the request, since it parses a JSON body before any
    dependency runs (a dependency would still answer 422 for a malformed body)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def only_when_enabled(request: Request) -> Response:
            if not runtime_of(request).settings.legacy_bridge_enabled:
                raise NotFound()
            return await handler(request)

        return only_when_enabled
