"""Which executors are alive: heartbeats in the run engine's system database.

DBOS recovers an executor's pending workflows only when an executor with the same id launches. A
worker replaced under a new name (another pod, another host) would leave its runs pending for
ever, so every worker beats here, and a sweep on every live worker hands a silent one's workflows
back to their queues with DBOS's own recovery. Two rules keep that exactly once:

* a silent executor is taken over by one conditional UPDATE on its row (the beat the sweeper saw),
  so of several sweepers only one recovers it;
* DBOS's recovery re-enqueues only workflows still PENDING *on that executor*, and a queue's
  ENQUEUED → PENDING dequeue admits one runner, so even a repeated recovery starts nothing twice.

DBOS also recovers and dequeues a workflow only on an executor of the application version that
started it. Every release runs under one version (engine.APPLICATION_VERSION), so any worker takes
over any other; `adopt_workflows` gives it to what releases before that left unfinished.

The table lives beside DBOS's own (its `dbos` schema on PostgreSQL, `dbos.sqlite` on the embedded
default): executors that share a system database are the ones that can take over each other's
workflows, whatever application database they use. Times are the database's clock, so hosts
whose clocks disagree still agree on who is silent.

The queries are synchronous (SQLAlchemy Core on a one-connection pool); the engine calls them on
a thread, as DBOS does its own.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from seecodes.db import is_sqlite

# The schema DBOS keeps its tables in on PostgreSQL (DBOS's default; we do not configure another).
SYSTEM_SCHEMA = "dbos"

LIVE = "live"
STOPPED = "stopped"  # shut down cleanly: its workflows may be taken over at once
TAKEN_OVER = "taken_over"


class ExecutorIdInUse(Exception):
    """Another process that is still beating holds this executor id."""


@dataclass(frozen=True, slots=True)
class Executor:
    executor_id: str
    host: str
    pid: int
    state: str
    silent_ms: int
    beat_at_ms: int
    queues: tuple[str, ...]


def _table(schema: str | None) -> sa.Table:
    return sa.Table(
        "seecodes_executors",
        sa.MetaData(schema=schema),
        sa.Column("executor_id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        # Random per process start: tells this process's row from a predecessor's under the same id.
        sa.Column("incarnation", sa.String(32), nullable=False),
        sa.Column("queues", sa.Text, nullable=False),  # JSON list of the queues it dequeues from
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("beat_at_ms", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("taken_over_by", sa.String(128)),
        sa.Column("taken_over_at_ms", sa.BigInteger),
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


class Liveness:
    """One executor's view of the fleet: its own heartbeat, and who else is silent."""

    def __init__(self, system_url: str, executor_id: str, *, timeout_seconds: float) -> None:
        self.executor_id = executor_id
        self.timeout_ms = int(timeout_seconds * 1000)
        self._sqlite = is_sqlite(system_url)
        self._table = _table(None if self._sqlite else SYSTEM_SCHEMA)
        self._engine = sa.create_engine(
            system_url,
            pool_size=1,
            max_overflow=1,
            pool_pre_ping=True,
            **({"connect_args": {"timeout": 10}} if self._sqlite else {}),
        )
        self._now: sa.ColumnElement[int] = sa.literal_column(
            "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
            if self._sqlite
            else "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
        )
        self._host = socket.gethostname()[:255]
        self._pid = os.getpid()
        self._incarnation = secrets.token_hex(16)
        self.claimed = False  # this process holds the id (an API process only reads the table)

    def create_table(self) -> None:
        with self._engine.begin() as connection:
            if not self._sqlite:
                connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{SYSTEM_SCHEMA}"'))
            self._table.create(connection, checkfirst=True)

    def claim(self, queues: Sequence[str]) -> None:
        """Take this executor id, or raise ExecutorIdInUse when a live process holds it.

        A holder is gone when its row is stopped or taken over, when it has not beaten within the
        timeout, or when it ran on this host and its pid is dead (a supervisor restarting a killed
        worker under its id at once). One conditional upsert decides, so two processes started
        with the same id at the same moment cannot both win."""
        t = self._table
        with self._engine.begin() as connection:
            seen = connection.execute(
                sa.select(t.c.host, t.c.pid, t.c.incarnation, t.c.state, (self._now - t.c.beat_at_ms)).where(
                    t.c.executor_id == self.executor_id
                )
            ).first()
            gone_incarnation = ""
            if (
                seen is not None
                and seen.host == self._host
                and (seen.pid == self._pid or not _pid_alive(seen.pid))
            ):
                gone_incarnation = seen.incarnation
            values = {
                "host": self._host,
                "pid": self._pid,
                "incarnation": self._incarnation,
                "queues": json.dumps(sorted(queues)),
                "started_at_ms": self._now,
                "beat_at_ms": self._now,
                "state": LIVE,
                "taken_over_by": None,
                "taken_over_at_ms": None,
            }
            insert = (sqlite.insert(t) if self._sqlite else postgresql.insert(t)).values(
                executor_id=self.executor_id, **values
            )
            excluded = insert.excluded
            upsert = insert.on_conflict_do_update(
                index_elements=[t.c.executor_id],
                set_={name: getattr(excluded, name) for name in values},
                where=sa.or_(
                    t.c.state != LIVE,
                    t.c.beat_at_ms < self._now - self.timeout_ms,
                    t.c.incarnation == gone_incarnation,
                ),
            ).returning(t.c.incarnation)
            won = connection.execute(upsert).scalar()
        self.claimed = won == self._incarnation
        if not self.claimed:
            where = f"pid {seen.pid} on {seen.host}" if seen is not None else "another process"
            raise ExecutorIdInUse(
                f"executor id {self.executor_id!r} is held by a live worker ({where}); give this one "
                f"another SEECODES_WORKER_ID, or stop that one (a silent one is released after "
                f"{self.timeout_ms / 1000:g} s)"
            )

    def beat(self) -> str | None:
        """Record that this executor is alive. Returns None, or what went wrong while it was silent:
        its workflows were taken over, or another process now holds its id."""
        t = self._table
        mine = sa.and_(t.c.executor_id == self.executor_id, t.c.incarnation == self._incarnation)
        with self._engine.begin() as connection:
            beaten = connection.execute(
                sa.update(t).where(mine, t.c.state == LIVE).values(beat_at_ms=self._now)
            ).rowcount
            if beaten:
                return None
            row = connection.execute(sa.select(t.c.state, t.c.taken_over_by).where(mine)).first()
            if row is None:
                return "another process has taken this executor id"
            # Taken over while it was silent: live again, so what it dequeues from now on is
            # recoverable; what it was running may also run on the executor that took it over.
            connection.execute(sa.update(t).where(mine).values(state=LIVE, beat_at_ms=self._now))
            return f"its workflows were taken over by {row.taken_over_by} while it was silent"

    def _select(self) -> sa.Select[Any]:
        t = self._table
        silence = (self._now - t.c.beat_at_ms).label("silent_ms")
        return sa.select(t.c.executor_id, t.c.host, t.c.pid, t.c.state, silence, t.c.beat_at_ms, t.c.queues)

    def silent(self) -> list[Executor]:
        """Other executors that stopped, or have not beaten within the timeout, and were not taken over."""
        t = self._table
        query = self._select().where(
            t.c.executor_id != self.executor_id,
            sa.or_(
                t.c.state == STOPPED, sa.and_(t.c.state == LIVE, t.c.beat_at_ms < self._now - self.timeout_ms)
            ),
        )
        with self._engine.begin() as connection:
            return [_executor(row) for row in connection.execute(query).all()]

    def fleet(self) -> list[Executor]:
        """Every executor on record, newest beat first (for /readyz and the operator)."""
        with self._engine.begin() as connection:
            rows = connection.execute(self._select().order_by(self._table.c.beat_at_ms.desc())).all()
        return [_executor(row) for row in rows]

    def take_over(self, executor: Executor) -> bool:
        """True for exactly one of the sweepers that saw this executor silent at this beat."""
        t = self._table
        with self._engine.begin() as connection:
            taken = connection.execute(
                sa.update(t)
                .where(
                    t.c.executor_id == executor.executor_id,
                    t.c.beat_at_ms == executor.beat_at_ms,
                    t.c.state.in_((LIVE, STOPPED)),
                )
                .values(state=TAKEN_OVER, taken_over_by=self.executor_id, taken_over_at_ms=self._now)
            ).rowcount
        return bool(taken)

    def depart(self) -> None:
        """A clean shutdown: the sweepers take this executor's unfinished workflows at their next beat."""
        t = self._table
        with self._engine.begin() as connection:
            connection.execute(
                sa.update(t)
                .where(t.c.executor_id == self.executor_id, t.c.incarnation == self._incarnation)
                .values(state=STOPPED, beat_at_ms=self._now)
            )

    def close(self) -> None:
        self._engine.dispose()


def adopt_workflows(system_url: str, executor_id: str, version: str, application: str) -> int:
    """Give `version` to the unfinished workflows of another application version: those pending on
    `executor_id` (this process's own id as it starts, or a silent executor's it takes over) and
    every queued or delayed one. Returns how many.

    Releases before engine.APPLICATION_VERSION let DBOS derive the version from their workflows'
    source, and DBOS recovers or dequeues a workflow only under the version that started it: after
    an upgrade, the runs an old worker handed back (or left pending under its own id, restarted on
    new code) would wait for ever for a worker of a version that no longer runs. Safe because every
    release keeps its workflows replayable by the next (docs/upgrading.md). Another executor's
    running workflows are never touched."""
    sqlite_url = is_sqlite(system_url)
    schema = None if sqlite_url else SYSTEM_SCHEMA
    engine = sa.create_engine(system_url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            if not sa.inspect(connection).has_table("workflow_status", schema=schema):
                return 0  # DBOS has not created its tables yet: nothing was ever started here
            status = sa.table(
                "workflow_status",
                sa.column("status", sa.Text),
                sa.column("executor_id", sa.Text),
                sa.column("application_version", sa.Text),
                sa.column("application_name", sa.Text),
                schema=schema,
            )
            adopted = connection.execute(
                sa.update(status)
                .where(
                    sa.or_(
                        sa.and_(status.c.status == "PENDING", status.c.executor_id == executor_id),
                        status.c.status.in_(("ENQUEUED", "DELAYED")),
                    ),
                    status.c.application_version != version,
                    sa.or_(status.c.application_name == application, status.c.application_name.is_(None)),
                )
                .values(application_version=version)
            ).rowcount
        return int(adopted)
    finally:
        engine.dispose()


def _executor(row: sa.Row[Any]) -> Executor:
    return Executor(
        executor_id=row.executor_id,
        host=row.host,
        pid=row.pid,
        state=row.state,
        silent_ms=int(row.silent_ms),
        beat_at_ms=int(row.beat_at_ms),
        queues=tuple(json.loads(row.queues)),
    )
