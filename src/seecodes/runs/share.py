"""Read-only share links to one run (issue 15 §4).

A link is a random secret in the URL, kept only as its hash, bound to one run of one installation.
It opens that run's status, output and log and nothing else: an unknown, expired or revoked token
and a token presented for another run are all the same 404, so a link says nothing about what else
exists. The IDE that holds a permit for the run's task mints and revokes them.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import RunArtifactsPurged, RunNotStarted, RunNotSucceeded, ShareLinkNotFound
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.secrets import hash_secret, new_secret
from seecodes.models import Run, ShareLink
from seecodes.models.run import SETTLED, RunStatus
from seecodes.runs import repository, service
from seecodes.runs.schemas import SharedRun
from seecodes.runs.storage import ObjectStorage
from seecodes.security.permits import PermitScope

SHARE_TOKEN_PREFIX = "sc_share_"  # noqa: S105 (a type prefix, not a secret)
SHARE_PATH = "/v1/share/"


@dataclass(frozen=True, slots=True)
class MintedLink:
    token: str  # shown once, in the URL
    expires_at: datetime


async def mint(
    session: AsyncSession, clock: Clock, scope: PermitScope, run_id: str, *, ttl_hours: float
) -> MintedLink:
    run = await service.get_run(session, scope, run_id)
    if run.status == RunStatus.INITIALIZED:
        raise RunNotStarted("A run that was never started has nothing to show yet.")
    token = new_secret(SHARE_TOKEN_PREFIX)
    now = clock.utcnow()
    link = ShareLink(
        token_hash=hash_secret(token),
        installation_id=run.installation_id,
        run_id=run.id,
        created_by=scope.user_account_id,
        created_at=now,
        expires_at=now + timedelta(hours=ttl_hours),
    )
    session.add(link)
    await session.flush()
    return MintedLink(token=token, expires_at=link.expires_at)


async def revoke(session: AsyncSession, clock: Clock, scope: PermitScope, run_id: str) -> int:
    """Every live link of the run stops opening it; how many there were."""
    run = await service.get_run(session, scope, run_id)
    result = await session.execute(
        update(ShareLink)
        .where(ShareLink.run_id == run.id, ShareLink.installation_id == run.installation_id)
        .where(ShareLink.revoked_at.is_(None))
        .values(revoked_at=clock.utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def shared_run(session: AsyncSession, clock: Clock, token: str) -> Run:
    """The run a live token opens, or ShareLinkNotFound."""
    if not token.startswith(SHARE_TOKEN_PREFIX) or len(token) > 100:
        raise ShareLinkNotFound()
    link = (
        await session.execute(select(ShareLink).where(ShareLink.token_hash == hash_secret(token)))
    ).scalar_one_or_none()
    if link is None or link.revoked_at is not None or link.expires_at <= clock.utcnow():
        raise ShareLinkNotFound()
    run = await repository.get_of_installation(session, link.installation_id, link.run_id)
    if run is None:
        raise ShareLinkNotFound()
    return run


async def document(session: AsyncSession, storage: ObjectStorage, run: Run) -> SharedRun:
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


PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def page(run: SharedRun) -> str:
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
