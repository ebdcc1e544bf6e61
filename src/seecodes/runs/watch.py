"""Wakes the event streams of runs that have new events, so streams do not poll the database each.

One `RunWatch` per process. Every stream registers the run it follows and the last event id it has
sent, then waits. A single task per process looks for new events on behalf of all of them: at each
tick it reads the newest event id of every followed run in one query, however many streams are
open, and wakes the streams that are behind. On PostgreSQL it also LISTENs on `RUN_EVENTS_CHANNEL`
(`repository.add_event` notifies it, delivered when the writing transaction commits), so a new event
wakes its streams at once and the tick is only the safety net for a lost notification or a dropped
listening connection. SQLite has no notifications across processes; the tick is how it learns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from seecodes.db import Database
from seecodes.kit.logging import get_logger
from seecodes.runs import repository

RUN_EVENTS_CHANNEL = repository.RUN_EVENTS_CHANNEL
# Without notifications this is the delay a follower may see; with them, the repair interval.
POLL_TICK_SECONDS = 0.25
LISTEN_TICK_SECONDS = 2.0
RELISTEN_SECONDS = 1.0
# Followed runs per query: bounds the statement's size (SQLite's variable limit is far above it).
QUERY_CHUNK = 500

_log = get_logger("seecodes.runs.watch")


class Follower:
    """One stream's place in the watch: `seen` is the last event id it has sent."""

    __slots__ = ("_woken", "run_id", "seen")

    def __init__(self, run_id: str, seen: int) -> None:
        self.run_id = run_id
        self.seen = seen
        self._woken = asyncio.Event()

    def wake(self) -> None:
        self._woken.set()

    async def wait(self, seconds: float) -> bool:
        """True when woken (there may be new events), False after `seconds` without."""
        try:
            async with asyncio.timeout(seconds):
                await self._woken.wait()
        except TimeoutError:
            return False
        self._woken.clear()
        return True


class RunWatch:
    def __init__(self, db: Database, *, listen: bool | None = None) -> None:
        self._db = db
        self._listen = (not db.is_sqlite) if listen is None else listen
        self._followers: dict[str, set[Follower]] = {}
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    @property
    def listening(self) -> bool:
        """PostgreSQL: notifications are arriving (the tick is only the safety net)."""
        return self._listening

    @property
    def followed_runs(self) -> int:
        return len(self._followers)

    @asynccontextmanager
    async def follow(self, run_id: str, seen: int) -> AsyncIterator[Follower]:
        follower = Follower(run_id, seen)
        self._followers.setdefault(run_id, set()).add(follower)
        self._ensure_running()
        try:
            yield follower
        finally:
            followers = self._followers.get(run_id)
            if followers is not None:
                followers.discard(follower)
                if not followers:
                    del self._followers[run_id]

    def notified(self, run_id: str) -> None:
        for follower in tuple(self._followers.get(run_id, ())):
            follower.wake()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._task = loop.create_task(self._run(), name="seecodes-run-watch")

    async def _run(self) -> None:
        listener = asyncio.create_task(self._listen_forever()) if self._listen else None
        try:
            while True:
                await asyncio.sleep(LISTEN_TICK_SECONDS if self._listening else POLL_TICK_SECONDS)
                if not self._followers:
                    continue
                try:
                    await self.tick()
                except Exception as error:  # the database may be down; streams keep their heartbeat
                    _log.warning("run_watch_tick_failed", error_type=type(error).__name__)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def tick(self) -> None:
        """One look at the database for every followed run; wakes the followers that are behind."""
        run_ids = list(self._followers)
        for start in range(0, len(run_ids), QUERY_CHUNK):
            async with self._db.reading() as session:
                newest = await repository.newest_event_ids(session, run_ids[start : start + QUERY_CHUNK])
            for run_id, event_id in newest.items():
                for follower in tuple(self._followers.get(run_id, ())):
                    if event_id > follower.seen:
                        follower.wake()

    async def _listen_forever(self) -> None:
        import psycopg  # PostgreSQL only; the app's own driver

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._db.libpq_url, autocommit=True, connect_timeout=5
                ) as connection:
                    await connection.execute(f"LISTEN {RUN_EVENTS_CHANNEL}")
                    self._listening = True
                    # A notification sent before LISTEN took effect is caught by this tick.
                    if self._followers:
                        with contextlib.suppress(Exception):
                            await self.tick()
                    async for notification in connection.notifies():
                        self.notified(notification.payload)
            except (psycopg.Error, OSError) as error:
                _log.warning("run_watch_listen_failed", error_type=type(error).__name__)
            finally:
                self._listening = False
            await asyncio.sleep(RELISTEN_SECONDS)
