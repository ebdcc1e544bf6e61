from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, text

import seecodes.models  # noqa: F401 - registers every table on Base.metadata
from seecodes.db import Base, configure_sqlite_connection
from seecodes.migrations import MIGRATION_LOCK_KEY, SchemaNewerThanCode, unknown_revisions

config = context.config
url: str = config.attributes["database_url"]
engine = create_engine(url)

if engine.dialect.name == "sqlite":

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite_connection(dbapi_connection)
        # The driver's own implicit transactions leave DDL outside any; BEGIN below instead.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # The write lock for the whole migration: a second process waits here (busy_timeout), then
        # reads the version the first one wrote.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
        # SQLite's DDL is transactional, but Alembic assumes otherwise and commits after every
        # migration, which lets a waiting process take the write lock halfway and apply the next
        # migration twice. One transaction for the whole upgrade: all of it or none, lock held.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if engine.dialect.name == "postgresql":
            # Held until this transaction ends: concurrent migrators queue here, then find nothing to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        unknown = unknown_revisions(context.get_context().get_current_heads())
        if unknown:
            raise SchemaNewerThanCode(unknown)
        context.run_migrations()
engine.dispose()
