"""Run rules on the API side: init, start (estimate, reserve, queue), read, list, cancel, rerun.

Every function takes the permit's scope; a run of another task is `RunNotFound`, never a 403, so
run ids cannot be probed across tasks. Functions take the request's session and only flush; what
the engine must do once the work commits (execute a run, cancel its workflow) is recorded on the
session with `after_commit`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import Database, after_commit, on_commit
from seecodes.errors import (
    ContextTooLarge,
    InvalidInput,
    RunAlreadyFinished,
    RunAlreadyStarted,
    RunArtifactsPurged,
    RunInputsFrozen,
    RunNotFound,
    RunNotStarted,
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
    # Locks the installation's row, so two starts cannot both fit the last credits or bytes. A gated
    # run is checked now (an approval that could never be paid for is noise) but reserves nothing.
    await credits.check(
        session, clock, installation_id=scope.installation_id, project_id=scope.project_id, amount=estimate
    )
    input_bytes = sum(len(data) for _, data in inputs)
    stored = await repository.stored_input_bytes(session, scope.installation_id)
    if stored + input_bytes > storage_quota_bytes:
        raise StorageQuotaExceeded(
            f"The run's {input_bytes} bytes of input and the {stored} already kept would pass the "
            f"installation's {storage_quota_bytes}-byte quota; kept inputs are deleted after their retention."
        )
    estimated = {
        "model": spec.id,
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
            **estimated,
        )
    else:
        started = await reserve_and_queue(
            session,
            clock,
            run,
            project_id=scope.project_id,
            installation_concurrency=installation_concurrency,
            model_concurrency=spec.concurrency,
            log=f"queued: {tokens} input tokens estimated, {estimate} credits reserved",
            **estimated,
        )
    if started is None:  # a concurrent start won; its reservation is the one that stands
        raise RunAlreadyStarted()
    if gated:
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


async def reserve_and_queue(
    session: AsyncSession,
    clock: Clock,
    run: Run,
    *,
    project_id: str,
    installation_concurrency: int,
    model_concurrency: int,
    log: str,
    **values: object,
) -> Run | None:
    """Reserve the run's estimate, give it a dispatch slot and queue it; None when another writer
    moved the run first (this transaction's reservation then rolls back with it). `values` are the
    columns the move sets besides the queue's own; the model and estimate come from them or the run."""
    model = str(values.get("model", run.model))
    estimate = int(str(values.get("estimated_credits", run.estimated_credits or 0)))
    await credits.reserve(
        session,
        clock,
        installation_id=run.installation_id,
        project_id=project_id,
        amount=estimate,
        run_id=run.id,
        model=model,
    )
    own_cap = await repository.installation_run_concurrency(session, run.installation_id)
    slots = installation_slots(own_cap, installation_concurrency, model_concurrency)
    # Under the installation's lock (the reservation above), so concurrent starts see each other.
    slot = least_loaded(await repository.slot_loads(session, run.installation_id, model), slots)
    now = clock.utcnow()
    queued = await repository.move(
        session, run.id, RunStatus.QUEUED, now, dispatch_slot=slot, log=log, queued_at=now, **values
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


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None


def encode_cursor(moment: datetime | None, run_id: str) -> str:
    raw = json.dumps([moment.isoformat() if moment else None, run_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, run_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(created_at)
    except (ValueError, TypeError) as error:
        raise InvalidInput("The cursor is not one this server issued.") from error
    if moment.tzinfo is None:  # ours always carry their UTC offset
        raise InvalidInput("The cursor is not one this server issued.")
    return moment, str(run_id)


async def list_runs(
    session: AsyncSession, scope: PermitScope, *, statuses: list[RunStatus], limit: int, cursor: str | None
) -> RunPage:
    before = decode_cursor(cursor) if cursor else None
    runs = list(
        await repository.list_for_task(session, scope, statuses=statuses, limit=limit + 1, before=before)
    )
    return page_of(runs, limit, lambda run: run.created_at)


async def list_installation_runs(
    session: AsyncSession,
    installation_id: str,
    *,
    project_id: str | None,
    task_id: str | None,
    statuses: list[RunStatus],
    limit: int,
    cursor: str | None,
) -> RunPage:
    """The Jira App's view: its installation's runs, of one project or task if named."""
    if task_id is not None and project_id is None:
        raise InvalidInput("Name the task's projectId with its taskId.")
    before = decode_cursor(cursor) if cursor else None
    runs = list(
        await repository.list_for_installation(
            session,
            installation_id,
            project_id=project_id,
            task_id=task_id,
            statuses=statuses,
            limit=limit + 1,
            before=before,
        )
    )
    return page_of(runs, limit, lambda run: run.created_at)


def page_of(runs: list[Run], limit: int, moment: Callable[[Run], datetime | None]) -> RunPage:
    """`runs` was read with limit + 1: the extra row says there is a next page, which starts after
    the last run shown, by (`moment`, id)."""
    page, more = runs[:limit], len(runs) > limit
    return RunPage(
        runs=page, next_cursor=encode_cursor(moment(page[-1]), page[-1].id) if more and page else None
    )


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


async def rerun(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run on a copy of the same uploads, started with the same model and instruction."""
    original = await get_run(session, scope, run_id)
    if original.status == RunStatus.INITIALIZED:
        raise RunNotStarted()
    if original.uploads_purged_at is not None:
        raise UploadsIncomplete(list(original.files))
    return await _start_from(
        session,
        clock,
        catalog,
        storage,
        scope,
        original,
        model=original.model,
        user_prompt=original.user_prompt,
        extra={},
        marks={"rerun_of": original.id},
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        upload_max_bytes=upload_max_bytes,
        max_unstarted_runs=max_unstarted_runs,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


async def _start_from(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    source: Run,
    *,
    model: str,
    user_prompt: str | None,
    extra: dict[str, bytes],
    marks: dict[str, str],
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run of the task on a copy of `source`'s frozen inputs plus `extra` files, started at
    once: a rerun and a follow-up both. `marks` are the columns that link it to `source`."""
    fresh = await init_run(
        session,
        clock,
        catalog,
        storage,
        scope,
        model=model,
        files=[*source.files, *extra],
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        max_unstarted_runs=max_unstarted_runs,
    )
    inputs = await started_inputs(storage, source, upload_max_bytes=upload_max_bytes)
    for name, data in [*inputs, *extra.items()]:
        await storage.write(upload_key(fresh.run, name), data, content_type="text/plain; charset=utf-8")
    for column, value in marks.items():
        setattr(fresh.run, column, value)
    await session.flush()
    return await start_run(
        session,
        clock,
        catalog,
        storage,
        scope,
        fresh.run.id,
        model=model,
        user_prompt=user_prompt,
        upload_max_bytes=upload_max_bytes,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


FOLLOW_UP_CONTEXT = "previous-run.md"


async def follow_up(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    user_prompt: str,
    model: str | None,
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run that goes on from a succeeded one: the parent's inputs, plus one more file holding
    the parent's instruction and output, and the new instruction. Estimated, gated and charged like
    any start, on the whole context."""
    parent = await get_run(session, scope, run_id)
    if parent.status != RunStatus.SUCCEEDED:
        raise RunNotSucceeded(f"The run is {parent.status}; only a succeeded run can be continued.")
    if parent.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    if parent.uploads_purged_at is not None:
        raise UploadsIncomplete(list(parent.files))
    output = (await storage.read(output_key(parent))).decode("utf-8", errors="replace")
    previous = (
        f"# The previous run ({parent.id})\n\n## Its instruction\n\n{parent.user_prompt or '(none)'}\n\n"
        f"## Its output\n\n{output}\n"
    )
    return await _start_from(
        session,
        clock,
        catalog,
        storage,
        scope,
        parent,
        model=model or parent.model,
        user_prompt=user_prompt,
        extra={_free_name(FOLLOW_UP_CONTEXT, parent.files): previous.encode()},
        marks={"parent_run_id": parent.id},
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        upload_max_bytes=upload_max_bytes,
        max_unstarted_runs=max_unstarted_runs,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


def _free_name(wanted: str, taken: list[str]) -> str:
    """`wanted`, or `wanted` numbered (previous-run-2.md, …) when the parent has a file of that name."""
    stem, dot, suffix = wanted.rpartition(".")
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    return candidate


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
