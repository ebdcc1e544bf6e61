"""Typed dependencies every domain uses: the runtime and the request's one transaction (or, for a
route that only reads, its one read-only unit of work)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import BackgroundTasks, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


async def get_runtime(request: Request) -> Runtime:
    # async, like every dependency here: FastAPI runs a plain `def` dependency on a worker thread,
    # a thread hop per request that measured more than the route's own work.
    return runtime_of(request)


async def _request_transaction(request: Request, background: BackgroundTasks) -> AsyncIterator[AsyncSession]:
    # scope="function": the commit happens before the response is sent, so a client never sees
    # a 2xx for a write that then fails to commit. What the services recorded for after the commit
    # (enqueue a run, cancel a workflow) is sent after the response, so it never delays one.
    async with runtime_of(request).db.transaction(defer=background.add_task) as session:
        yield session


async def _request_reading(request: Request) -> AsyncIterator[AsyncSession]:
    # A route that only reads: on SQLite it never queues for the process's one writer connection
    # nor takes the write lock, and there is nothing to commit. Ended before the response is sent,
    # so a streaming response holds no connection.
    async with runtime_of(request).db.reading() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(_request_transaction, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(_request_reading, scope="function")]
