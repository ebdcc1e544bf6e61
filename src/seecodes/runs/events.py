"""Server-sent events for one run: status changes, log lines and output deltas, resumable.

Each event's id is its row id, so a client that reconnects with `Last-Event-ID` gets exactly the
events after the last one it saw. Events are read from the database, so the stream works whichever
process executes the run. A stream reads only when the process's `RunWatch` wakes it (a new event
of its run), so an idle follower costs the database nothing of its own. A comment line every
HEARTBEAT_SECONDS keeps idle connections open, and the first bytes pad past the buffers of proxies
that hold small responses back.

Every read is a read-only unit of work (never SQLite's write lock). A run that has not started has
nothing to follow yet: its stream sends what there is and closes, asking the client to come back
in UNSTARTED_RETRY_MS; and every stream closes after its lifetime, for the client to resume.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from seecodes.db import Database
from seecodes.models.run import SETTLED, RunStatus
from seecodes.runs import repository
from seecodes.runs.streams import StreamSlot
from seecodes.runs.watch import Follower, RunWatch

HEARTBEAT_SECONDS = 15.0
BATCH = 500
PROXY_PADDING = ":" + " " * 2048 + "\n\n"
RETRY_MS = 2000
UNSTARTED_RETRY_MS = 5000


def _frame(event_id: int, kind: str, data: str) -> str:
    payload = data if kind in ("status", "reset") else json.dumps({"text": data})
    lines = "".join(f"data: {line}\n" for line in payload.split("\n"))
    return f"id: {event_id}\nevent: {kind}\n{lines}\n"


async def stream(
    db: Database, watch: RunWatch, run_id: str, last_event_id: int, *, slot: StreamSlot, max_seconds: float
) -> AsyncIterator[str]:
    """Outlives the request's transaction (the response streams after it), so each read is a short
    unit of work of its own. Gives its slot back however it ends (the client may simply leave)."""
    async with slot.held(), watch.follow(run_id, last_event_id) as follower:
        async for frame in _frames(db, follower, max_seconds):
            yield frame


async def _frames(db: Database, follower: Follower, max_seconds: float) -> AsyncIterator[str]:
    yield PROXY_PADDING + f"retry: {RETRY_MS}\n\n"
    run_id = follower.run_id
    cursor = follower.seen
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    while True:
        async with db.reading() as session:
            # The run first: if it has settled, the events read next include its final ones.
            run = await repository.get(session, run_id)
            events = await repository.events_after(session, run_id, cursor, BATCH)
        for event in events:
            cursor = follower.seen = event.id
            yield _frame(event.id, event.kind, event.data)
        if run is None:
            return  # the run was deleted
        if run.status in SETTLED and len(events) < BATCH:
            yield "event: end\ndata: {}\n\n"
            return
        if len(events) == BATCH:
            continue
        if run.status == RunStatus.INITIALIZED:
            yield f"retry: {UNSTARTED_RETRY_MS}\n\n"
            return
        # Wait for the watch; without news, a heartbeat and wait again (the stream reads only then).
        while not await follower.wait(min(HEARTBEAT_SECONDS, deadline - loop.time())):
            if loop.time() >= deadline:
                return  # the client reconnects after `retry` ms with Last-Event-ID
            yield ": heartbeat\n\n"
        if loop.time() >= deadline:
            return


def response(
    db: Database,
    watch: RunWatch,
    run_id: str,
    last_event_id: int,
    *,
    slot: StreamSlot,
    max_seconds: float,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The HTTP answer that streams a run's events from after `last_event_id`, holding `slot`."""
    return StreamingResponse(
        stream(db, watch, run_id, last_event_id, slot=slot, max_seconds=max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no", **(headers or {})},
        # Also when the body never starts (the client left at once): the slot is given back once.
        background=BackgroundTask(slot.release),
    )
