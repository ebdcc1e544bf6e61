"""Webhook deliveries as DBOS workflows: one workflow per delivery, its id the delivery's.

The workflow attempts, then sleeps durably for the next wait and attempts again, until the receiver
answers 2xx, the waits run out, or the endpoint is disabled or removed. Each attempt is a step, so a
worker killed mid-delivery is recovered by another executor at the first unfinished step: an attempt
that was under way is made again (at least once; the `webhook-id` is the same), and a sleep resumes
where it was. The queue is partitioned by endpoint, so one slow or failing receiver holds at most
`PER_ENDPOINT_CONCURRENCY` slots and never delays another endpoint's deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dbos import DBOS

from seecodes.engine import QueueSpec, ScheduleSpec
from seecodes.kit.logging import get_logger
from seecodes.runtime import Runtime, executing_runtime
from seecodes.webhooks import service
from seecodes.webhooks.service import (
    DELIVER_WORKFLOW,
    PER_ENDPOINT_CONCURRENCY,
    QUEUE,
    DeliveryRules,
    Outcome,
)

_log = get_logger("seecodes.webhooks.jobs")

SWEEP_BATCH = 200
# Every poll is a query on the system database, in every executor, idle or not: at the run queues'
# 50 ms an idle embedded server spent 19 % of a core instead of 11.5 %; at 250 ms, 12.7 %
# (docs/decisions.md, "Webhooks"). A delivery waits up to one poll more, well within what a
# receiver of pushed events expects.
QUEUE_POLL_SECONDS = 0.25


def webhook_queues(runtime: Runtime) -> Sequence[QueueSpec]:
    poll = max(QUEUE_POLL_SECONDS, runtime.settings.run_queue_poll_seconds)
    return [QueueSpec(QUEUE, partition_concurrency=PER_ENDPOINT_CONCURRENCY, poll_seconds=poll)]


def _rules(runtime: Runtime) -> DeliveryRules:
    settings = runtime.settings
    return DeliveryRules(
        signing_keys=settings.signing_secrets(),
        allowed_hosts=settings.webhook_allowed_hosts,
        retry_seconds=settings.webhook_retry_seconds,
        disable_after_failures=settings.webhook_disable_after_failures,
    )


@DBOS.step(name="seecodes.webhooks.attempt")
async def attempt_step(delivery_id: str) -> dict[str, Any]:
    runtime = executing_runtime()
    outcome = await service.attempt(runtime.db, runtime.clock, runtime.webhooks, _rules(runtime), delivery_id)
    return outcome.as_dict()


@DBOS.workflow(name=DELIVER_WORKFLOW)
async def deliver(delivery_id: str) -> str:
    while True:
        outcome = Outcome.from_dict(await attempt_step(delivery_id))
        if outcome.final:
            return outcome.status
        await DBOS.sleep_async(outcome.wait)


@DBOS.step(name="seecodes.webhooks.requeue_stranded")
async def requeue_stranded_step() -> int:
    runtime = executing_runtime()
    # Longer than an attempt can take, so an attempt under way is not enqueued again.
    grace = runtime.settings.webhook_timeout_seconds + 60
    jobs = await service.requeue_stranded(runtime.db, runtime.clock, grace_seconds=grace, limit=SWEEP_BATCH)
    for job in jobs:
        await runtime.engine.enqueue(job)
    return len(jobs)


@DBOS.workflow(name="seecodes.webhooks.sweep")
async def sweep(scheduled_time: datetime, context: Any) -> None:
    requeued = await requeue_stranded_step()
    if requeued:
        _log.info("webhook_deliveries_requeued", count=requeued)


SCHEDULES = (ScheduleSpec("seecodes.webhooks.sweep", sweep, "* * * * *"),)
