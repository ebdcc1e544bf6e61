"""Server-sent events for one run: status changes, log lines and output deltas, resumable.

Each event's id is its row id, so a client that reconnects with `Last-Event-ID` gets exactly the
events after the last one it saw. Events are read from the database, so the stream works whichever
process executes the run. A comment line every HEARTBEAT_SECONDS keeps idle connections open, and
the first bytes pad past the buffers of proxies that hold small responses back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from seecodes.db import Database
from seecodes.models.run import SETTLED
from seecodes.runs import repository

POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
BATCH = 500
PROXY_PADDING = ":" + " " * 2048 + "\n\n"


def _frame(event_id: int, kind: str, data: str) -> str:
    payload = data if kind in ("status", "reset") else json.dumps({"text": data})
    lines = "".join(f"data: {line}\n" for line in payload.split("\n"))
    return f"id: {event_id}\nevent: {kind}\n{lines}\n"


async def stream(db: Database, run_id: str, last_event_id: int) -> AsyncIterator[str]:
    """Outlives the request's transaction (the response streams after it), so each poll is a short
    unit of work of its own."""
    yield PROXY_PADDING + "retry: 2000\n\n"
    cursor = last_event_id
    idle = 0.0
    while True:
        async with db.transaction() as session:
            # The run first: if it has settled, the events read next include its final ones.
            run = await repository.get(session, run_id)
            events = await repository.events_after(session, run_id, cursor, BATCH)
        for event in events:
            cursor = event.id
            yield _frame(event.id, event.kind, event.data)
        if events:
            idle = 0.0
        if run is None:
            return  # the run was deleted
        if run.status in SETTLED and len(events) < BATCH:
            yield "event: end\ndata: {}\n\n"
            return
        if len(events) == BATCH:
            continue
        await asyncio.sleep(POLL_SECONDS)
        idle += POLL_SECONDS
        if idle >= HEARTBEAT_SECONDS:
            idle = 0.0
            yield ": heartbeat\n\n"
