"""Engine, sessions and the declarative Base.

One URL setting serves both dialects. On SQLite each process writes through one connection: units
of work that write queue for it in the pool (in order, without sleeping), and it runs every
transaction as BEGIN IMMEDIATE, so a writer never fails a read-to-write upgrade and waits for
other processes' locks asynchronously (`kit.sqlite_inline`, which also runs statements on the
loop's thread instead of a thread hop each). A unit of work that only reads (`Database.reading`)
takes a connection of the reader pool and begins deferred: it never takes the write lock. PostgreSQL
needs nothing special: single-use rules are atomic conditional UPDATEs that row locks serialise.
A returned connection goes to the longest waiter (`kit.fair_pool`). Waiting for the database is bounded (connect and pool timeouts: an outage is a prompt 503, never
a hang), and pooled connections the server closed are replaced at checkout, so a database restart
costs no request.
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from seecodes.kit import sqlite_inline
from seecodes.kit.dispatch import AfterCommit, Dispatcher
from seecodes.kit.fair_pool import FairAsyncPool
from seecodes.kit.logging import get_logger

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000

_log = get_logger("seecodes.db")

# Keys in a session's `info`: what the unit of work does when it ends (see `Database.transaction`).
_AFTER_COMMIT = "seecodes.after_commit"
_ON_COMMIT = "seecodes.on_commit"
_KEEP_WRITES = "seecodes.keep_writes"
_READ_ONLY = "seecodes_read_only"

# How a unit of work hands its after-commit actions on: awaited at once (jobs, the CLI), or
# scheduled to run after the HTTP response (a request's transaction passes BackgroundTasks).
Defer = Callable[[Callable[[Sequence[AfterCommit]], Awaitable[None]], Sequence[AfterCommit]], None]


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Hand `action` to the run engine once this unit of work has committed; dropped on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def on_commit(session: AsyncSession, callback: Callable[..., object], *args: object) -> None:
    """Call `callback(*args)` in this process once this unit of work has committed; dropped on
    rollback. For what must count only what really happened (a metric of credits moved, of a run
    settled), so it is quick and never raises."""
    session.info.setdefault(_ON_COMMIT, []).append((callback, args))


def _committed(session: AsyncSession) -> None:
    for callback, args in session.info.pop(_ON_COMMIT, []):
        callback(*args)


def keep_writes(session: AsyncSession) -> None:
    """This unit of work commits even though it ends in an error: the refusal is itself a state change
    (a stolen request-key chain or launch code revokes what it reached) that must outlive the request."""
    session.info[_KEEP_WRITES] = True


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_DRIVERS = {
    # backend: (synchronous driver for Alembic and tools, asynchronous driver for the app)
    "sqlite": ("sqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
}


def _with_driver(url: str, *, asynchronous: bool) -> str:
    parsed = make_url(url)
    drivers = _DRIVERS.get(parsed.get_backend_name())
    if drivers is None:
        raise ValueError(f"unsupported database backend: {parsed.get_backend_name()}")
    return parsed.set(drivername=drivers[asynchronous]).render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The URL Alembic and other synchronous tools use."""
    return _with_driver(url, asynchronous=False)


def async_url(url: str) -> str:
    return _with_driver(url, asynchronous=True)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def configure_sqlite_connection(
    dbapi_connection: Any, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """Pragmas every SQLite connection needs, shared by the async engine and Alembic (which waits
    in SQLite's busy handler; the app's connections wait asynchronously and pass 0)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 5,
        connect_timeout: int = 5,
        pool_timeout: float = 10.0,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        # hide_parameters: a failing statement's message must not carry bound values into a log
        # line; they include key hashes and user content.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True, "pool_timeout": pool_timeout}
        pool = {"pool_size": pool_size, "max_overflow": max_overflow}
        if self.is_sqlite:
            # Writers: one connection, so they queue in the pool rather than in SQLite's lock.
            self.engine: AsyncEngine = _sqlite_engine(url, options, pool_size=1, max_overflow=0)
            # Readers: a fixed pool. An overflow connection is opened and closed per checkout, and
            # each new one starts with a cold page cache: under load that was a fifth of a read.
            readers = _sqlite_engine(url, options, pool_size=pool_size + max_overflow, max_overflow=0)
        else:
            # libpq's connect_timeout covers the whole connection start-up; without it a server
            # that accepts but never answers (or a host that drops packets) hangs the request.
            options.update(pool_recycle=1800, connect_args={"connect_timeout": connect_timeout})
            self.engine = create_async_engine(async_url(url), poolclass=FairAsyncPool, **options, **pool)
            _discard_connections_the_server_closed(self.engine)
            readers = self.engine  # the same pool
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # What `reading` runs on; the engine the writers use on PostgreSQL.
        self.readers: AsyncEngine = readers
        self._reader_sessions = async_sessionmaker(
            readers.execution_options(**{_READ_ONLY: True}), expire_on_commit=False, autoflush=False
        )
        self._dispatcher: Dispatcher | None = None

    @property
    def libpq_url(self) -> str:
        """PostgreSQL: the URL for a plain psycopg connection (the run watch's LISTEN)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    def dispatch_with(self, dispatcher: Dispatcher) -> None:
        """Where after-commit actions go (the run engine); set once by the composition root."""
        self._dispatcher = dispatcher

    @asynccontextmanager
    async def transaction(self, *, defer: Defer | None = None) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back if it raises (unless the
        work called `keep_writes`). After the commit, and only then, the callbacks recorded with
        `on_commit` run, and the actions recorded with `after_commit` go to the engine: at once,
        or through `defer`."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                if session.info.get(_KEEP_WRITES):
                    await session.commit()
                    _committed(session)
                else:
                    await session.rollback()
                raise
            await session.commit()
            _committed(session)
            actions: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
        if actions:
            if defer is None:
                await self.send(actions)
            else:
                defer(self.send, actions)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads: never the write lock on SQLite, never a commit (closing
        the session ends its transaction; what it loaded stays readable)."""
        async with self._reader_sessions() as session:
            yield session

    async def send(self, actions: Sequence[AfterCommit]) -> None:
        """Never raises: the work is committed, and each job has a sweep that repairs a lost enqueue."""
        for action in actions:
            try:
                if self._dispatcher is None:
                    raise RuntimeError("no dispatcher: the engine was never connected to the database")
                await self._dispatcher.dispatch(action)
            except Exception as error:
                _log.warning(
                    "after_commit_failed", action=type(action).__name__, error_type=type(error).__name__
                )

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.readers is not self.engine:
            await self.readers.dispose()


def _discard_connections_the_server_closed(engine: AsyncEngine) -> None:
    """After a database restart, no request fails on a pooled connection that died meanwhile.

    A server that shuts down or terminates a backend tells the idle client (a FATAL message, then
    EOF), so the socket of a pooled connection becomes readable while nothing is expected on it.
    Checking for that costs one poll() system call per checkout; `pool_pre_ping` would cost a
    database round trip per transaction (docs/decisions.md). Discarding the pool then makes every
    older connection reconnect too: the server that closed one has usually closed them all.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _hung_up(dbapi_connection.driver_connection):
            raise sa_exc.InvalidatePoolError("the server closed an idle pooled connection")


def _hung_up(connection: Any) -> bool:
    if connection.closed:
        return True
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _sqlite_engine(url: str, options: dict[str, Any], *, pool_size: int, max_overflow: int) -> AsyncEngine:
    path = make_url(url).database or ":memory:"
    engine = create_async_engine(
        async_url(url),
        async_creator=sqlite_inline.connector(path),
        poolclass=FairAsyncPool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        **options,
    )
    _use_immediate_transactions(engine)
    return engine


def _use_immediate_transactions(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The connection leaves BEGIN to SQLAlchemy's "begin" event below (no implicit one), and
        # waits for other processes' locks without the busy handler (kit.sqlite_inline).
        configure_sqlite_connection(dbapi_connection, busy_timeout_ms=0)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
