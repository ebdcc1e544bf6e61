"""Forge request keys, IDE launch links and codes, task permits, the launcher page, legacy connect."""

from __future__ import annotations

from typing import Annotated, Any

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
from seecodes.kit.http import carries_credential, set_next_request_key
from seecodes.security import service
from seecodes.security.deps import REQUEST_KEY_ERRORS, ForgeCaller, IssuerCaller, LegacyBridgeRoute
from seecodes.security.launcher import render_launcher
from seecodes.security.schemas import (
    ConnectRequest,
    ConnectResponse,
    LaunchExchangeRequest,
    PermitResponse,
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
    dependencies=[NO_STORE],
    tags=["security"],
    summary="Start a single-use Jira request-key chain",
    responses=responses(InvalidForgeToken, InstallationInactive, InvalidInput),
)
async def issue_request_key(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    identity: ForgeCaller,
    body: Annotated[dict[str, Any] | None, Body(description="Optional; accepted and not used.")] = None,
) -> RequestKeyResponse:
    issued = await service.start_request_key_chain(
        session, runtime.clock, identity, ttl_seconds=runtime.settings.request_key_ttl_seconds
    )
    set_next_request_key(request.scope, issued.key)
    return RequestKeyResponse(requestKey=issued.key, expiresAt=issued.expires_at)


@router.post(
    "/v1/security/vscode-link",
    dependencies=[NO_STORE],
    tags=["security"],
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
    dependencies=[NO_STORE],
    tags=["security"],
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
    dependencies=[NO_STORE],
    tags=["security"],
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
    tags=["security"],
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


async def legacy_connect(runtime: RuntimeDep, session: SessionDep, body: ConnectRequest) -> ConnectResponse:
    connected = await service.enroll_legacy_site(session, runtime.clock, body)
    return ConnectResponse(apiKey=connected.api_key, linkSecret=connected.link_secret)


router.add_api_route(
    "/public/connect",
    legacy_connect,
    methods=["POST"],
    route_class_override=LegacyBridgeRoute,
    dependencies=[NO_STORE],
    tags=["legacy"],
    summary="Legacy bridge: enroll a Jira site (needs an operator enrollment token)",
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
