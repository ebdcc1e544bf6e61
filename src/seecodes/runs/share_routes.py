"""Share links: the IDE mints and revokes them; anyone holding one reads the run it opens.

The token is in the path, so the access log writes the route template for these paths, never the
path itself (kit/http.py), and every answer says `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep
from seecodes.errors import (
    InvalidPermit,
    RunNotFound,
    RunNotStarted,
    ShareLinkNotFound,
    TooManyStreams,
    responses,
)
from seecodes.kit.clock import iso_utc
from seecodes.openapi import IDE, SHARED
from seecodes.runs import events, share
from seecodes.runs.schemas import RevokedShareLinks, SharedRun, ShareLinkResponse
from seecodes.security.deps import TaskPermitCaller

router = APIRouter()

RunIdPath = Annotated[str, Path(max_length=40, pattern=r"^run_[a-z0-9]{1,36}$")]
TokenPath = Annotated[str, Path(max_length=100)]
_PRIVATE = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@router.post(
    "/v1/tasks/{runId}/share",
    tags=[IDE],
    operation_id="shareRun",
    summary="Mint a read-only link to the run",
    description="A link anyone can open, without a permit, to see this run's status, output and log "
    "(`GET /v1/share/{token}`, as a page or as JSON) and follow it live (`…/events`). Valid "
    "`SEECODES_SHARE_LINK_TTL_HOURS` (24 h); the token is shown only here and stored hashed. It "
    "opens this run and nothing else. A run never started is 409.",
    responses=responses(InvalidPermit, RunNotFound, RunNotStarted),
)
async def share_run(
    runtime: RuntimeDep, session: SessionDep, permit: TaskPermitCaller, runId: RunIdPath
) -> ShareLinkResponse:
    minted = await share.mint(
        session, runtime.clock, permit, runId, ttl_hours=runtime.settings.share_link_ttl_hours
    )
    base = runtime.settings.public_base_url.rstrip("/")
    return ShareLinkResponse(
        url=f"{base}{share.SHARE_PATH}{minted.token}", expiresAt=iso_utc(minted.expires_at)
    )


@router.delete(
    "/v1/tasks/{runId}/share",
    tags=[IDE],
    operation_id="revokeRunShares",
    summary="Revoke the run's share links",
    description="Every live link to this run stops opening it at once (404); `revoked` says how many.",
    responses=responses(InvalidPermit, RunNotFound),
)
async def revoke_run_shares(
    runtime: RuntimeDep, session: SessionDep, permit: TaskPermitCaller, runId: RunIdPath
) -> RevokedShareLinks:
    return RevokedShareLinks(revoked=await share.revoke(session, runtime.clock, permit, runId))


@router.get(
    "/v1/share/{token}",
    tags=[SHARED],
    operation_id="getSharedRun",
    summary="Read a shared run",
    description="The run a share link opens: a small page, or this JSON document when `Accept` asks "
    "for `application/json`. `output` is present once the run succeeded (null before, or once "
    "retention purged it). An unknown, expired or revoked link is 404 `share_link_not_found`.",
    response_model=SharedRun,
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}},
        **responses(ShareLinkNotFound),
    },
)
async def read_shared_run(
    request: Request, runtime: RuntimeDep, session: ReadSessionDep, token: TokenPath
) -> Response:
    run = await share.shared_run(session, runtime.clock, token)
    document = await share.document(session, runtime.storage, run)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(document.model_dump(mode="json"), headers=_PRIVATE)
    return HTMLResponse(share.page(document), headers={**_PRIVATE, **share.PAGE_HEADERS})


@router.get(
    "/v1/share/{token}/events",
    tags=[SHARED],
    operation_id="followSharedRun",
    summary="Follow a shared run",
    description="The run's server-sent events, exactly as `GET /v1/tasks/{runId}/events` sends them "
    "(resume with `Last-Event-ID`).",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **responses(ShareLinkNotFound, TooManyStreams)},
)
async def follow_shared_run(
    runtime: RuntimeDep,
    session: ReadSessionDep,
    token: TokenPath,
    last_event_id: Annotated[int, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1)] = 0,
) -> StreamingResponse:
    run = await share.shared_run(session, runtime.clock, token)
    # Bounded like a permit's streams: per link (its hash names it) and per installation.
    slot = runtime.streams.open(permit_jti=f"share:{run.id}", installation_id=run.installation_id)
    return events.response(
        runtime.db,
        runtime.run_watch,
        run.id,
        last_event_id,
        slot=slot,
        max_seconds=runtime.settings.run_events_max_seconds,
        headers={"Referrer-Policy": "no-referrer"},
    )
