"""A returned connection goes to the request that waited longest, never to a newcomer; a waiter
that times out gives up its place, and one handed a connection as it gives up passes it on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from seecodes.kit.fair_pool import FairAsyncPool, FairQueue


def _one_connection(sqlite_url: str, pool_timeout: float) -> AsyncEngine:
    return create_async_engine(
        sqlite_url.replace("sqlite://", "sqlite+aiosqlite://"),
        poolclass=FairAsyncPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=pool_timeout,
    )


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    made = _one_connection(sqlite_url, 5)
    yield made
    await made.dispose()


async def test_a_returned_connection_goes_to_the_waiter_not_to_a_newcomer() -> None:
    queue = FairQueue()
    waiter = asyncio.create_task(greenlet_spawn(queue.get, True, 5))
    await asyncio.sleep(0.01)

    def return_it_then_arrive() -> object:
        queue.put_nowait("connection")  # the holder gives it back, and in the same instant ...
        return queue.get(True, 0.2)  # ... a newcomer asks (SQLAlchemy's own queue hands it over)

    with pytest.raises(Empty):
        await greenlet_spawn(return_it_then_arrive)
    assert await waiter == "connection"


async def test_connections_are_handed_out_in_arrival_order(engine: AsyncEngine) -> None:
    order: list[str] = []
    release = asyncio.Event()

    async def use(name: str, hold: asyncio.Event | None = None) -> None:
        async with engine.connect() as connection:
            order.append(name)
            await connection.execute(text("SELECT 1"))
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(use("holder", release))
    await asyncio.sleep(0.05)
    waiters = []
    for n in range(5):
        waiters.append(asyncio.create_task(use(f"waiter{n}")))
        await asyncio.sleep(0.01)
    release.set()
    await asyncio.sleep(0)  # the holder returns its connection ...
    newcomers = [asyncio.create_task(use(f"newcomer{n}")) for n in range(3)]  # ... as these arrive
    await asyncio.gather(holder, *waiters, *newcomers)
    assert order == ["holder", *(f"waiter{n}" for n in range(5)), *(f"newcomer{n}" for n in range(3))]


async def test_a_waiter_that_times_out_leaves_the_line_and_the_connection_is_not_lost(
    sqlite_url: str,
) -> None:
    engine = _one_connection(sqlite_url, 0.1)
    try:
        release = asyncio.Event()

        async def hold() -> None:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        with pytest.raises(sa_exc.TimeoutError):
            async with engine.connect():
                pass
        release.set()
        await holder
        async with asyncio.timeout(1), engine.connect() as connection:  # the one connection is back
            assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
