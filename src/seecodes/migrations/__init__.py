"""Alembic migrations, shipped inside the package so `seecodes migrate` works from any install."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from seecodes.db import is_sqlite, sync_url

HERE = Path(__file__).parent
# PostgreSQL advisory lock key that serialises migrations across processes: an arbitrary constant,
# ours alone in the database ("seecodes" in ASCII, as a 64-bit integer).
MIGRATION_LOCK_KEY = 0x7365_6563_6F64_6573


class SchemaNewerThanCode(RuntimeError):
    """The database carries a migration this code does not know: a newer release migrated it."""

    def __init__(self, revisions: list[str]) -> None:
        super().__init__(
            f"the database schema is at revision {', '.join(revisions)}, which this version of seecodes "
            "does not know: a newer release has migrated it. Run that release (or newer), not this one."
        )


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = sync_url(database_url)
    return config


def unknown_revisions(revisions: Iterable[str]) -> list[str]:
    """Those of `revisions` this code's migrations do not include: a newer release wrote them."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    unknown = []
    for revision in revisions:
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    return unknown


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe to run from many processes at once: on PostgreSQL they
    take an advisory lock in the migration's transaction, on SQLite the write lock (BEGIN
    IMMEDIATE), so one migrates and the others then find nothing to do. Raises
    SchemaNewerThanCode, changing nothing, when the database is ahead of this code."""
    if is_sqlite(database_url):
        path = sync_url(database_url).removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
