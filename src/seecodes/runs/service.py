"""Run rules on the API side: init, start (estimate, reserve, queue), read, list, cancel, rerun.

Every function takes the permit's scope; a run of another task is `RunNotFound`, never a 403, so
run ids cannot be probed across tasks. Functions take the request's session and only flush; what
the engine must do once the work commits (execute a run, cancel its workflow) is recorded on the
session with `after_commit`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import Database, after_commit, on_commit
from seecodes.errors import (
    ContextTooLarge,
    RunAlreadyFinished,
    RunAlreadyStarted,
    RunArtifactsPurged,
    RunInputsFrozen,
    RunNotFound,
    RunNotSucceeded,
    StorageQuotaExceeded,
    TooManyUnstartedRuns,
    UploadedFileTooLarge,
    UploadsIncomplete,
)
from seecodes.installations import budgets, credits
from seecodes.installations.repository import credit_balance
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.dispatch import CancelWorkflow, Enqueue
from seecodes.kit.logging import get_logger
from seecodes.models import Run, UsageItem
from seecodes.models.run import RunStatus
from seecodes.runs import repository
from seecodes.runs.catalog import Catalog
from seecodes.runs.layout import output_key, result_zip_key, run_of_upload, started_key, upload_key
from seecodes.runs.prompt import Prompt, build_prompt
from seecodes.runs.storage import ObjectStorage
from seecodes.runs.tokens import count_tokens
from seecodes.security.permits import PermitScope
from seecodes.webhooks import events as webhook_events

EXECUTE_WORKFLOW = "seecodes.runs.execute"
_log = get_logger("seecodes.runs")
USAGE_ITEMS_SHOWN = 100


def queue_name(model: str) -> str:
    """One queue per model alias, so the per-model concurrency limit holds across every executor.

    Partitioned by installation (`dispatch_key`): DBOS visits the partitions that have work in a
    random order at every poll, so one installation's backlog cannot keep another's run waiting."""
    return f"runs:{model}:by-installation"


def legacy_queue_name(model: str) -> str:
    """The unpartitioned queue of earlier releases, still drained: DBOS's partitioned dequeue
    never sees a workflow enqueued without a partition key."""
    return f"runs:{model}"


def dispatch_key(installation_id: str, slot: int) -> str:
    """The run's partition: one of its installation's slots, each executing one run at a time, so
    an installation runs at most as many at once on a model as it has slots."""
    return f"{installation_id}#{slot}"


def drafting_key(installation_id: str) -> str:
    """The partition of an installation's drafting jobs on a model's run queue: one at a time per
    installation, beside its runs' slots and under the model's one concurrency limit."""
    return f"{installation_id}#drafting"


def least_loaded(loads: dict[int, int], slots: int) -> int:
    """The slot with the fewest unfinished runs (the lowest on a tie), so an installation below
    its cap never has a run wait behind another of its own."""
    return min(range(slots), key=lambda slot: (loads.get(slot, 0), slot))


def installation_slots(own_cap: int | None, default_cap: int, model_concurrency: int) -> int:
    """How many runs of one installation may execute at once on a model: its own cap, else the
    deployment's (0: no cap of its own), never more than the model allows."""
    cap = own_cap or default_cap or model_concurrency
    return max(1, min(cap, model_concurrency))


def execution_of(run_id: str, model: str, partition_key: str) -> Enqueue:
    """The workflow that executes a queued run. Its id is the run id, so enqueueing twice is
    harmless; a lost enqueue leaves the run queued, and the sweep job enqueues it again."""
    return Enqueue(
        queue=queue_name(model),
        workflow=EXECUTE_WORKFLOW,
        workflow_id=run_id,
        args=(run_id,),
        partition_key=partition_key,
    )


@dataclass(frozen=True, slots=True)
class InitializedRun:
    run: Run
    bucket: str
    uploads: dict[str, str]


async def init_run(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    *,
    model: str | None,
    files: list[str],
    upload_url_ttl_seconds: int,
    max_unstarted_runs: int,
) -> InitializedRun:
    """A run waiting for its uploads. Each costs nothing until it starts, so an installation may
    hold only so many (they expire, see `execution.expire_unstarted`)."""
    if await repository.unstarted_count(session, scope.installation_id) >= max_unstarted_runs:
        raise TooManyUnstartedRuns()
    spec = catalog.get(model) if model else catalog.default
    now = clock.utcnow()
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
    await repository.add_run(
        session, run, now, log=f"initialized for model {spec.id!r} with files {', '.join(files)}"
    )
    uploads = {
        name: await storage.upload_url(upload_key(run, name), expires_in=upload_url_ttl_seconds)
        for name in files
    }
    return InitializedRun(run=run, bucket=storage.bucket, uploads=uploads)


async def get_run(session: AsyncSession, scope: PermitScope, run_id: str, *, for_update: bool = False) -> Run:
    run = await repository.get_for_task(session, scope, run_id, for_update=for_update)
    if run is None:
        raise RunNotFound()
    return run


async def read_inputs(
    storage: ObjectStorage, run: Run, *, upload_max_bytes: int, started: bool = False
) -> list[tuple[str, bytes]]:
    """The run's files in declared order: the uploads (before start) or the copies start froze.
    Missing or oversize files refuse."""
    key = started_key if started else upload_key
    sizes = await asyncio.gather(*(storage.size(key(run, name)) for name in run.files))
    missing = [name for name, size in zip(run.files, sizes, strict=True) if size is None]
    if missing:
        raise UploadsIncomplete(missing)
    # A presigned S3 PUT cannot cap its size, so the cap is enforced here, before anything is read.
    limit = upload_max_bytes
    oversize = [
        name for name, size in zip(run.files, sizes, strict=True) if size is not None and size > limit
    ]
    if oversize:
        raise UploadedFileTooLarge(f"{', '.join(oversize)} exceed the {limit}-byte per-file limit.")
    contents = await asyncio.gather(*(storage.read(key(run, name)) for name in run.files))
    return list(zip(run.files, contents, strict=True))


async def started_inputs(
    storage: ObjectStorage, run: Run, *, upload_max_bytes: int
) -> list[tuple[str, bytes]]:
    """What a started run runs on: the copies start froze (it records their size in `input_bytes`);
    a run started before they existed has only its uploads."""
    return await read_inputs(
        storage, run, upload_max_bytes=upload_max_bytes, started=run.input_bytes is not None
    )


def prompt_of(inputs: list[tuple[str, bytes]], instruction: str | None) -> Prompt:
    return build_prompt(
        [(name, data.decode("utf-8", errors="replace")) for name, data in inputs], instruction
    )


async def start_run(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    model: str | None,
    user_prompt: str | None,
    upload_max_bytes: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """Estimate, reserve and queue; the run is executed once this transaction commits. A run whose
    estimate reaches the installation's approval threshold waits instead, reserving nothing.

    What was estimated is frozen: the bytes counted are copied to keys no URL was signed for, and
    the executor reads only those (a signed S3 PUT URL cannot be revoked; the local backend also
    refuses its own, see `check_upload_open`)."""
    run = await get_run(session, scope, run_id)
    if run.status != RunStatus.INITIALIZED:
        raise RunAlreadyStarted(f"The run is already {run.status}.")
    spec = catalog.usable(model or run.model)
    inputs = await read_inputs(storage, run, upload_max_bytes=upload_max_bytes)
    prompt = prompt_of(inputs, user_prompt)
    tokens = await asyncio.to_thread(count_tokens, prompt.text)
    if tokens > spec.max_context:
        raise ContextTooLarge(
            f"The uploads and prompt are {tokens} tokens; model {spec.id!r} accepts {spec.max_context}."
        )
    estimate = credits.run_cost(spec.pricing.base, spec.pricing.per_token, tokens)
    threshold = await budgets.approval_threshold(session, scope.installation_id)
    gated = threshold is not None and estimate >= threshold
    # Both lock the installation's row until the commit, so two starts cannot both fit the last
    # credits, budget or bytes. A gated run is checked now (an approval that could never be paid for
    # is noise) but reserves nothing.
    if gated:
        await credits.check(
            session,
            clock,
            installation_id=scope.installation_id,
            project_id=scope.project_id,
            amount=estimate,
        )
    else:
        await credits.reserve(
            session,
            clock,
            installation_id=scope.installation_id,
            project_id=scope.project_id,
            amount=estimate,
            run_id=run.id,
            model=spec.id,
        )
    input_bytes = sum(len(data) for _, data in inputs)
    stored = await repository.stored_input_bytes(session, scope.installation_id)
    if stored + input_bytes > storage_quota_bytes:
        raise StorageQuotaExceeded(
            f"The run's {input_bytes} bytes of input and the {stored} already kept would pass the "
            f"installation's {storage_quota_bytes}-byte quota; kept inputs are deleted after their retention."
        )
    estimated = {
        "user_prompt": user_prompt,
        "estimated_input_tokens": tokens,
        "estimated_credits": estimate,
        "input_bytes": input_bytes,
    }
    now = clock.utcnow()
    if gated:
        started = await repository.move(
            session,
            run.id,
            RunStatus.AWAITING_APPROVAL,
            now,
            log=f"awaiting approval: {tokens} input tokens estimated, {estimate} credits, at or above the "
            f"installation's approval threshold of {threshold}; nothing reserved",
            approval_requested_at=now,
            model=spec.id,
            **estimated,
        )
    else:
        started = await queue(
            session,
            clock,
            run,
            model=spec.id,
            installation_concurrency=installation_concurrency,
            model_concurrency=spec.concurrency,
            log=f"queued: {tokens} input tokens estimated, {estimate} credits reserved",
            **estimated,
        )
    if started is None:  # a concurrent start won; its reservation is the one that stands
        raise RunAlreadyStarted()
    if gated:
        await webhook_events.approval_requested(session, started, now)
        on_commit(
            session,
            partial(
                _log.info,
                "approval_requested",
                run_id=started.id,
                installation_id=started.installation_id,
                project_id=started.project_id,
                task_id=started.task_id,
                credits=estimate,
                threshold=threshold,
            ),
        )
    for name, data in inputs:
        await storage.write(started_key(started, name), data, content_type="application/octet-stream")
    return started


async def queue(
    session: AsyncSession,
    clock: Clock,
    run: Run,
    *,
    model: str,
    installation_concurrency: int,
    model_concurrency: int,
    log: str,
    **values: object,
) -> Run | None:
    """Give a run whose estimate is reserved (in this transaction, under the installation's lock) a
    dispatch slot and queue it; None when another writer moved the run first (the reservation then
    rolls back with it). `values` are the columns the move sets besides the queue's own."""
    own_cap = await repository.installation_run_concurrency(session, run.installation_id)
    slots = installation_slots(own_cap, installation_concurrency, model_concurrency)
    # Under the installation's lock (the reservation), so concurrent starts see each other.
    slot = least_loaded(await repository.slot_loads(session, run.installation_id, model), slots)
    now = clock.utcnow()
    queued = await repository.move(
        session,
        run.id,
        RunStatus.QUEUED,
        now,
        dispatch_slot=slot,
        log=log,
        queued_at=now,
        model=model,
        **values,
    )
    if queued is not None:
        after_commit(session, execution_of(queued.id, queued.model, dispatch_key(run.installation_id, slot)))
    return queued


@dataclass(frozen=True, slots=True)
class RunView:
    run: Run
    result_zip_url: str | None


async def view(
    session: AsyncSession,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    download_url_ttl_seconds: int,
) -> RunView:
    run = await get_run(session, scope, run_id)
    url = None
    if run.status == RunStatus.SUCCEEDED and run.artifacts_purged_at is None:
        url = await storage.download_url(
            result_zip_key(run),
            expires_in=download_url_ttl_seconds,
            filename=f"{run.task_id}-{run.id}.zip",
        )
    return RunView(run=run, result_zip_url=url)


async def output_of(session: AsyncSession, storage: ObjectStorage, scope: PermitScope, run_id: str) -> str:
    return await output_text(storage, await get_run(session, scope, run_id))


async def output_text(storage: ObjectStorage, run: Run) -> str:
    if run.status != RunStatus.SUCCEEDED:
        raise RunNotSucceeded(f"The run is {run.status}; output exists only for a succeeded run.")
    if run.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    return (await storage.read(output_key(run))).decode("utf-8", errors="replace")


async def logs_of(session: AsyncSession, scope: PermitScope, run_id: str) -> str:
    return await log_text(session, await get_run(session, scope, run_id))


async def log_text(session: AsyncSession, run: Run) -> str:
    if run.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    lines = await repository.log_lines(session, run.id)
    return "".join(f"{iso_utc(moment)} {text}\n" for moment, text in lines)


async def cancel_run(session: AsyncSession, clock: Clock, scope: PermitScope, run_id: str) -> Run:
    """The IDE cancels one of its task's runs (see `cancel`)."""
    return await cancel(session, clock, await get_run(session, scope, run_id, for_update=True), by="the user")


async def cancel_installation_run(
    session: AsyncSession, clock: Clock, installation_id: str, run_id: str, *, by: str
) -> Run:
    """The Jira App (or an operator) cancels any run of its installation (see `cancel`)."""
    run = await repository.get_of_installation(session, installation_id, run_id, for_update=True)
    if run is None:
        raise RunNotFound("No run with this id exists for this installation.")
    return await cancel(session, clock, run, by=by)


async def cancel(session: AsyncSession, clock: Clock, run: Run, *, by: str) -> Run:
    """Settle `run` (read under its row lock) as cancelled; the workflow is cancelled after the
    commit. Before the model was called the reservation is released; once it was
    (processing_remote), the input was sent and paid for, so the reservation (the input's cost) is
    charged."""
    called = run.status == RunStatus.PROCESSING_REMOTE
    # A run awaiting approval has an estimate but reserved nothing: nothing goes back.
    reserved = None if run.status == RunStatus.AWAITING_APPROVAL else run.estimated_credits
    now = clock.utcnow()
    cancelled = await repository.move(
        session,
        run.id,
        RunStatus.CANCELLED,
        now,
        log=(
            f"cancelled by {by} after the model was called; {reserved} reserved credits charged"
            if called
            else f"cancelled by {by}; reserved credits released"
            if reserved is not None
            else f"cancelled by {by}; nothing was reserved"
        ),
        finished_at=now,
        error=f"cancelled by {by}",
        credits_charged=reserved if called else None,
    )
    if cancelled is None:
        raise RunAlreadyFinished(f"The run has already settled as {run.status}.")
    if reserved is not None and called:
        await credits.settle(
            session,
            clock,
            installation_id=cancelled.installation_id,
            reserved=reserved,
            charged=reserved,
            run_id=run.id,
            model=cancelled.model,
        )
        await repository.add_usage(
            session,
            cancelled,
            input_tokens=cancelled.estimated_input_tokens or 0,
            output_tokens=0,
            credits=reserved,
            now=now,
        )
        await budgets.note_spend(
            session, clock, installation_id=cancelled.installation_id, project_id=cancelled.project_id
        )
    elif reserved is not None:
        await credits.release(
            session,
            clock,
            installation_id=cancelled.installation_id,
            reserved=reserved,
            run_id=cancelled.id,
            model=cancelled.model,
        )
    after_commit(session, CancelWorkflow(cancelled.id))
    return cancelled


async def usage_of(session: AsyncSession, installation_id: str) -> tuple[list[UsageItem], int]:
    items = list(await repository.recent_usage(session, installation_id, USAGE_ITEMS_SHOWN))
    return items, await credit_balance(session, installation_id)


async def check_upload_open(db: Database, key: str) -> None:
    """A signed upload URL of a run writes only until the run starts; afterwards the inputs are
    what the estimate counted (the local backend asks before storing; S3 cannot, see start_run).
    Its own short unit of work: the upload that follows streams for as long as the client takes,
    and no transaction may stay open meanwhile."""
    run_id = run_of_upload(key)
    if run_id is None:
        return
    async with db.transaction() as session:
        run = await repository.get(session, run_id)
    if run is not None and run.status != RunStatus.INITIALIZED:
        raise RunInputsFrozen()
