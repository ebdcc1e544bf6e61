"""A run's event history past SEECODES_ARTIFACTS_RETENTION_DAYS goes in bounded batches, and the
run is marked purged with the last one. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from seecodes.models import Run, RunEvent
from seecodes.runs import execution
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import INSTALLATION_A, JiraAppClient
from tests.support.runs import run_row


@pytest.fixture
def event_deletes(app: FastAPI) -> Iterator[list[int]]:
    """Rows of every DELETE on run_events."""
    seen: list[int] = []
    engine = runtime_of(app).db.engine.sync_engine

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM RUN_EVENTS"):
            seen.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", record)
    yield seen
    event.remove(engine, "after_cursor_execute", record)


async def test_a_long_event_history_is_deleted_in_batches_and_the_run_marked_with_the_last(
    app: FastAPI, jira: JiraAppClient, clock: FixedClock, event_deletes: list[int]
) -> None:
    await jira.bootstrap()  # the installation
    runtime = runtime_of(app)
    now = clock.utcnow()
    async with runtime.db.transaction() as session:
        session.add(run_row("run_old", INSTALLATION_A, "succeeded", now, finished_at=now - timedelta(days=8)))
        session.add(run_row("run_new", INSTALLATION_A, "succeeded", now, finished_at=now - timedelta(days=6)))
        await session.flush()
        for run_id in ("run_old", "run_new"):
            session.add_all(
                RunEvent(run_id=run_id, kind="output", data="x", created_at=now) for _ in range(25)
            )

    purged = await execution.purge_artifacts(
        runtime.db, clock, runtime.storage, retention_days=7, events_batch=10
    )

    async with runtime.db.reading() as session:
        counted = await session.execute(select(RunEvent.run_id, func.count()).group_by(RunEvent.run_id))
        left = dict(counted.all())
        marked = dict((await session.execute(select(Run.id, Run.artifacts_purged_at))).all())
    assert purged == 1
    assert left == {"run_new": 25}
    assert event_deletes == [10, 10, 5]
    assert marked["run_old"] is not None
    assert marked["run_new"] is None
