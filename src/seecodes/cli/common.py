"""What every command shares: the console, settings, migrating first, one transaction, exit statuses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes import migrations
from seecodes.config import (
    Settings,
    SettingsError,
    get_settings,
)
from seecodes.db import Database
from seecodes.errors import SeecodesError
from seecodes.kit.clock import Clock, iso_utc
from seecodes.runs.catalog import CatalogError, availability_of, load_catalog
from seecodes.security.dev_keys import load_or_create_private_key, mint_forge_token
from seecodes.security.forge import installation_ari

# soft_wrap: a line is never broken mid-sentence at the terminal's width (logs and pipes keep it whole).
console = Console(soft_wrap=True)
T = TypeVar("T")


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


def check_catalog(settings: Settings) -> None:
    """Refuse to start on a bad models file; say which models cannot run and why."""
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from error
    for spec in catalog:
        availability = availability_of(spec)
        if not availability.ok:
            console.print(
                f"[yellow]model {escape(repr(spec.id))} is not offered: {escape(availability.reason)}[/yellow]"
            )


def migrate_or_exit(settings: Settings) -> None:
    """Every command that needs the schema migrates first (serialised across processes); a database
    migrated by a newer release is refused in one sentence, before anything starts."""
    try:
        migrations.upgrade(settings.effective_database_url)
    except migrations.SchemaNewerThanCode as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from error
    except sa_exc.OperationalError as error:
        # One line: where (password masked) and the driver's reason, not the driver's traceback.
        where = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        reason = (str(error.orig) if error.orig is not None else str(error)).strip().splitlines()[0]
        console.print(f"[red]cannot reach the database at {escape(where)}: {escape(reason)}[/red]")
        raise typer.Exit(2) from error


def in_transaction(settings: Settings, work: Callable[[AsyncSession, Clock], Awaitable[T]]) -> T:
    if not settings.database_url:
        migrate_or_exit(settings)  # the embedded default migrates itself

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
        console.print(f"[red]{escape(error.detail)}[/red]")
        # The README's exit statuses: 1 when what was named does not exist, 2 when it was refused.
        raise typer.Exit(1 if error.status_code == 404 else 2) from error


def dev_fit(
    settings: Settings,
    *,
    installation: str,
    cloud_id: str,
    principal: str,
    site_url: str | None,
    lifetime: int,
) -> str:
    key = load_or_create_private_key(settings.dev_forge_key_path)
    return mint_forge_token(
        key,
        app_id=settings.effective_forge_app_id,
        installation_id=installation_ari(installation),
        cloud_id=cloud_id,
        principal=principal,
        site_url=site_url,
        now=Clock().now_int(),
        lifetime_seconds=lifetime,
    )


def when(value: datetime | None) -> str:
    return iso_utc(value) if value else "-"


def not_found(message: str) -> NoReturn:
    """Anything a command was asked about that does not exist: said on stderr, exit status 1."""
    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(1)
