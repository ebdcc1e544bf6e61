"""The deployment itself: run workers on record, backups of the embedded default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from seecodes import backups, migrations
from seecodes.cli.common import not_found, refuse, say, settings_or_exit
from seecodes.config import (
    Settings,
)
from seecodes.engine import system_database_url
from seecodes.executors import Liveness
from seecodes.kit.clock import Clock

admin_commands = typer.Typer()
worker_commands = typer.Typer(help="Run workers: who is alive, who was taken over.", no_args_is_help=True)


@contextmanager
def _backup_refusals() -> Iterator[None]:
    try:
        yield
    except backups.NotFound as error:
        not_found(str(error))
    except (backups.Refused, migrations.SchemaNewerThanCode) as error:
        refuse(str(error))


def _embedded(settings: Settings) -> backups.Embedded:
    return backups.embedded(settings, system_database_url=system_database_url(settings))


@admin_commands.command("backup")
def backup(path: Annotated[Path, typer.Argument(help="A new or empty directory.")]) -> None:
    """Back up the embedded default while the server runs: both SQLite databases, local storage and
    the dev secrets under var/, with a manifest of checksums. Refused for PostgreSQL and S3."""
    settings = settings_or_exit()
    with _backup_refusals():
        taken = backups.take(_embedded(settings), path, Clock())
    say(f"backed up {len(taken.files)} files at schema {taken.schema_revision} to {path}")
    if kept := backups.secrets_kept_elsewhere(settings):
        say(f"keep {', '.join(kept)}: the backup does not hold them, a restore needs them", "warning")


@admin_commands.command("restore")
def restore(path: Annotated[Path, typer.Argument(help="A directory `admin backup` wrote.")]) -> None:
    """Restore a backup into a fresh SEECODES_VAR_DIR (nothing is overwritten), after checking every
    file against its manifest; `seecodes serve` then migrates it to this release."""
    settings = settings_or_exit()
    with _backup_refusals():
        restored = backups.restore(path, _embedded(settings))
    say(f"restored {len(restored.files)} files of the backup taken {restored.created_at}")
    if kept := backups.secrets_kept_elsewhere(settings):
        say(f"{', '.join(kept)} must be what the backed-up server had", "warning")


@worker_commands.command("list")
def list_workers() -> None:
    """Every worker on record in the run engine's database, newest beat first: one JSON object per line."""
    settings = settings_or_exit()
    liveness = Liveness(
        system_database_url(settings),
        "seecodes-cli",
        timeout_seconds=settings.worker_liveness_timeout_seconds,
    )
    try:
        liveness.create_table()
        fleet = liveness.fleet()
    finally:
        liveness.close()
    # One JSON object per line: the queue names are long, and a table would cut them.
    for executor in fleet:
        state = executor.state
        if state == "live" and executor.silent_ms > liveness.timeout_ms:
            state = "silent"  # not taken over yet: no live worker has swept since
        shown = {
            "workerId": executor.executor_id,
            "host": executor.host,
            "pid": executor.pid,
            "state": state,
            "lastBeatSecondsAgo": round(executor.silent_ms / 1000, 1),
            "queues": list(executor.queues),
        }
        typer.echo(json.dumps(shown))
