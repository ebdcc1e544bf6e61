"""What every command shares: the console, settings, migrating first, one transaction, exit statuses."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Environment, Settings, SettingsError, get_settings
from seecodes.db import Database
from seecodes.errors import SeecodesError
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.logging import redact

# soft_wrap: a line is never broken mid-sentence at the terminal's width (logs and pipes keep it whole).
console = Console(soft_wrap=True)
T = TypeVar("T")
Level = Literal["info", "warning", "error"]
_COLOUR: dict[Level, str] = {"info": "default", "warning": "yellow", "error": "red"}


def json_lines() -> bool:
    """Outside dev the CLI's messages are JSON lines, as the server's logs are, so one log pipeline
    reads every line a deployment writes. Read from the environment, not the settings: the
    settings may be what failed to load."""
    return os.environ.get("SEECODES_ENV", Environment.DEV.value).strip().lower() != Environment.DEV.value


def say(message: str, level: Level = "info") -> None:
    """A sentence for the operator (a refusal, a warning, what was done): in dev on the console in
    colour where it is a terminal, elsewhere one JSON object on stderr in the logs' shape. It is
    the command's own output, so SEECODES_LOG_LEVEL does not hide it. Values a script reads
    (tokens, URLs, JSON documents, table rows) go through `typer.echo` or `show_rows` instead."""
    if json_lines():
        line = {
            "event": redact(message),
            "level": level,
            "logger": "seecodes.cli",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        sys.stderr.write(json.dumps(line) + "\n")
        sys.stderr.flush()
    else:
        colour = _COLOUR[level]
        console.print(f"[{colour}]{escape(message)}[/{colour}]")


def show_rows(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A listing: a table at a terminal in dev, else one JSON object per row on stdout."""
    if json_lines():
        for row in rows:
            typer.echo(json.dumps(dict(zip(columns, row, strict=True))))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        refuse(str(error))


def migrate_or_exit(settings: Settings) -> None:
    """Every command that needs the schema migrates first (serialised across processes); a database
    migrated by a newer release is refused in one sentence, before anything starts."""
    # Imported here: Alembic costs a fifth of a second at start, and only the commands that
    # migrate (serve, migrate, worker, and any on the embedded default) need it.
    from seecodes import migrations

    try:
        migrations.upgrade(settings.effective_database_url)
    except migrations.SchemaNewerThanCode as error:
        refuse(str(error))
    except sa_exc.OperationalError as error:
        # One line: where (password masked) and the driver's reason, not the driver's traceback.
        where = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        reason = (str(error.orig) if error.orig is not None else str(error)).strip().splitlines()[0]
        refuse(f"cannot reach the database at {where}: {reason}")


def prepare_database(settings: Settings) -> None:
    """What every command does first: the embedded default must be the server's, and migrates itself."""
    if not settings.database_url:
        embedded_database_or_exit(settings)
        migrate_or_exit(settings)


def in_transaction(settings: Settings, work: Callable[[AsyncSession, Clock], Awaitable[T]]) -> T:
    prepare_database(settings)

    async def run() -> T:
        database = Database(settings.effective_database_url)
        try:
            async with database.transaction() as session:
                return await work(session, Clock())
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except SeecodesError as error:
        exit_for(error)


def exit_for(error: SeecodesError) -> NoReturn:
    """The README's exit statuses: 1 when what was named does not exist, 2 when it was refused."""
    if error.status_code == 404:
        not_found(error.detail)
    refuse(error.detail)


def embedded_database_or_exit(settings: Settings) -> None:
    """Refuse to create the embedded default's database from an operator command: run from another
    directory, it would start an empty second database and answer from it as if it were the
    server's (and the FITs it minted would be refused by the server)."""
    path = settings.embedded_database_path
    if not path.exists():
        refuse(
            f"no database at {path.resolve()}: this is not where the server keeps its data. Run the "
            "command from the server's directory, or set SEECODES_VAR_DIR (or SEECODES_DATABASE_URL) "
            "as the server has it; `seecodes migrate` creates a new one here."
        )


def refuse(message: str) -> NoReturn:
    """A command that cannot do what was asked as things are: said in one line, exit status 2."""
    say(message, "error")
    raise typer.Exit(2)


def when(value: datetime | None) -> str:
    return iso_utc(value) if value else "-"


def not_found(message: str) -> NoReturn:
    """Anything a command was asked about that does not exist: said on stderr, exit status 1."""
    if json_lines():
        say(message, "error")
    else:
        Console(stderr=True, soft_wrap=True).print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(1)
