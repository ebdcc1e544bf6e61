"""Run rules on the API side: init, start (estimate, reserve, queue), read, list, cancel, rerun.

Every function takes the permit's scope; a run of another task is `RunNotFound`, never a 403, so
run ids cannot be probed across tasks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import (
    ContextTooLarge,
    InvalidInput,
    RunAlreadyFinished,
    RunAlreadyStarted,
    RunArtifactsPurged,
    RunNotFound,
    RunNotStarted,
    RunNotSucceeded,
    UploadedFileTooLarge,
    UploadsIncomplete,
)
from seecodes.installations import credits
from seecodes.installations.repository import credit_balance
from seecodes.kit.clock import iso_utc
from seecodes.kit.logging import get_logger
from seecodes.models import Run, UsageItem
from seecodes.models.run import CANCELLABLE, RunStatus
from seecodes.runs import repository
from seecodes.runs.prompt import Prompt, build_prompt
from seecodes.runs.tokens import count_tokens
from seecodes.security.permits import PermitScope

if TYPE_CHECKING:
    from seecodes.runtime import Runtime

_log = get_logger("seecodes.runs")

EXECUTE_WORKFLOW = "seecodes.runs.execute"
USAGE_ITEMS_SHOWN = 100


def queue_name(model: str) -> str:
    """One queue per model alias, so the per-model concurrency limit holds across every executor."""
    return f"runs:{model}"


def upload_key(run: Run, name: str) -> str:
    return f"{run.storage_prefix}input/{name}"


def output_key(run: Run) -> str:
    return f"{run.storage_prefix}output/output.md"


def result_zip_key(run: Run) -> str:
    return f"{run.storage_prefix}output/result.zip"


def status_event(run: Run) -> str:
    return json.dumps(
        {"status": run.status, "updatedAt": iso_utc(run.updated_at), "error": run.error},
        separators=(",", ":"),
    )


@dataclass(frozen=True, slots=True)
class InitializedRun:
    run: Run
    bucket: str
    uploads: dict[str, str]


async def init_run(
    session: AsyncSession, runtime: Runtime, scope: PermitScope, *, model: str | None, files: list[str]
) -> InitializedRun:
    spec = runtime.catalog.get(model) if model else runtime.catalog.default
    now = runtime.clock.utcnow()
    run_id = f"run_{uuid.uuid4().hex[:20]}"
    run = Run(
        id=run_id,
        installation_id=scope.installation_id,
        project_id=scope.project_id,
        task_id=scope.task_id,
        user_account_id=scope.user_account_id,
        model=spec.id,
        files=files,
        storage_prefix=f"runs/{run_id}/",
        status=RunStatus.INITIALIZED.value,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    await repository.add_event(session, run_id, "status", status_event(run), now)
    await repository.add_event(
        session, run_id, "log", f"initialized for model {spec.id!r} with files {', '.join(files)}", now
    )
    ttl = runtime.settings.upload_url_ttl_seconds
    uploads = {
        name: await runtime.storage.upload_url(upload_key(run, name), expires_in=ttl) for name in files
    }
    return InitializedRun(run=run, bucket=runtime.storage.bucket, uploads=uploads)


async def get_run(session: AsyncSession, scope: PermitScope, run_id: str) -> Run:
    run = await repository.get_for_task(session, scope, run_id)
    if run is None:
        raise RunNotFound()
    return run


async def read_prompt(runtime: Runtime, run: Run, instruction: str | None) -> Prompt:
    """The uploads in declared order plus the instruction; missing or oversize uploads refuse."""
    sizes = await asyncio.gather(*(runtime.storage.size(upload_key(run, name)) for name in run.files))
    missing = [name for name, size in zip(run.files, sizes, strict=True) if size is None]
    if missing:
        raise UploadsIncomplete(missing)
    # A presigned S3 PUT cannot cap its size, so the cap is enforced here, before anything is read.
    limit = runtime.settings.upload_max_bytes
    oversize = [
        name for name, size in zip(run.files, sizes, strict=True) if size is not None and size > limit
    ]
    if oversize:
        raise UploadedFileTooLarge(f"{', '.join(oversize)} exceed the {limit}-byte per-file limit.")
    contents = await asyncio.gather(*(runtime.storage.read(upload_key(run, name)) for name in run.files))
    files = [
        (name, data.decode("utf-8", errors="replace")) for name, data in zip(run.files, contents, strict=True)
    ]
    return build_prompt(files, instruction)


async def start_run(
    session: AsyncSession,
    runtime: Runtime,
    scope: PermitScope,
    run_id: str,
    *,
    model: str | None,
    user_prompt: str | None,
) -> Run:
    run = await get_run(session, scope, run_id)
    if run.status != RunStatus.INITIALIZED:
        raise RunAlreadyStarted(f"The run is already {run.status}.")
    spec = runtime.catalog.usable(model or run.model)
    prompt = await read_prompt(runtime, run, user_prompt)
    tokens = await asyncio.to_thread(count_tokens, prompt.text)
    if tokens > spec.max_context:
        raise ContextTooLarge(
            f"The uploads and prompt are {tokens} tokens; model {spec.id!r} accepts {spec.max_context}."
        )
    estimate = credits.run_cost(spec.pricing.base, spec.pricing.per_token, tokens)
    await credits.reserve(
        session, runtime.clock, installation_id=scope.installation_id, amount=estimate, run_id=run.id
    )
    now = runtime.clock.utcnow()
    queued = await repository.transition(
        session,
        run.id,
        from_states={RunStatus.INITIALIZED},
        to=RunStatus.QUEUED,
        now=now,
        model=spec.id,
        user_prompt=user_prompt,
        estimated_input_tokens=tokens,
        estimated_credits=estimate,
        queued_at=now,
    )
    if queued is None:  # a concurrent start won; its reservation is the one that stands
        raise RunAlreadyStarted()
    await repository.add_event(session, run.id, "status", status_event(queued), now)
    await repository.add_event(
        session, run.id, "log", f"queued: {tokens} input tokens estimated, {estimate} credits reserved", now
    )
    return queued


async def enqueue(runtime: Runtime, run_id: str, model: str) -> None:
    """After the commit that queued the run; the workflow id is the run id, so this is idempotent.

    A failure here loses nothing: the run stays queued and the sweep job enqueues it again.
    """
    try:
        await runtime.engine.enqueue(
            queue=queue_name(model), workflow=EXECUTE_WORKFLOW, workflow_id=run_id, args=[run_id]
        )
    except Exception as error:  # the client already has its 200; the sweep retries
        _log.warning("run_enqueue_failed", run_id=run_id, error=type(error).__name__)


@dataclass(frozen=True, slots=True)
class RunView:
    run: Run
    result_zip_url: str | None


async def view(session: AsyncSession, runtime: Runtime, scope: PermitScope, run_id: str) -> RunView:
    run = await get_run(session, scope, run_id)
    url = None
    if run.status == RunStatus.SUCCEEDED and run.artifacts_purged_at is None:
        url = await runtime.storage.download_url(
            result_zip_key(run),
            expires_in=runtime.settings.download_url_ttl_seconds,
            filename=f"{run.task_id}-{run.id}.zip",
        )
    return RunView(run=run, result_zip_url=url)


async def output_of(session: AsyncSession, runtime: Runtime, scope: PermitScope, run_id: str) -> str:
    run = await get_run(session, scope, run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise RunNotSucceeded(f"The run is {run.status}; output exists only for a succeeded run.")
    if run.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    return (await runtime.storage.read(output_key(run))).decode("utf-8", errors="replace")


async def logs_of(session: AsyncSession, scope: PermitScope, run_id: str) -> str:
    run = await get_run(session, scope, run_id)
    if run.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    lines = await repository.log_lines(session, run.id)
    return "".join(f"{iso_utc(moment)} {text}\n" for moment, text in lines)


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None


def _encode_cursor(run: Run) -> str:
    raw = json.dumps([run.created_at.isoformat(), run.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), str(run_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput("The cursor is not one this server issued.") from error


async def list_runs(
    session: AsyncSession, scope: PermitScope, *, statuses: list[RunStatus], limit: int, cursor: str | None
) -> RunPage:
    before = _decode_cursor(cursor) if cursor else None
    runs = list(
        await repository.list_for_task(session, scope, statuses=statuses, limit=limit + 1, before=before)
    )
    page, more = runs[:limit], len(runs) > limit
    return RunPage(runs=page, next_cursor=_encode_cursor(page[-1]) if more and page else None)


async def cancel_run(session: AsyncSession, runtime: Runtime, scope: PermitScope, run_id: str) -> Run:
    """Settle as cancelled and release any reservation; the caller then cancels the workflow."""
    run = await get_run(session, scope, run_id)
    now = runtime.clock.utcnow()
    cancelled = await repository.transition(
        session,
        run.id,
        from_states=CANCELLABLE,
        to=RunStatus.CANCELLED,
        now=now,
        finished_at=now,
        error="cancelled by the user",
    )
    if cancelled is None:
        raise RunAlreadyFinished(f"The run has already settled as {run.status}.")
    if cancelled.estimated_credits is not None:
        await credits.release(
            session,
            runtime.clock,
            installation_id=cancelled.installation_id,
            reserved=cancelled.estimated_credits,
            run_id=cancelled.id,
        )
    await repository.add_event(session, run.id, "status", status_event(cancelled), now)
    await repository.add_event(
        session, run.id, "log", "cancelled by the user; reserved credits released", now
    )
    return cancelled


async def rerun(session: AsyncSession, runtime: Runtime, scope: PermitScope, run_id: str) -> Run:
    """A new run on a copy of the same uploads, started with the same model and instruction."""
    original = await get_run(session, scope, run_id)
    if original.status == RunStatus.INITIALIZED:
        raise RunNotStarted()
    if original.uploads_purged_at is not None:
        raise UploadsIncomplete(list(original.files))
    fresh = await init_run(session, runtime, scope, model=original.model, files=list(original.files))
    for name in original.files:
        data = await runtime.storage.read(upload_key(original, name))
        await runtime.storage.write(
            upload_key(fresh.run, name), data, content_type="text/plain; charset=utf-8"
        )
    fresh.run.rerun_of = original.id
    await session.flush()
    return await start_run(
        session, runtime, scope, fresh.run.id, model=original.model, user_prompt=original.user_prompt
    )


async def usage_of(session: AsyncSession, installation_id: str) -> tuple[list[UsageItem], int]:
    items = list(await repository.recent_usage(session, installation_id, USAGE_ITEMS_SHOWN))
    return items, await credit_balance(session, installation_id)
