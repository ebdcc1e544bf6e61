"""Forge request keys, IDE launch links and codes, task permits, the launcher page, legacy connect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import (
    EnrollmentRejected,
    HintMismatch,
    InstallationInactive,
    InstanceKeyRejected,
    InvalidForgeToken,
    InvalidInput,
    LaunchCodeExpired,
    LaunchCodeMismatch,
    LaunchCodeRejected,
    LaunchCodeReplayed,
    NotFound,
    PrincipalMismatch,
    responses,
)
from seecodes.kit.http import NEXT_REQUEST_KEY_HEADER, carries_credential, set_next_request_key
from seecodes.openapi import BROWSER, IDE, JIRA_APP, LEGACY, NEXT_KEY_HEADER
from seecodes.security import service
from seecodes.security.deps import REQUEST_KEY_ERRORS, ForgeCaller, IssuerCaller, LegacyBridgeRoute
from seecodes.security.launcher import render_launcher
from seecodes.security.schemas import (
    LaunchExchangeRequest,
    LegacyConnectRequest,
    LegacyConnectResponse,
    PermitResponse,
    RequestKeyRequest,
    RequestKeyResponse,
    TaskPermitRequest,
    VscodeLinkRequest,
    VscodeLinkResponse,
)

router = APIRouter()
# Responses that hand out a credential are never cached.
NO_STORE = Depends(carries_credential)

ISSUER_ERRORS = (*REQUEST_KEY_ERRORS, InstanceKeyRejected, HintMismatch, PrincipalMismatch, InvalidInput)


@router.post(
    "/v1/jira/request-key",
    operation_id="createRequestKey",
    tags=[JIRA_APP],
    description=(
        "Starts a request-key chain for the calling Jira user and answers its first key. Every "
        "later Jira App call sends the current key in `X-SeeCodes-Jira-Request-Key` and reads the "
        "next one from `X-SeeCodes-Next-Request-Key` on the answer, errors included. A key is "
        "good for one call: a key sent twice (a blind retry, two calls racing on one chain) "
        "revokes the chain. Call this again when the Jira App starts, after "
        "`request_key_replayed` or `request_key_expired`, or when an answer was lost. The body is "
        "optional and ignored."
    ),
    dependencies=[NO_STORE],
    summary="Start a single-use Jira request-key chain",
    responses={
        200: {"headers": {NEXT_REQUEST_KEY_HEADER: NEXT_KEY_HEADER}},
        **responses(InvalidForgeToken, InstallationInactive, InvalidInput),
    },
)
async def issue_request_key(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    identity: ForgeCaller,
    body: Annotated[
        RequestKeyRequest,
        Body(default_factory=RequestKeyRequest, description="Optional; the server reads nothing from it."),
    ],
) -> RequestKeyResponse:
    issued = await service.start_request_key_chain(
        session, runtime.clock, identity, ttl_seconds=runtime.settings.request_key_ttl_seconds
    )
    set_next_request_key(request.scope, issued.key)
    return RequestKeyResponse(requestKey=issued.key, expiresAt=issued.expires_at)


@router.post(
    "/v1/security/vscode-link",
    operation_id="mintLaunchLink",
    tags=[JIRA_APP],
    description=(
        "Mints a one-time launch code for one project and task and the URLs that carry it: the "
        "HTTPS launcher page and the `vscode://` / `cursor://` deep links. The code expires after "
        "a few minutes (`SEECODES_LAUNCH_CODE_TTL_SECONDS`) and may be exchanged once."
    ),
    dependencies=[NO_STORE],
    summary="Mint a one-time launch code and the IDE launch URLs",
    responses=responses(*ISSUER_ERRORS),
)
async def create_vscode_link(
    runtime: RuntimeDep, session: SessionDep, issuer: IssuerCaller, body: VscodeLinkRequest
) -> VscodeLinkResponse:
    link = await service.create_launch_link(
        session,
        runtime.clock,
        issuer,
        body,
        extension_id=runtime.settings.extension_id,
        public_base_url=runtime.settings.public_base_url,
    )
    return VscodeLinkResponse(
        launchCode=link.code, vscodeUrl=link.vscode_url, httpsUrl=link.https_url, expiresAt=link.expires_at
    )


@router.post(
    "/v1/security/task-permit",
    operation_id="mintTaskPermit",
    tags=[JIRA_APP],
    description=(
        "Mints a task permit for one project and task without a launch code, for a caller that "
        "holds the Jira App's credentials itself. The permit is shown once; only its hash is "
        "stored."
    ),
    dependencies=[NO_STORE],
    summary="Mint a task-scoped permit directly",
    responses=responses(*ISSUER_ERRORS),
)
async def create_task_permit(
    runtime: RuntimeDep, session: SessionDep, issuer: IssuerCaller, body: TaskPermitRequest
) -> PermitResponse:
    minted = await service.mint_direct_permit(
        session, runtime.clock, runtime.permits, issuer, body, ttl_seconds=runtime.settings.permit_ttl_seconds
    )
    return _permit_response(minted)


@router.post(
    "/v1/security/launch-exchange",
    operation_id="exchangeLaunchCode",
    tags=[IDE],
    description=(
        "Exchanges a launch code for the task permit it stands for. **Exchange a code once and "
        "never retry blindly:** a second exchange of the same code is refused "
        "`launch_code_replayed` and revokes the permit the first one minted, so an extension that "
        "retries after a timeout loses a permit it may already have been given. After a failed "
        "exchange, open the task from Jira again for a new code."
    ),
    dependencies=[NO_STORE],
    summary="Exchange a one-time launch code for the task permit",
    responses=responses(
        LaunchCodeRejected,
        LaunchCodeExpired,
        LaunchCodeReplayed,
        LaunchCodeMismatch,
        InstallationInactive,
        InvalidInput,
    ),
)
async def exchange_launch_code(
    runtime: RuntimeDep, session: SessionDep, body: LaunchExchangeRequest
) -> PermitResponse:
    minted = await service.exchange_launch_code(
        session, runtime.clock, runtime.permits, body, ttl_seconds=runtime.settings.permit_ttl_seconds
    )
    return _permit_response(minted)


@router.get(
    "/v1/launch",
    operation_id="openLaunchPage",
    description=(
        "The HTTPS page a launch link opens: it hands the project, task and one-time code to VS "
        "Code or Cursor through their URL schemes, and explains what to do when neither opens. "
        "The page never exchanges the code itself."
    ),
    tags=[BROWSER],
    summary="HTTPS launcher page that opens the task in VS Code or Cursor",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "The launcher page."},
        **responses(InvalidInput),
    },
)
async def launch_page(
    runtime: RuntimeDep,
    p: Annotated[str, Query(min_length=1, max_length=256, description="projectId")],
    t: Annotated[str, Query(min_length=1, max_length=256, description="taskId")],
    c: Annotated[str, Query(min_length=1, max_length=256, description="one-time launch code")],
    baseUrl: Annotated[str | None, Query(max_length=512)] = None,
    statusLanguage: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    settings = runtime.settings
    page = render_launcher(
        extension_id=settings.extension_id,
        project_id=p,
        task_id=t,
        code=c,
        base_url=baseUrl,
        status_language=statusLanguage,
        allowlist=settings.launch_baseurl_allowlist,
    )
    return HTMLResponse(page.html, headers=page.headers)


async def legacy_connect(
    runtime: RuntimeDep, session: SessionDep, body: LegacyConnectRequest
) -> LegacyConnectResponse:
    connected = await service.enroll_legacy_site(session, runtime.clock, body)
    return LegacyConnectResponse(apiKey=connected.api_key, linkSecret=connected.link_secret)


router.add_api_route(
    "/public/connect",
    legacy_connect,
    methods=["POST"],
    route_class_override=LegacyBridgeRoute,
    dependencies=[NO_STORE],
    operation_id="legacyConnect",
    tags=[LEGACY],
    summary="Legacy bridge: enroll a Jira site (needs an operator enrollment token)",
    description=(
        "Enrolls a Jira site over the pre-Forge bridge with an operator's enrollment token and "
        "answers the instance key (shown once). 404 whatever the body while the bridge is "
        "disabled, the default."
    ),
    responses=responses(NotFound, EnrollmentRejected, InvalidInput),
)


def _permit_response(minted: service.MintedPermit) -> PermitResponse:
    return PermitResponse(
        cloudId=minted.installation.cloud_id,
        installationId=minted.installation.id,
        projectId=minted.project_id,
        taskId=minted.task_id,
        permit=minted.permit.token,
        expiresAt=minted.permit.expires_at,
    )
