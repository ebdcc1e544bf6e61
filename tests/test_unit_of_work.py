"""The one unit of work: after-commit actions reach the engine only after a commit, a refusal that
keeps its writes commits them, and nothing else survives an error; on-commit callbacks likewise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

from seecodes.db import Database, after_commit, keep_writes, on_commit
from seecodes.kit.dispatch import AfterCommit, CancelWorkflow, Enqueue


class Recorder:
    """A dispatcher that remembers what it was sent and whether the write was visible by then."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sent: list[tuple[AfterCommit, int]] = []

    async def dispatch(self, action: AfterCommit) -> None:
        async with self.database.sessions() as reader:
            rows = int(await reader.scalar(text("SELECT count(*) FROM notes")) or 0)
        self.sent.append((action, rows))


class Failing:
    async def dispatch(self, action: AfterCommit) -> None:
        raise ConnectionError("engine down")


JOB = Enqueue(queue="q", workflow="w", workflow_id="run_1", args=("run_1",))


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'unit.db'}")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE notes (body TEXT)"))
    yield db
    await db.dispose()


async def _write(database: Database, body: str, *, fail: bool = False, keep: bool = False) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES (:body)"), {"body": body})
        after_commit(session, JOB)
        if keep:
            keep_writes(session)
        if fail:
            raise ValueError("refused")


async def _notes(database: Database) -> list[str]:
    async with database.transaction() as session:
        return list((await session.execute(text("SELECT body FROM notes ORDER BY body"))).scalars())


async def test_an_after_commit_action_is_sent_once_the_write_is_committed(database: Database) -> None:
    recorder = Recorder(database)
    database.dispatch_with(recorder)

    await _write(database, "a")

    assert recorder.sent == [(JOB, 1)]  # the engine could already read the committed row


async def test_a_rolled_back_unit_of_work_sends_nothing(database: Database) -> None:
    recorder = Recorder(database)
    database.dispatch_with(recorder)

    with pytest.raises(ValueError, match="refused"):
        await _write(database, "a", fail=True)

    assert recorder.sent == []
    assert await _notes(database) == []


async def test_a_refusal_that_keeps_its_writes_commits_them_and_still_fails(database: Database) -> None:
    recorder = Recorder(database)
    database.dispatch_with(recorder)

    with pytest.raises(ValueError, match="refused"):
        await _write(database, "revoked", fail=True, keep=True)

    assert await _notes(database) == ["revoked"]
    assert recorder.sent == []  # an action belongs to work that succeeded, not to a refusal


async def test_a_deferred_unit_of_work_hands_its_actions_to_the_deferral(database: Database) -> None:
    recorder = Recorder(database)
    database.dispatch_with(recorder)
    deferred: list[tuple[Callable[[Sequence[AfterCommit]], Awaitable[None]], Sequence[AfterCommit]]] = []

    async with database.transaction(defer=lambda send, actions: deferred.append((send, actions))) as session:
        after_commit(session, CancelWorkflow("run_1"))
    assert recorder.sent == []
    send, actions = deferred[0]
    await send(actions)

    assert [action for action, _ in recorder.sent] == [CancelWorkflow("run_1")]


async def test_a_failed_send_never_undoes_or_fails_the_committed_work(database: Database) -> None:
    database.dispatch_with(Failing())

    await _write(database, "kept")

    assert await _notes(database) == ["kept"]


async def test_a_reading_unit_of_work_never_holds_the_write_lock(database: Database) -> None:
    await _write(database, "before")
    database.dispatch_with(Recorder(database))

    async with database.reading() as reader:
        seen = list((await reader.execute(text("SELECT body FROM notes"))).scalars())
        # With BEGIN IMMEDIATE the reader would hold SQLite's write lock and this would wait out
        # the 15 s busy timeout; deferred, the writer commits at once.
        await asyncio.wait_for(_write(database, "during"), timeout=5)

    assert seen == ["before"]
    assert await _notes(database) == ["before", "during"]


async def test_an_on_commit_callback_runs_once_the_write_is_committed(database: Database) -> None:
    seen: list[int] = []

    async def count_notes() -> int:
        async with database.reading() as reader:
            return int(await reader.scalar(text("SELECT count(*) FROM notes")) or 0)

    async with database.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES ('a')"))
        on_commit(session, seen.append, 7)
        assert seen == []

    assert seen == [7]
    assert await count_notes() == 1


async def _refuse(database: Database, seen: list[str], *, keep: bool) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO notes VALUES ('a')"))
        if keep:
            keep_writes(session)
        on_commit(session, seen.append, "counted")
        raise ValueError("refused")


async def test_an_on_commit_callback_of_rolled_back_work_never_runs(database: Database) -> None:
    seen: list[str] = []

    with pytest.raises(ValueError, match="refused"):
        await _refuse(database, seen, keep=False)

    assert seen == []


async def test_an_on_commit_callback_of_a_refusal_that_keeps_its_writes_runs(database: Database) -> None:
    seen: list[str] = []

    with pytest.raises(ValueError, match="refused"):
        await _refuse(database, seen, keep=True)

    assert seen == ["counted"]
