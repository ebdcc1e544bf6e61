"""Connector management: /v1/integrations/jira/… (operators for any installation, the Jira App for its own)."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import JiraNotConfigured, JiraSiteChoice, NoActiveIntegration, responses
from seecodes.jira import oauth, service
from seecodes.jira.schemas import (
    ConnectResponse,
    ForgeTokenResponse,
    ProjectsResponse,
    SiteChoice,
    StatusResponse,
)
from seecodes.jira.service import JIRA_CALL_ERRORS
from seecodes.openapi import BROWSER, JIRA_APP
from seecodes.security.deps import MANAGER_ERRORS, InstallationManagerCaller

router = APIRouter(prefix="/v1/integrations/jira", tags=[JIRA_APP])
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_DONE_MESSAGES = {
    "connected": "Jira is connected.",
    "choose_site": "Jira is connected to several sites: choose one in SeeCodes to finish.",
    "error": "Jira could not be connected.",
}


@router.post(
    "/connect",
    operation_id="connectJira",
    description=(
        "Starts an OAuth 2.0 (3LO) connection to Jira Cloud: answers the Atlassian authorize URL "
        "with a one-time state. Open it in a browser; Atlassian redirects to "
        "`completeJiraConnection`."
    ),
    summary="Start an OAuth 2.0 (3LO) connection: the authorize URL and its one-time state",
    responses=responses(*MANAGER_ERRORS, JiraNotConfigured),
)
async def connect(
    runtime: RuntimeDep, session: SessionDep, manager: InstallationManagerCaller
) -> ConnectResponse:
    started = await oauth.issue_state(
        session, runtime.settings, runtime.clock, installation_id=manager.installation_id, actor=manager.actor
    )
    return ConnectResponse(authUrl=started.auth_url, state=started.state, expiresAt=started.expires_at)


@router.get(
    "/callback",
    operation_id="completeJiraConnection",
    tags=[BROWSER],
    description=(
        "Atlassian's redirect target after the user consents: checks the one-time state, stores "
        "the grant (tokens encrypted) and redirects the browser to the result page, dropping the "
        "code from the address bar."
    ),
    summary="Atlassian's redirect target: validates the state, stores the grant, redirects the browser",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "To the post-connect page with ?jira=connected|choose_site|error&reason=…"}
    },
)
async def callback(
    runtime: RuntimeDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    outcome = await oauth.complete_callback(
        runtime.db, runtime.clock, runtime.settings, code=code, state=state, error=error
    )
    query = {"jira": outcome.result, **({"reason": outcome.reason} if outcome.reason else {})}
    target = runtime.settings.jira_done_url
    separator = "&" if "?" in target else "?"
    # no-referrer: the callback URL carries the code and state, which the next page must not see.
    return RedirectResponse(f"{target}{separator}{urlencode(query)}", status_code=303, headers=_NO_STORE)


@router.get(
    "/done",
    operation_id="showJiraConnectionResult",
    tags=[BROWSER],
    description="A plain page saying how the connection ended (`jira=connected|choose_site|error`).",
    summary="A plain page telling the user how the connection ended",
    response_class=HTMLResponse,
)
async def done(
    jira: Annotated[str, Query(max_length=20)] = "error",
    reason: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")] = None,
) -> HTMLResponse:
    message = _DONE_MESSAGES.get(jira, _DONE_MESSAGES["error"])
    detail = f"<p>Reason: <code>{html.escape(reason)}</code></p>" if reason and jira == "error" else ""
    page = (
        "<!doctype html><meta charset=utf-8><title>SeeCodes · Jira</title>"
        f"<h1>{html.escape(message)}</h1>{detail}<p>You can close this tab.</p>"
    )
    headers = {**_NO_STORE, "Content-Security-Policy": "default-src 'none'"}
    return HTMLResponse(page, headers=headers)


@router.post(
    "/site",
    operation_id="chooseJiraSite",
    description="When the grant reaches several Jira sites, picks the one this installation writes to.",
    summary="Choose the Jira site when the grant reaches several",
    responses=responses(*MANAGER_ERRORS, JiraSiteChoice),
)
async def choose_site(
    runtime: RuntimeDep, session: SessionDep, manager: InstallationManagerCaller, body: SiteChoice
) -> StatusResponse:
    await oauth.choose_site(session, runtime.clock, manager, body.cloudId)
    return StatusResponse.of(
        await service.read_status(session, manager.installation_id, runtime.clock.utcnow())
    )


@router.get(
    "/status",
    operation_id="getJiraStatus",
    description=(
        "The installation's Jira connection: its state, site, scopes, and the last write-back error."
    ),
    summary="The installation's Jira connection",
    responses=responses(*MANAGER_ERRORS),
)
async def status(
    runtime: RuntimeDep, session: SessionDep, manager: InstallationManagerCaller
) -> StatusResponse:
    return StatusResponse.of(
        await service.read_status(session, manager.installation_id, runtime.clock.utcnow())
    )


@router.get(
    "/projects",
    operation_id="listJiraProjects",
    description="The Jira projects the connection can see, read page by page from Jira's project search.",
    summary="Jira projects the connection can see (paged through /rest/api/3/project/search)",
    responses=responses(*MANAGER_ERRORS, *JIRA_CALL_ERRORS),
)
async def projects(
    runtime: RuntimeDep,
    manager: InstallationManagerCaller,
    startAt: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PROJECTS)] = 100,
    query: Annotated[str | None, Query(max_length=200)] = None,
) -> ProjectsResponse:
    page = await service.projects(
        runtime.db, runtime.clock, runtime.settings, manager, start_at=startAt, limit=limit, query=query
    )
    return ProjectsResponse.of(page)


@router.post(
    "/disconnect",
    operation_id="disconnectJira",
    description=(
        "Disconnects softly: the connection becomes inactive and its tokens are erased; the row "
        "stays for the record."
    ),
    summary="Soft disconnect: the connection becomes inactive and its tokens are erased; the row stays",
    responses=responses(*MANAGER_ERRORS, NoActiveIntegration),
)
async def disconnect(
    runtime: RuntimeDep, session: SessionDep, manager: InstallationManagerCaller
) -> StatusResponse:
    await oauth.disconnect(session, runtime.clock, manager)
    return StatusResponse.of(
        await service.read_status(session, manager.installation_id, runtime.clock.utcnow())
    )


@router.post(
    "/forge-token",
    operation_id="storeForgeToken",
    description=(
        "Keeps the Forge app system token Forge sends in `x-forge-oauth-system`, so progress "
        "reaches Jira without an OAuth connection. Call it from a scheduled trigger; a token "
        "equal to the stored one writes nothing."
    ),
    summary="Hand over the Forge app system token (x-forge-oauth-system); call from a scheduled trigger",
    responses=responses(*MANAGER_ERRORS),
)
async def forge_token(runtime: RuntimeDep, manager: InstallationManagerCaller) -> ForgeTokenResponse:
    expires_at = await service.keep_forge_token(runtime.db, runtime.clock, runtime.settings, manager)
    return ForgeTokenResponse(
        kept=expires_at is not None, expiresAt=int(expires_at.timestamp()) if expires_at else None
    )
