"""The run state machine: one table of moves, and one function that makes them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from seecodes.db import Database
from seecodes.models import Installation, Run, RunEvent
from seecodes.models.run import NEXT, SETTLED, RunStatus, sources_of
from seecodes.runs import repository
from tests.support.clock import FixedClock
from tests.support.runs import run_row

INSTALLATION = "ari:cloud:ecosystem::installation/00000000-0000-4000-8000-000000000001"


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    yield db
    await db.dispose()


async def _run_in(database: Database, clock: FixedClock, status: RunStatus) -> str:
    now = clock.utcnow()
    async with database.transaction() as session:
        if await session.get(Installation, INSTALLATION) is None:
            session.add(
                Installation(id=INSTALLATION, activation_source="test", created_at=now, updated_at=now)
            )
            await session.flush()
        run_id = f"run_{status.value.replace('_', '')}{len(status.value)}"
        session.add(run_row(run_id, INSTALLATION, status.value, now))
    return run_id


def test_the_table_names_every_state_and_only_settled_states_are_final() -> None:
    assert set(NEXT) == set(RunStatus)
    assert {state for state, targets in NEXT.items() if not targets} == SETTLED
    assert {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.REJECTED} == SETTLED
    assert sources_of(RunStatus.CANCELLED) == set(RunStatus) - SETTLED
    assert sources_of(RunStatus.QUEUED) == {RunStatus.INITIALIZED, RunStatus.AWAITING_APPROVAL}
    assert sources_of(RunStatus.REJECTED) == {RunStatus.AWAITING_APPROVAL}


@pytest.mark.parametrize("start", list(RunStatus))
@pytest.mark.parametrize("target", list(RunStatus))
async def test_a_run_makes_exactly_the_moves_the_table_allows(
    database: Database, clock: FixedClock, start: RunStatus, target: RunStatus
) -> None:
    run_id = await _run_in(database, clock, start)

    async with database.transaction() as session:
        moved = await repository.move(session, run_id, target, clock.utcnow(), log="moved")
    async with database.transaction() as session:
        stored = await session.get(Run, run_id)
        events = list(
            (
                await session.execute(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id))
            ).scalars()
        )

    assert stored is not None
    if target in NEXT[start]:
        assert moved is not None
        assert stored.status == target
        kinds = [event.kind for event in events]
        # A settled run's status event is its last: a client that stops there has read every line.
        assert kinds == (["log", "status"] if target in SETTLED else ["status", "log"])
        assert json.loads(next(e.data for e in events if e.kind == "status"))["status"] == target
    else:
        assert moved is None
        assert stored.status == start
        assert events == []
