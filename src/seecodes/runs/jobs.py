"""The run workflow and the runs' scheduled housekeeping, as DBOS workflows.

execute_run is the whole life of a started run: claim → call the model → settle. DBOS records each
step's result, so after a crash the workflow resumes at the first unfinished step; the steps
themselves are idempotent (see execution.py), so credits settle exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS

from seecodes.engine import QueueSpec, ScheduleSpec
from seecodes.kit.logging import get_logger
from seecodes.runs import approvals, execution, repository
from seecodes.runs.catalog import availability_of
from seecodes.runs.service import (
    EXECUTE_WORKFLOW,
    dispatch_key,
    execution_of,
    legacy_queue_name,
    queue_name,
)
from seecodes.runtime import Runtime, executing_runtime

_log = get_logger("seecodes.runs.jobs")

# Earlier releases' unpartitioned queues are drained this slowly: nothing new is enqueued on them.
LEGACY_QUEUE_POLL_SECONDS = 5.0
# A queued run whose enqueue was lost (the API process died between commit and enqueue) is
# re-enqueued after this long; enqueueing is idempotent on the run id.
REQUEUE_AFTER = timedelta(seconds=30)
SWEEP_BATCH = 200


def run_queues(runtime: Runtime) -> Sequence[QueueSpec]:
    """One queue per model; this executor polls only those it can run (key or local model here).

    The model's concurrency holds across the queue; each partition (an installation's slot,
    `service.dispatch_key`) runs one workflow at a time."""
    queues = []
    for spec in runtime.catalog:
        availability = availability_of(spec)
        if not availability.ok:
            _log.info("run_queue_not_polled", model=spec.id, reason=availability.reason)
        queues.append(
            QueueSpec(
                queue_name(spec.id),
                global_concurrency=spec.concurrency,
                partition_concurrency=1,
                listen=availability.ok,
            )
        )
        queues.append(
            QueueSpec(
                legacy_queue_name(spec.id),
                global_concurrency=spec.concurrency,
                poll_seconds=LEGACY_QUEUE_POLL_SECONDS,
                listen=availability.ok,
            )
        )
    return queues


@DBOS.step(name="seecodes.runs.claim")
async def claim_step(run_id: str) -> bool:
    runtime = executing_runtime()
    return await execution.claim(runtime.db, runtime.clock, run_id, executor=DBOS.executor_id or "local")


@DBOS.step(name="seecodes.runs.call_model", preemptible=True)
async def call_model_step(run_id: str) -> tuple[int, int]:
    runtime = executing_runtime()
    result = await execution.call_model(
        runtime.db, runtime.clock, runtime.catalog, runtime.storage, runtime.settings, run_id
    )
    return result.input_tokens, result.output_tokens


@DBOS.step(name="seecodes.runs.succeed")
async def succeed_step(run_id: str, input_tokens: int, output_tokens: int) -> None:
    runtime = executing_runtime()
    await execution.succeed(
        runtime.db, runtime.clock, runtime.catalog, run_id, execution.ModelResult(input_tokens, output_tokens)
    )


@DBOS.step(name="seecodes.runs.fail")
async def fail_step(run_id: str, reason: str) -> None:
    runtime = executing_runtime()
    await execution.fail(runtime.db, runtime.clock, run_id, reason)


@DBOS.workflow(name=EXECUTE_WORKFLOW)
async def execute_run(run_id: str) -> str:
    if not await claim_step(run_id):
        return "skipped"
    try:
        input_tokens, output_tokens = await call_model_step(run_id)
    except execution.RunGone:
        return "gone"
    except Exception as error:  # every failure settles the run; the reason is what the user reads
        await fail_step(run_id, execution.describe_failure(error))
        return "failed"
    await succeed_step(run_id, input_tokens, output_tokens)
    return "succeeded"


@DBOS.step(name="seecodes.runs.requeue_lost")
async def requeue_lost_step() -> int:
    runtime = executing_runtime()
    async with runtime.db.transaction() as session:
        lost = await repository.queued_before(session, runtime.clock.utcnow() - REQUEUE_AFTER, SWEEP_BATCH)
    await runtime.db.send(
        [
            execution_of(run_id, model, dispatch_key(installation, slot))
            for run_id, model, installation, slot in lost
        ]
    )
    return len(lost)


@DBOS.workflow(name="seecodes.runs.sweep")
async def sweep(scheduled_time: datetime, context: Any) -> None:
    requeued = await requeue_lost_step()
    if requeued:
        _log.info("runs_requeued", count=requeued)


@DBOS.step(name="seecodes.runs.purge_uploads")
async def purge_uploads_step() -> int:
    runtime = executing_runtime()
    return await execution.purge_uploads(
        runtime.db, runtime.clock, runtime.storage, retention_hours=runtime.settings.uploads_retention_hours
    )


@DBOS.step(name="seecodes.runs.expire_unstarted")
async def expire_unstarted_step() -> int:
    runtime = executing_runtime()
    return await execution.expire_unstarted(
        runtime.db, runtime.clock, runtime.storage, expire_hours=runtime.settings.unstarted_runs_expire_hours
    )


@DBOS.step(name="seecodes.runs.expire_approvals")
async def expire_approvals_step() -> int:
    runtime = executing_runtime()
    return await approvals.expire(
        runtime.db, runtime.clock, expire_hours=runtime.settings.approval_expire_hours
    )


@DBOS.step(name="seecodes.runs.purge_artifacts")
async def purge_artifacts_step() -> int:
    runtime = executing_runtime()
    return await execution.purge_artifacts(
        runtime.db, runtime.clock, runtime.storage, retention_days=runtime.settings.artifacts_retention_days
    )


@DBOS.workflow(name="seecodes.runs.purge")
async def purge(scheduled_time: datetime, context: Any) -> None:
    purged = await purge_uploads_step()
    if purged:
        _log.info("run_uploads_purged", runs=purged)
    expired = await purge_artifacts_step()
    if expired:
        _log.info("run_artifacts_purged", runs=expired)
    unstarted = await expire_unstarted_step()
    if unstarted:
        _log.info("unstarted_runs_expired", runs=unstarted)
    undecided = await expire_approvals_step()
    if undecided:
        _log.info("approvals_expired", runs=undecided)


SCHEDULES = (
    ScheduleSpec("seecodes.runs.sweep", sweep, "* * * * *"),
    ScheduleSpec("seecodes.runs.purge", purge, "*/10 * * * *"),
)
