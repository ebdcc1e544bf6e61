"""Run rules on the executing side: claim, call the model, settle. Each function is one workflow step.

Steps reload the run by id and move it with conditional UPDATEs, so a step that runs twice (a worker
killed after the step's effect but before DBOS recorded it) changes nothing the second time, and a
run cancelled meanwhile is never resurrected. Credits move only together with the state change
that justifies them, in the same transaction. A step is a job's work: it takes the `Database` and
owns its units of work (several while the model streams, none held across a provider call).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from seecodes.config import Settings
from seecodes.db import Database
from seecodes.installations import budgets, credits
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.logging import get_logger
from seecodes.models.run import EXECUTING, Run, RunStatus
from seecodes.runs import repository
from seecodes.runs.catalog import Catalog
from seecodes.runs.layout import input_prefixes, output_key, result_zip_key
from seecodes.runs.providers import build_provider
from seecodes.runs.providers.base import StreamEvent, TextDelta, Usage
from seecodes.runs.service import prompt_of, started_inputs
from seecodes.runs.storage import ObjectStorage
from seecodes.runs.tokens import count_tokens

_log = get_logger("seecodes.runs")

# Output deltas are batched into one event per interval, so a fast model does not write a row per token.
OUTPUT_FLUSH_SECONDS = 0.25
OUTPUT_FLUSH_CHARS = 4096


class RunTimedOut(Exception):
    """The provider did not finish within the run timeout."""


class InputsChanged(Exception):
    """What the executor would send is not what start estimated and reserved for."""

    def __init__(self, counted: int, estimated: int | None) -> None:
        self.reason = (
            f"the run's inputs are not the ones start estimated ({counted} tokens now, "
            f"{estimated} estimated); nothing was sent to the model"
        )
        super().__init__(self.reason)


class RunGone(Exception):
    """The run was cancelled (or settled) while this step waited; there is nothing left to do."""


@dataclass(frozen=True, slots=True)
class ModelResult:
    input_tokens: int
    output_tokens: int


async def claim(db: Database, clock: Clock, run_id: str, executor: str) -> bool:
    async with db.transaction() as session:
        now = clock.utcnow()
        run = await repository.move(session, run_id, RunStatus.IN_PROCESS, now, claimed_at=now)
        if run is not None:
            waited = (now - run.queued_at).total_seconds() * 1000 if run.queued_at else 0.0
            await repository.add_event(
                session, run_id, "log", f"claimed by {executor} after {waited:.0f} ms in queue", now
            )
            return True
        current = await repository.get(session, run_id)
        if current is not None and current.status in EXECUTING:
            await repository.add_event(
                session, run_id, "log", f"resumed by {executor} after an interruption", now
            )
            return True
        return False


async def call_model(
    db: Database, clock: Clock, catalog: Catalog, storage: ObjectStorage, settings: Settings, run_id: str
) -> ModelResult:
    async with db.transaction() as session:
        run = await repository.get(session, run_id)
    if run is None or run.status not in EXECUTING:
        raise RunGone()
    spec = catalog.get(run.model)
    # An older run read from its uploads is held to its estimate by the token check below.
    inputs = await started_inputs(storage, run, upload_max_bytes=settings.upload_max_bytes)
    prompt = prompt_of(inputs, run.user_prompt)
    prompt_tokens = await asyncio.to_thread(count_tokens, prompt.text)
    if prompt_tokens != run.estimated_input_tokens:
        raise InputsChanged(prompt_tokens, run.estimated_input_tokens)
    async with db.transaction() as session:
        now = clock.utcnow()
        moved = await repository.move(session, run_id, RunStatus.PROCESSING_REMOTE, now)
        if moved is None:
            raise RunGone()
        if run.status == RunStatus.PROCESSING_REMOTE:
            # Only an executor that stopped mid-call leaves this state behind; say why the
            # provider is called a second time (the first answer is discarded).
            await repository.add_event(
                session, run_id, "log", "the previous provider call was interrupted; calling it again", now
            )
        if await repository.has_output_events(session, run_id):
            # A retry after a crash streams the answer again from the start.
            await repository.add_event(session, run_id, "reset", "{}", now)
        await repository.add_event(session, run_id, "log", f"prompt built with {prompt_tokens} tokens", now)
        await repository.add_event(
            session, run_id, "log", f"provider called: {spec.provider.kind.value} model {spec.id!r}", now
        )
    provider = build_provider(spec, settings)
    try:
        async with asyncio.timeout(settings.run_timeout_seconds):
            text, usage = await _stream(
                db,
                clock,
                run,
                provider.stream(prompt.system, prompt.user, max_output_tokens=spec.max_output_tokens),
            )
    except TimeoutError as error:
        raise RunTimedOut(f"the run timed out after {settings.run_timeout_seconds:g} s") from error
    finally:
        await provider.close()
    await _store_artifacts(storage, run, text, usage)
    return ModelResult(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


async def _stream(
    db: Database, clock: Clock, run: Run, events: AsyncIterator[StreamEvent]
) -> tuple[str, Usage]:
    chunks: list[str] = []
    pending: list[str] = []
    usage: Usage | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()
    last_flush = started

    async def flush() -> None:
        nonlocal last_flush
        if pending:
            async with db.transaction() as session:
                await repository.add_event(session, run.id, "output", "".join(pending), clock.utcnow())
            pending.clear()
        last_flush = loop.time()

    async for event in events:
        if isinstance(event, TextDelta):
            if not chunks:
                elapsed_ms = (loop.time() - started) * 1000
                async with db.transaction() as session:
                    now = clock.utcnow()
                    await repository.set_values(session, run.id, now, first_token_at=now)
                    await repository.add_event(
                        session, run.id, "log", f"first token after {elapsed_ms:.0f} ms", now
                    )
            chunks.append(event.text)
            pending.append(event.text)
            if (
                loop.time() - last_flush >= OUTPUT_FLUSH_SECONDS
                or sum(map(len, pending)) >= OUTPUT_FLUSH_CHARS
            ):
                await flush()
        elif isinstance(event, Usage):
            usage = event
    await flush()
    text = "".join(chunks)
    if usage is None:  # a provider that reports nothing: count what we sent and got
        usage = Usage(input_tokens=count_tokens(run.user_prompt or ""), output_tokens=count_tokens(text))
    return text, usage


async def _store_artifacts(storage: ObjectStorage, run: Run, text: str, usage: Usage) -> None:
    manifest = {
        "runId": run.id,
        "projectId": run.project_id,
        "taskId": run.task_id,
        "model": run.model,
        "files": run.files,
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "createdAt": iso_utc(run.created_at),
        "outputs": ["output.md"],
    }
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("output.md", text)
        bundle.writestr("manifest.json", json.dumps(manifest, indent=2))
    await storage.write(output_key(run), text.encode(), content_type="text/markdown; charset=utf-8")
    await storage.write(result_zip_key(run), archive.getvalue(), content_type="application/zip")


async def succeed(db: Database, clock: Clock, catalog: Catalog, run_id: str, result: ModelResult) -> None:
    async with db.transaction() as session:
        run = await repository.get(session, run_id)
        if run is None:
            return
        spec = catalog.get(run.model)
        cost = credits.run_cost(
            spec.pricing.base, spec.pricing.per_token, result.input_tokens + result.output_tokens
        )
        reserved = run.estimated_credits or 0
        charged = await credits.cover(
            session, installation_id=run.installation_id, reserved=reserved, charge=cost
        )
        uncovered = f"; {cost - charged} not covered by the balance" if charged < cost else ""
        now = clock.utcnow()
        settled = await repository.move(
            session,
            run_id,
            RunStatus.SUCCEEDED,
            now,
            log=f"finished: {result.input_tokens} tokens in, {result.output_tokens} tokens out; "
            f"{charged} credits charged ({reserved} reserved{uncovered})",
            finished_at=now,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            credits_charged=charged,
        )
        if settled is None:
            return
        await credits.settle(
            session,
            clock,
            installation_id=settled.installation_id,
            reserved=reserved,
            charged=charged,
            run_id=run_id,
            model=settled.model,
        )
        await repository.add_usage(
            session,
            settled,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            credits=charged,
            now=now,
        )
        await budgets.note_spend(
            session, clock, installation_id=settled.installation_id, project_id=settled.project_id
        )
    _log.info("run_succeeded", run_id=run_id, credits=charged)


async def fail(db: Database, clock: Clock, run_id: str, reason: str) -> None:
    async with db.transaction() as session:
        now = clock.utcnow()
        settled = await repository.move(
            session,
            run_id,
            RunStatus.FAILED,
            now,
            log=f"failed: {reason}; reserved credits released",
            finished_at=now,
            error=reason,
        )
        if settled is None:
            return
        if settled.estimated_credits is not None:
            await credits.release(
                session,
                clock,
                installation_id=settled.installation_id,
                reserved=settled.estimated_credits,
                run_id=run_id,
                model=settled.model,
            )
    _log.info("run_failed", run_id=run_id, reason=reason)


def describe_failure(error: BaseException) -> str:
    """Words safe to show the user: the provider's reason, a timeout, or the kind of internal error."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    if isinstance(error, RunTimedOut):
        return str(error)
    return f"internal error ({type(error).__name__})"


async def purge_uploads(
    db: Database, clock: Clock, storage: ObjectStorage, *, retention_hours: float, batch: int = 200
) -> int:
    """Delete the uploaded context of runs settled longer ago than the retention; outputs stay."""
    async with db.transaction() as session:
        runs = await repository.settled_before(
            session, clock.utcnow() - timedelta(hours=retention_hours), batch, not_yet_purged="uploads"
        )
    for run in runs:
        for prefix in input_prefixes(run):
            await storage.delete_prefix(prefix)
        async with db.transaction() as session:
            now = clock.utcnow()
            await repository.set_values(session, run.id, now, uploads_purged_at=now)
            await repository.add_event(session, run.id, "log", "uploaded context purged (retention)", now)
    return len(runs)


async def expire_unstarted(
    db: Database, clock: Clock, storage: ObjectStorage, *, expire_hours: float, batch: int = 200
) -> int:
    """Runs initialized and never started within `expire_hours`: cancelled, their uploads deleted.
    They reserved nothing, so no credit moves."""
    async with db.transaction() as session:
        stale = await repository.unstarted_before(
            session, clock.utcnow() - timedelta(hours=expire_hours), batch
        )
    expired = 0
    for run in stale:
        async with db.transaction() as session:
            now = clock.utcnow()
            cancelled = await repository.move(
                session,
                run.id,
                RunStatus.CANCELLED,
                now,
                log=f"expired: not started within {expire_hours:g} h; its uploads are deleted",
                finished_at=now,
                uploads_purged_at=now,
                error="expired before it was started",
            )
        if cancelled is None:
            continue  # started (or cancelled) meanwhile
        for prefix in input_prefixes(run):
            await storage.delete_prefix(prefix)
        expired += 1
    return expired


async def purge_artifacts(
    db: Database,
    clock: Clock,
    storage: ObjectStorage,
    *,
    retention_days: float,
    batch: int = 200,
    events_batch: int = 500,
) -> int:
    """With SEECODES_ARTIFACTS_RETENTION_DAYS set, delete the output files and the event history
    (logs, output deltas) of runs settled longer ago. The run row, its usage row and the credit
    ledger stay: they are the installation's billing history."""
    if retention_days <= 0:
        return 0
    async with db.transaction() as session:
        runs = await repository.settled_before(
            session, clock.utcnow() - timedelta(days=retention_days), batch, not_yet_purged="artifacts"
        )
    for run in runs:
        await storage.delete_prefix(run.storage_prefix)
        # The events go `events_batch` at a time, each batch a transaction of its own: one statement
        # for a long run's thousands of output deltas would hold SQLite's one writer until all were
        # gone. The run is marked with its last batch, so one interrupted half-way is picked up again.
        purged = False
        while not purged:
            async with db.transaction() as session:
                purged = await repository.delete_events(session, run.id, limit=events_batch) < events_batch
                if purged:
                    now = clock.utcnow()
                    await repository.set_values(
                        session,
                        run.id,
                        now,
                        artifacts_purged_at=now,
                        uploads_purged_at=run.uploads_purged_at or now,
                    )
    return len(runs)
