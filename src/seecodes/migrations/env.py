from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event

import seecodes.models  # noqa: F401 - registers every table on Base.metadata
from seecodes.db import Base, configure_sqlite_connection

config = context.config
url: str = config.attributes["database_url"]
engine = create_engine(url)

if engine.dialect.name == "sqlite":

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite_connection(dbapi_connection)


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=engine.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
