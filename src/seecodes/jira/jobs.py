"""Progress write-back as DBOS workflows: debounced per issue, then serialised per Jira site.

Two stages, because DBOS 3.4 refuses deduplication on a partitioned queue:

1. `seecodes.jira.progress_debounced` on the plain queue `seecodes.jira.debounce`, enqueued with
   `delay_seconds = jira_debounce_seconds` and the issue as deduplication id ("return-existing"):
   every POST for that issue while the job is still waiting (or running) attaches to it, so a burst
   of POSTs becomes one write. It only hands over to stage 2, after every POST that attached to it
   committed its report, so stage 2 reads the newest one.
2. `seecodes.jira.write_progress` on `seecodes.jira.site`, partitioned by the site's cloudId with
   concurrency 1: one write at a time per site. A 429 makes the workflow sleep (durably) for
   Retry-After and try again, at most `jira_max_retries` times; a Retry-After beyond
   `jira_max_retry_after_seconds` gives up at once. Giving up marks the sync failed with the reason.

The POST records the request and its stage-1 enqueue in its own transaction
(`writeback.progress_saved`); a report whose enqueue failed (engine down, process died right after
the commit) is found by the minute sweep, or by the next POST for the issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS

from seecodes.config import Settings
from seecodes.engine import QueueSpec, ScheduleSpec
from seecodes.jira import repository, writeback
from seecodes.jira.execution import service as tickets
from seecodes.jira.writeback import DEBOUNCE_QUEUE, DEBOUNCED_WORKFLOW, SITE_QUEUE, WRITE_WORKFLOW
from seecodes.kit.dispatch import Enqueue
from seecodes.kit.logging import get_logger
from seecodes.runtime import Runtime, executing_runtime

_log = get_logger("seecodes.jira.jobs")

SWEEP_BATCH = 100
MAX_CATCH_UP_ROUNDS = 3
# Back-off for network failures and 5xx when Jira gives no Retry-After.
UNAVAILABLE_BACKOFF_SECONDS = (2.0, 5.0, 15.0, 30.0, 60.0)


# Jira writes wait out a debounce window (10 s by default) anyway: polling at a tenth of it adds at
# most 10 % to that wait, and at 1 s costs two queries a second per executor instead of forty at
# the run queues' 50 ms. Never faster than the run queues poll.
MAX_QUEUE_POLL_SECONDS = 1.0


def queue_poll_seconds(settings: Settings) -> float:
    return max(
        settings.run_queue_poll_seconds, min(MAX_QUEUE_POLL_SECONDS, settings.jira_debounce_seconds / 10)
    )


def jira_queues(runtime: Runtime) -> Sequence[QueueSpec]:
    poll = queue_poll_seconds(runtime.settings)
    return [
        QueueSpec(DEBOUNCE_QUEUE, global_concurrency=20, poll_seconds=poll),
        QueueSpec(SITE_QUEUE, partition_concurrency=1, poll_seconds=poll),
    ]


@DBOS.step(name="seecodes.jira.site_of")
async def site_of_step(installation_id: str) -> str | None:
    """The cloudId writes for this installation go to (no token is read)."""
    async with executing_runtime().db.transaction() as session:
        connection = await repository.live_connection(session, installation_id)
        if connection is not None and connection.is_active:
            return connection.cloud_id
        forge = await repository.forge_token(session, installation_id)
        return forge.cloud_id if forge is not None else None


@DBOS.workflow(name=DEBOUNCED_WORKFLOW)
async def progress_debounced(installation_id: str, project_id: str, task_id: str) -> str:
    cloud_id = await site_of_step(installation_id)
    if cloud_id is None:
        await fail_step(
            installation_id, project_id, task_id, None, "no_active_integration: nothing to write with"
        )
        return "no_access"
    await executing_runtime().engine.enqueue(
        Enqueue(
            queue=SITE_QUEUE,
            workflow=WRITE_WORKFLOW,
            workflow_id=f"{DBOS.workflow_id}-write",
            args=(installation_id, project_id, task_id),
            partition_key=cloud_id,
        )
    )
    return "handed_over"


@DBOS.step(name="seecodes.jira.write_once")
async def write_once_step(installation_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    runtime = executing_runtime()
    attempt = await writeback.write_once(
        runtime.db,
        runtime.clock,
        runtime.settings,
        installation_id=installation_id,
        project_id=project_id,
        task_id=task_id,
    )
    return attempt.as_dict()  # checkpointed by DBOS: holds no token


@DBOS.step(name="seecodes.jira.still_pending")
async def still_pending_step(installation_id: str, project_id: str, task_id: str) -> bool:
    return await writeback.still_pending(
        executing_runtime().db, installation_id=installation_id, project_id=project_id, task_id=task_id
    )


@DBOS.step(name="seecodes.jira.fail")
async def fail_step(
    installation_id: str, project_id: str, task_id: str, report_id: int | None, reason: str
) -> None:
    runtime = executing_runtime()
    await writeback.mark_failed(
        runtime.db,
        runtime.clock,
        installation_id=installation_id,
        project_id=project_id,
        task_id=task_id,
        report_id=report_id,
        reason=reason,
    )


@DBOS.workflow(name=WRITE_WORKFLOW)
async def write_progress(installation_id: str, project_id: str, task_id: str) -> str:
    settings = executing_runtime().settings
    retries = rounds = 0
    while True:
        attempt = writeback.Attempt.from_dict(await write_once_step(installation_id, project_id, task_id))
        if attempt.status in ("synced", "skipped"):
            # A POST that attached to stage 1 after this write read its report is not lost: write again.
            if rounds < MAX_CATCH_UP_ROUNDS and await still_pending_step(
                installation_id, project_id, task_id
            ):
                rounds += 1
                await DBOS.sleep_async(settings.jira_debounce_seconds)
                continue
            return attempt.status
        if attempt.status == "failed":
            await fail_step(
                installation_id, project_id, task_id, attempt.report_id, attempt.reason or "refused"
            )
            return "failed"
        if attempt.status == "rate_limited":
            wait = attempt.retry_after or UNAVAILABLE_BACKOFF_SECONDS[0]
        else:
            wait = UNAVAILABLE_BACKOFF_SECONDS[min(retries, len(UNAVAILABLE_BACKOFF_SECONDS) - 1)]
        if retries >= settings.jira_max_retries or wait > settings.jira_max_retry_after_seconds:
            reason = f"gave up after {retries + 1} attempts: {attempt.reason or attempt.status}"
            await fail_step(installation_id, project_id, task_id, attempt.report_id, reason)
            return "failed"
        retries += 1
        await DBOS.sleep_async(wait)


@DBOS.step(name="seecodes.jira.draft")
async def draft_step(model: str, document: str) -> dict[str, Any]:
    runtime = executing_runtime()
    return await tickets.draft_outcome(runtime.catalog, runtime.settings, model, document)


@DBOS.step(name="seecodes.jira.finish_draft")
async def finish_draft_step(
    installation_id: str,
    batch_id: str,
    model: str,
    reserved: int,
    run_id: str | None,
    outcome: dict[str, Any],
) -> None:
    runtime = executing_runtime()
    await tickets.finish_draft(
        runtime.db,
        runtime.clock,
        runtime.catalog,
        installation_id=installation_id,
        batch_id=batch_id,
        model=model,
        reserved=reserved,
        run_id=run_id,
        outcome=outcome,
    )


@DBOS.workflow(name=tickets.DRAFT_WORKFLOW)
async def draft_tickets(
    installation_id: str, batch_id: str, model: str, document: str, reserved: int, run_id: str | None
) -> dict[str, Any]:
    """Execution tickets drafted from prose, on the drafting model's run queue. The outcome (or the
    reason it failed) is checkpointed before it is settled, so a resumed draft never calls the
    model twice after it answered."""
    outcome = await draft_step(model, document)
    await finish_draft_step(installation_id, batch_id, model, reserved, run_id, outcome)
    return {"error": outcome.get("error")}


@DBOS.step(name="seecodes.jira.requeue_stale")
async def requeue_stale_step() -> int:
    runtime = executing_runtime()
    settings = runtime.settings
    # Long enough that a job still sleeping through its Retry-After is not doubled.
    grace = timedelta(seconds=settings.jira_debounce_seconds + settings.jira_max_retry_after_seconds + 60)
    async with runtime.db.transaction() as session:
        stale = await repository.stale_syncs(
            session, requested_before=runtime.clock.utcnow() - grace, limit=SWEEP_BATCH
        )
        keys = [(sync.installation_id, sync.project_id, sync.task_id) for sync in stale]
    for installation_id, project_id, task_id in keys:
        await runtime.engine.enqueue(
            writeback.debounced_write(
                installation_id, project_id, task_id, delay_seconds=settings.jira_debounce_seconds
            )
        )
    return len(keys)


@DBOS.workflow(name="seecodes.jira.sweep")
async def sweep(scheduled_time: datetime, context: Any) -> None:
    requeued = await requeue_stale_step()
    if requeued:
        _log.info("jira_writeback_requeued", count=requeued)


SCHEDULES = (ScheduleSpec("seecodes.jira.sweep", sweep, "* * * * *"),)
