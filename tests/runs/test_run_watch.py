"""One watch per process wakes the streams of runs that have new events: on PostgreSQL the
notification of the committing writer wakes them at once (well before the safety-net tick); on
SQLite the tick finds them, one query for every followed run. Written by a second `Database`, as
another process would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event

from seecodes.db import Database
from seecodes.models import Installation
from seecodes.runs import repository, watch
from seecodes.runs.watch import RunWatch
from tests.support.clock import FixedClock
from tests.support.runs import run_row

INSTALLATION = "ari:cloud:ecosystem::installation/00000000-0000-4000-8000-00000000abcd"


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    reader, writer = Database(database_url), Database(database_url)
    yield reader, writer
    await reader.dispose()
    await writer.dispose()


async def _runs(db: Database, clock: FixedClock, count: int) -> list[str]:
    now = clock.utcnow()
    ids = [f"run_watch{n}" for n in range(count)]
    async with db.transaction() as session:
        session.add(Installation(id=INSTALLATION, activation_source="test", created_at=now, updated_at=now))
        await session.flush()
        for run_id in ids:
            session.add(run_row(run_id, INSTALLATION, "processing_remote", now))
    return ids


async def _add_event(db: Database, clock: FixedClock, run_id: str) -> None:
    async with db.transaction() as session:
        await repository.add_event(session, run_id, "log", "line", clock.utcnow())


def _count_statements(db: Database) -> list[str]:
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _writer(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        seen.append(statement)

    if db.readers is not db.engine:  # SQLite: what the watch reads through

        @event.listens_for(db.readers.sync_engine, "before_cursor_execute")
        def _reader(_c: object, _cur: object, statement: str, *_rest: object) -> None:
            seen.append(statement)

    return seen


async def test_a_new_event_wakes_exactly_the_followers_of_its_run(
    databases: tuple[Database, Database], clock: FixedClock
) -> None:
    reader, writer = databases
    first, second = await _runs(writer, clock, 2)
    run_watch = RunWatch(reader)
    try:
        async with (
            run_watch.follow(first, 0) as a,
            run_watch.follow(first, 0) as b,
            run_watch.follow(second, 0) as c,
        ):
            await asyncio.sleep(0.1)  # the watch is running (and listening, on PostgreSQL)
            await _add_event(writer, clock, first)
            woken = await asyncio.gather(a.wait(5), b.wait(5))
            assert woken == [True, True]
            assert await c.wait(watch.POLL_TICK_SECONDS * 3) is False
        assert run_watch.followed_runs == 0
    finally:
        await run_watch.close()


@pytest.mark.postgres
async def test_on_postgresql_the_notification_wakes_a_follower_before_any_tick(
    postgres_url: str, clock: FixedClock
) -> None:
    reader, writer = Database(postgres_url), Database(postgres_url)
    run_watch = RunWatch(reader)
    try:
        (run_id,) = await _runs(writer, clock, 1)
        async with run_watch.follow(run_id, 0) as follower:
            for _ in range(100):  # LISTEN is up once the watch says so
                if run_watch.listening:
                    break
                await asyncio.sleep(0.05)
            assert run_watch.listening
            await asyncio.sleep(0.1)  # past the tick LISTEN starts with
            statements = _count_statements(reader)
            began = asyncio.get_running_loop().time()
            await _add_event(writer, clock, run_id)
            assert await follower.wait(watch.LISTEN_TICK_SECONDS - 0.2)
            assert asyncio.get_running_loop().time() - began < watch.LISTEN_TICK_SECONDS
            assert statements == []  # woken by the notification, not by a query
    finally:
        await run_watch.close()
        await reader.dispose()
        await writer.dispose()


async def test_many_followers_cost_one_query_per_tick(sqlite_url: str, clock: FixedClock) -> None:
    reader, writer = Database(sqlite_url), Database(sqlite_url)
    run_watch = RunWatch(reader)
    try:
        run_ids = await _runs(writer, clock, 50)
        async with asyncio.TaskGroup() as group:
            stop = asyncio.Event()

            async def follow(run_id: str) -> None:
                async with run_watch.follow(run_id, 0):
                    await stop.wait()

            for run_id in run_ids * 4:  # 200 streams on 50 runs
                group.create_task(follow(run_id))
            await asyncio.sleep(0.05)
            statements = _count_statements(reader)
            await asyncio.sleep(watch.POLL_TICK_SECONDS * 4 + 0.05)
            stop.set()
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        assert 3 <= len(selects) <= 5, selects
    finally:
        await run_watch.close()
        await reader.dispose()
        await writer.dispose()
