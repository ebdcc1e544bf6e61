"""The retention sweep as a scheduled workflow: once a minute, across every executor, the tables'
spent rows (retention.service) and the run engine's own finished workflows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS

from seecodes.engine import ScheduleSpec
from seecodes.kit.logging import get_logger
from seecodes.retention import service
from seecodes.runtime import executing_runtime

_log = get_logger("seecodes.retention.jobs")

# DBOS deletes a batch of workflows in one transaction of four statements (status, inputs,
# outputs, steps); a few hundred keep it short on its SQLite file too.
WORKFLOW_BATCH = 500
WORKFLOW_MAX_BATCHES = 20


@DBOS.step(name="seecodes.retention.prune_tables")
async def prune_tables_step() -> dict[str, int]:
    runtime = executing_runtime()
    settings = runtime.settings
    windows = service.Windows(
        expired_credentials=timedelta(days=settings.expired_credentials_retention_days),
        telemetry=timedelta(days=settings.telemetry_retention_days),
        telemetry_max_event_age=timedelta(days=settings.telemetry_max_event_age_days),
        webhook_deliveries=timedelta(days=settings.webhook_delivery_retention_days),
    )
    return await service.sweep(runtime.db, runtime.clock, windows)


@DBOS.step(name="seecodes.retention.prune_workflows")
async def prune_workflows_step() -> int:
    runtime = executing_runtime()
    return await runtime.engine.delete_finished_workflows(
        older_than=timedelta(days=runtime.settings.run_engine_retention_days),
        batch=WORKFLOW_BATCH,
        max_batches=WORKFLOW_MAX_BATCHES,
    )


@DBOS.workflow(name="seecodes.retention.sweep")
async def sweep(scheduled_time: datetime, context: Any) -> None:
    deleted = await prune_tables_step()
    deleted["run_engine_workflows"] = await prune_workflows_step()
    went = {table: rows for table, rows in deleted.items() if rows}
    if went:
        _log.info("retention_swept", **went)


SCHEDULES = (ScheduleSpec("seecodes.retention.sweep", sweep, "* * * * *"),)
