"""The tasks' housekeeping: progress versions beyond the newest ones kept per task are pruned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dbos import DBOS

from seecodes.engine import ScheduleSpec
from seecodes.kit.logging import get_logger
from seecodes.runtime import executing_runtime
from seecodes.tasks.service import prune_progress_versions

_log = get_logger("seecodes.tasks.jobs")


@DBOS.step(name="seecodes.tasks.prune_progress")
async def prune_progress_step() -> int:
    runtime = executing_runtime()
    async with runtime.db.transaction() as session:
        return await prune_progress_versions(session, keep=runtime.settings.max_progress_versions)


@DBOS.workflow(name="seecodes.tasks.prune")
async def prune(scheduled_time: datetime, context: Any) -> None:
    pruned = await prune_progress_step()
    if pruned:
        _log.info("progress_versions_pruned", rows=pruned)


SCHEDULES = (ScheduleSpec("seecodes.tasks.prune", prune, "*/10 * * * *"),)
