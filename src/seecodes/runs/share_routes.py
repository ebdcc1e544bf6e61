"""Share links: the IDE mints and revokes them; anyone holding one reads the run it opens.

The token is in the path, so the access log writes the route template for these paths, never the
path itself (kit/http.py), and every answer says `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

from contextlib import suppress
from html import escape
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep
from seecodes.errors import (
    InvalidPermit,
    RunArtifactsPurged,
    RunNotFound,
    RunNotStarted,
    RunNotSucceeded,
    ShareLinkNotFound,
    TooManyStreams,
    responses,
)
from seecodes.kit.clock import iso_utc
from seecodes.models import Run
from seecodes.models.run import SETTLED, RunStatus
from seecodes.openapi import IDE, SHARED
from seecodes.runs import events, service, share
from seecodes.runs.schemas import RevokedShareLinks, SharedRun, ShareLinkResponse
from seecodes.runs.storage import ObjectStorage
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
    document = await _document(session, runtime.storage, run)
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(document.model_dump(mode="json"), headers=_PRIVATE)
    return HTMLResponse(_page(document), headers={**_PRIVATE, **_PAGE_HEADERS})


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


async def _document(session: AsyncSession, storage: ObjectStorage, run: Run) -> SharedRun:
    output: str | None = None
    log: str | None = None
    with suppress(RunNotSucceeded, RunArtifactsPurged):  # no output yet, or purged: null
        output = await service.output_text(storage, run)
    with suppress(RunArtifactsPurged):
        log = await service.log_text(session, run)
    return SharedRun(
        runId=run.id,
        projectId=run.project_id,
        taskId=run.task_id,
        status=RunStatus(run.status),
        model=run.model,
        createdAt=iso_utc(run.created_at),
        updatedAt=iso_utc(run.updated_at),
        error=run.error,
        output=output,
        log=log,
    )


_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def _page(run: SharedRun) -> str:
    settled = run.status in SETTLED
    refresh = "" if settled else '<meta http-equiv="refresh" content="5">'
    output = f"<h2>Output</h2><pre>{escape(run.output)}</pre>" if run.output is not None else ""
    error = f"<p><strong>Error:</strong> {escape(run.error)}</p>" if run.error else ""
    log = f"<h2>Log</h2><pre>{escape(run.log)}</pre>" if run.log is not None else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}
<title>Run {escape(run.runId)} on {escape(run.taskId)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #172b4d; }}
pre {{ white-space: pre-wrap; background: #f4f5f7; padding: 1rem; border-radius: 4px; overflow-x: auto; }}
</style>
</head>
<body>
<main>
<h1>{escape(run.taskId)}: run {escape(run.runId)}</h1>
<p>Status: <strong>{escape(run.status)}</strong> · model {escape(run.model)} · updated {escape(run.updatedAt)}</p>
{error}{output}{log}
<p><small>A read-only link to one run.{" This page reloads every 5 seconds until the run settles." if not settled else ""}</small></p>
</main>
</body>
</html>
"""
