"""The operator CLI: `seecodes serve | migrate | admin …`."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes import backups, migrations
from seecodes import demo as demo_flow
from seecodes.bootstrap import build_runtime
from seecodes.config import (
    Environment,
    RunExecution,
    Settings,
    SettingsError,
    get_settings,
    use_metrics_multiprocess_dir,
)
from seecodes.db import Database
from seecodes.engine import migrate_system_database, system_database_url
from seecodes.errors import InstallationNotFound, SeecodesError
from seecodes.executors import ExecutorIdInUse, Liveness
from seecodes.installations import metrics as instance_metrics
from seecodes.installations import repository as installation_rows
from seecodes.installations import service as installations
from seecodes.jira import oauth as jira_oauth
from seecodes.jira import service as jira_service
from seecodes.jira import tokens as jira_tokens
from seecodes.jira.oauth import ConnectStart
from seecodes.jira.schemas import StatusResponse as JiraStatus
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.logging import configure_logging
from seecodes.models import Installation, InstanceMetric, OperatorToken, TaskPermit
from seecodes.models.run import RunStatus
from seecodes.runs.catalog import CatalogError, availability_of, load_catalog
from seecodes.security import legacy, operators
from seecodes.security.dev_keys import load_or_create_private_key, mint_forge_token
from seecodes.security.forge import INSTALLATION_ARI_PREFIX, installation_ari
from seecodes.security.permits import revoke_permits

app = typer.Typer(help="SeeCodes execution engine: server and operator commands.", no_args_is_help=True)
admin = typer.Typer(help="Operator commands against the configured database.", no_args_is_help=True)
permits = typer.Typer(help="List and revoke task permits.", no_args_is_help=True)
enrollment = typer.Typer(help="Enrollment tokens for the legacy POST /public/connect.", no_args_is_help=True)
credits = typer.Typer(help="Installation credits.", no_args_is_help=True)
metrics_cli = typer.Typer(help="Installation metrics the Jira App reports.", no_args_is_help=True)
installations_cli = typer.Typer(help="Installations: status, balance, last seen.", no_args_is_help=True)
workers_cli = typer.Typer(help="Run workers: who is alive, who was taken over.", no_args_is_help=True)
tokens_cli = typer.Typer(
    help="Operator tokens (sc_admin_…) for the admin and connector routes.", no_args_is_help=True
)
jira_cli = typer.Typer(
    help="The Jira connector: OAuth connection and status per installation.", no_args_is_help=True
)
app.add_typer(admin, name="admin")
admin.add_typer(permits, name="permits")
admin.add_typer(enrollment, name="enrollment-token")
admin.add_typer(credits, name="credits")
admin.add_typer(metrics_cli, name="metrics")
admin.add_typer(installations_cli, name="installations")
admin.add_typer(workers_cli, name="workers")
admin.add_typer(tokens_cli, name="token")
app.add_typer(jira_cli, name="jira")

# soft_wrap: a line is never broken mid-sentence at the terminal's width (logs and pipes keep it whole).
console = Console(soft_wrap=True)
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


def _check_catalog(settings: Settings) -> None:
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


def _migrate(settings: Settings) -> None:
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


def _in_transaction(settings: Settings, work: Callable[[AsyncSession, Clock], Awaitable[T]]) -> T:
    if not settings.database_url:
        _migrate(settings)  # the embedded default migrates itself

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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Uvicorn worker processes.")] = 1,
    keep_alive: Annotated[
        int, typer.Option(min=1, max=3600, help="Seconds an idle keep-alive connection stays open.")
    ] = 75,
) -> None:
    """Migrate the database, then serve the API."""
    settings = _settings()
    _check_catalog(settings)
    if workers > 1 and settings.run_execution is RunExecution.IN_PROCESS:
        # Each process would launch the engine under one executor id and recover the others' runs.
        console.print(
            "[red]--workers > 1 needs SEECODES_RUN_EXECUTION=workers and `seecodes worker` processes[/red]"
        )
        raise typer.Exit(2)
    _migrate(settings)
    migrate_system_database(settings)
    # Create the dev key and dev secret once, here, rather than racing in N workers.
    if settings.uses_dev_forge_key:
        load_or_create_private_key(settings.dev_forge_key_path)
    settings.secret_key_bytes()
    if workers > 1:
        metrics_dir = settings.var_dir / f"prometheus-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        use_metrics_multiprocess_dir(metrics_dir)
    uvicorn.run(
        "seecodes.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # ours omits query strings, which can carry launch codes
        # Request heads bounded in size, count and time (kit/http_server.py); the body's pace is
        # bounded in the app; connections per process here.
        http="seecodes.kit.http_server:GuardedHttpToolsProtocol",
        limit_concurrency=settings.http_max_connections,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        # Longer than common load balancers' idle timeout (60 s), so the balancer closes idle
        # connections first and never sends a request onto one the server is closing.
        timeout_keep_alive=keep_alive,
    )


@app.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = _settings()
    _migrate(settings)
    migrate_system_database(settings)
    console.print("database is at the newest migration")


@app.command()
def worker() -> None:
    """Execute queued runs and jobs (with SEECODES_RUN_EXECUTION=workers; one SEECODES_WORKER_ID each).

    A worker restarted with the same id resumes the runs it was executing when it stopped; the other
    workers take over those of a worker that stops, or stays silent past
    SEECODES_WORKER_LIVENESS_TIMEOUT_SECONDS. An id a live worker holds is refused.
    """
    settings = _settings()
    if settings.run_execution is not RunExecution.WORKERS:
        # Without the workers shape this process would execute as `local`, ignore SEECODES_WORKER_ID,
        # and the API processes (which only enqueue in that shape) would never hand it a run.
        console.print(
            "[red]seecodes worker needs SEECODES_RUN_EXECUTION=workers (on the API processes too), "
            f"and SEECODES_WORKER_ID unique per worker; it is {settings.run_execution.value!r}[/red]"
        )
        raise typer.Exit(2)
    _check_catalog(settings)
    _migrate(settings)
    migrate_system_database(settings)
    configure_logging(json_lines=settings.env is not Environment.DEV, level=settings.log_level)

    async def work() -> None:
        runtime = build_runtime(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await runtime.start(execute_runs=True)
        except ExecutorIdInUse as taken:
            await runtime.close()
            console.print(f"[red]{taken}[/red]")
            raise typer.Exit(2) from None
        console.print(f"worker {settings.worker_id} executing runs")
        try:
            await stop.wait()
        finally:
            await runtime.close()

    asyncio.run(work())


@admin.command("forge-token")
def forge_token(
    installation: Annotated[str, typer.Option(help="Installation ARI or bare UUID.")],
    cloud_id: Annotated[str, typer.Option("--cloud-id", help="Jira site UUID.")],
    principal: Annotated[str, typer.Option(help="Atlassian account id of the invoking user.")],
    site_url: Annotated[str | None, typer.Option("--site-url")] = None,
    lifetime: Annotated[int, typer.Option(min=5, max=3600, help="Seconds until the token expires.")] = 300,
) -> None:
    """Mint a FIT signed by the local dev key (refused in production)."""
    settings = _settings()
    if settings.is_production:
        console.print("[red]refused: forge-token mints dev credentials and never runs in production[/red]")
        raise typer.Exit(2)
    if not settings.uses_dev_forge_key:
        console.print(
            "[yellow]note: this server verifies FITs against SEECODES_FORGE_JWKS_URL, not the dev key[/yellow]"
        )
    token = _dev_fit(
        settings,
        installation=installation,
        cloud_id=cloud_id,
        principal=principal,
        site_url=site_url,
        lifetime=lifetime,
    )
    typer.echo(token)


def _dev_fit(
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


@app.command()
def demo(
    url: Annotated[str, typer.Option(help="The running server.")] = "http://127.0.0.1:8080",
    project: Annotated[str, typer.Option(help="Jira project key.")] = "DEMO",
    task: Annotated[str, typer.Option(help="Jira issue key.")] = "DEMO-1",
    model: Annotated[str | None, typer.Option(help="Model alias; default: the catalog's default.")] = None,
    prompt: Annotated[str, typer.Option(help="The user prompt sent with list.md.")] = (
        "Work through list.md and answer each item in one or two sentences."
    ),
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to follow the run.")] = 900,
) -> None:
    """Drive the whole flow against a running server, as the Jira App and the IDE would.

    dev FIT → request key → vscode-link → launch exchange → context → init → upload list.md → start →
    progress until the run settles → output and credits. Uses this machine's dev key (refused in
    production) and grants 200 demo credits when the demo installation has fewer than 50.
    """
    settings = _settings()
    if settings.is_production:
        console.print("[red]refused: the demo mints dev credentials and never runs in production[/red]")
        raise typer.Exit(2)

    def mint() -> str:
        return _dev_fit(
            settings,
            installation=demo_flow.DEMO_INSTALLATION,
            cloud_id=demo_flow.DEMO_CLOUD_ID,
            principal=demo_flow.DEMO_PRINCIPAL,
            site_url=demo_flow.DEMO_SITE_URL,
            lifetime=120,
        )

    def grant(amount: int) -> int:
        async def work(session: AsyncSession, clock: Clock) -> int:
            return await installations.grant_credits(
                session,
                clock,
                installation_id=installation_ari(demo_flow.DEMO_INSTALLATION),
                amount=amount,
                reference="seecodes demo",
            )

        return _in_transaction(settings, work)

    try:
        result = demo_flow.run_demo(
            base_url=url,
            mint_fit=mint,
            grant_credits=grant,
            console=console,
            project=project,
            task=task,
            model=model,
            prompt=prompt,
            timeout=timeout,
        )
    except demo_flow.DemoFailed as failure:
        console.print(f"[red]demo stopped: {escape(str(failure))}[/red]")
        raise typer.Exit(1) from failure
    except httpx.TransportError as failure:
        console.print(f"[red]cannot reach {escape(url)} ({type(failure).__name__}); is `make run` up?[/red]")
        raise typer.Exit(1) from failure
    if result.status != RunStatus.SUCCEEDED:
        console.print(f"[red]run {result.run_id} {result.status}: {escape(result.error or '')}[/red]")
        raise typer.Exit(1)
    console.rule(f"output of {result.run_id}")
    console.print(escape(result.output), highlight=False)
    console.rule()
    console.print(f"credits used: {result.credits_charged}; installation balance: {result.available_credits}")


@permits.command("list")
def list_permits(
    installation: Annotated[str | None, typer.Option(help="Only this installation.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task (issue key).")] = None,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include revoked and expired permits.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
) -> None:
    """List permits by jti (the permit values themselves are never stored)."""

    async def work(session: AsyncSession, clock: Clock) -> list[TaskPermit]:
        query = select(TaskPermit).order_by(TaskPermit.issued_at.desc()).limit(limit)
        if installation:
            query = query.where(TaskPermit.installation_id == installation_ari(installation))
        if task:
            query = query.where(TaskPermit.task_id == task)
        if not include_inactive:
            query = query.where(TaskPermit.revoked_at.is_(None), TaskPermit.expires_at > clock.utcnow())
        return list((await session.execute(query)).scalars())

    rows = _in_transaction(_settings(), work)
    table = Table("jti", "installation", "project", "task", "user", "source", "expires", "revoked")
    for row in rows:
        table.add_row(
            row.jti,
            row.installation_id,
            row.project_id,
            row.task_id,
            row.user_account_id,
            row.source,
            iso_utc(row.expires_at),
            _when(row.revoked_at),
        )
    console.print(table)


@permits.command("revoke")
def revoke_permit(
    jti: Annotated[str | None, typer.Argument(help="The permit's jti, from `permits list`.")] = None,
    installation: Annotated[
        str | None, typer.Option(help="With --project and --task: every permit of that task.")
    ] = None,
    project: Annotated[str | None, typer.Option()] = None,
    task: Annotated[str | None, typer.Option()] = None,
    reason: Annotated[str, typer.Option()] = "revoked by operator",
) -> None:
    """Revoke one permit, or every live permit of one task. Takes effect on the next request."""
    if jti is None and not (installation and project and task):
        console.print("[red]give a jti, or --installation, --project and --task[/red]")
        raise typer.Exit(2)
    task_key = (installation_ari(installation), project, task) if installation and project and task else None

    async def work(session: AsyncSession, clock: Clock) -> int:
        return await revoke_permits(session, clock, reason=reason, jti=jti, task=task_key)

    revoked = _in_transaction(_settings(), work)
    if not revoked:
        _not_found("no live permit matched: nothing revoked")
    console.print(f"revoked {revoked} permit(s)")


@enrollment.command("create")
def create_enrollment_token(
    cloud_id: Annotated[str, typer.Option("--cloud-id", help="The Jira site UUID allowed to enroll.")],
) -> None:
    """Issue a one-time token that lets one site call POST /public/connect (legacy bridge)."""
    settings = _settings()

    async def work(session: AsyncSession, clock: Clock) -> legacy.IssuedEnrollmentToken:
        return await legacy.create_enrollment_token(
            session, clock, cloud_id=cloud_id, ttl_seconds=settings.enrollment_token_ttl_seconds
        )

    issued = _in_transaction(settings, work)
    if not settings.legacy_bridge_enabled:
        console.print(
            "[yellow]note: SEECODES_LEGACY_BRIDGE_ENABLED is off; /public/connect answers 404[/yellow]"
        )
    console.print(f"valid until {iso_utc(datetime.fromtimestamp(issued.expires_at).astimezone())}, once")
    typer.echo(issued.token)


@credits.command("grant")
def grant_credits(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    amount: Annotated[int, typer.Argument(help="Credits to add.")],
    reference: Annotated[str | None, typer.Option(help="Why, for the ledger.")] = None,
) -> None:
    """Add credits to an installation's ledger."""

    async def work(session: AsyncSession, clock: Clock) -> int:
        return await installations.grant_credits(
            session, clock, installation_id=installation_ari(installation), amount=amount, reference=reference
        )

    console.print(f"balance: {_in_transaction(_settings(), work)}")


# A negative amount ("-30") is an argument here, not an unknown option.
@credits.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust_credits(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    delta: Annotated[
        int, typer.Argument(help="Credits to add (positive) or take back (negative, e.g. -30).")
    ],
    reason: Annotated[str, typer.Option(help="Why, for the ledger (required).")],
) -> None:
    """Correct an installation's credits up or down: a ledger row with its reason; never below zero."""

    async def work(session: AsyncSession, clock: Clock) -> int:
        return await installations.adjust_credits(
            session, clock, installation_id=installation_ari(installation), delta=delta, reason=reason
        )

    console.print(f"balance: {_in_transaction(_settings(), work)}")


@metrics_cli.command("show")
def show_metrics(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    history: Annotated[int, typer.Option(min=1, max=1000, help="How many reports, newest first.")] = 1,
) -> None:
    """The installed-user counts the Jira App reported (POST /v1/jira/instance-metrics), newest first."""

    async def work(session: AsyncSession, _clock: Clock) -> list[InstanceMetric]:
        return await instance_metrics.history(session, installation_ari(installation), limit=history)

    reports = _in_transaction(_settings(), work)
    if not reports:
        console.print("no metrics reported yet")
        return
    table = Table("reported at", "installed users", "source")
    for report in reports:
        table.add_row(iso_utc(report.created_at), str(report.installed_users_count), report.source)
    console.print(table)


def _when(value: datetime | None) -> str:
    return iso_utc(value) if value else "-"


def _not_found(message: str) -> NoReturn:
    """Anything a command was asked about that does not exist: said on stderr, exit status 1."""
    Console(stderr=True, soft_wrap=True).print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(1)


@installations_cli.command("list")
def list_installations() -> None:
    """Every installation: status, credit balance, and when its Jira App was last seen."""

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[Installation, int, datetime | None]]:
        return await installation_rows.overview(session)

    table = Table("installation", "site", "status", "balance", "last seen")
    for installation, balance, last_seen in _in_transaction(_settings(), work):
        # The bare UUID: what every command accepts, and narrow enough for a terminal's table.
        bare = installation.id.removeprefix(INSTALLATION_ARI_PREFIX)
        table.add_row(bare, installation.site_url or "-", installation.status, str(balance), _when(last_seen))
    console.print(table)


@installations_cli.command("show")
def show_installation(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
) -> None:
    """One installation's state, balance and last contact, as JSON; exit 1 when there is none."""

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[Installation, int, datetime | None]]:
        return await installation_rows.overview(session, installation_ari(installation))

    found = _in_transaction(_settings(), work)
    if not found:
        _not_found(f"no installation {installation_ari(installation)}")
    row, balance, last_seen = found[0]
    shown = {
        "id": row.id,
        "cloudId": row.cloud_id,
        "siteUrl": row.site_url,
        "status": row.status,
        "activationSource": row.activation_source,
        "balance": balance,
        "runConcurrency": row.run_concurrency,
        "createdAt": iso_utc(row.created_at),
        "lastSeenAt": iso_utc(last_seen) if last_seen else None,
    }
    typer.echo(json.dumps(shown, indent=2))


# -- backups of the embedded default ----------------------------------------------------------------
@contextmanager
def _backup_refusals() -> Iterator[None]:
    try:
        yield
    except backups.NotFound as error:
        _not_found(str(error))
    except (backups.Refused, migrations.SchemaNewerThanCode) as error:
        console.print(f"[red]{escape(str(error))}[/red]")
        raise typer.Exit(2) from error


def _embedded(settings: Settings) -> backups.Embedded:
    return backups.embedded(settings, system_database_url=system_database_url(settings))


@admin.command("backup")
def backup(path: Annotated[Path, typer.Argument(help="A new or empty directory.")]) -> None:
    """Back up the embedded default while the server runs: both SQLite databases, local storage and
    the dev secrets under var/, with a manifest of checksums. Refused for PostgreSQL and S3."""
    settings = _settings()
    with _backup_refusals():
        taken = backups.take(_embedded(settings), path, Clock())
    console.print(
        f"backed up {len(taken.files)} files at schema {taken.schema_revision} to {escape(str(path))}"
    )
    if kept := backups.secrets_kept_elsewhere(settings):
        console.print(
            f"[yellow]keep {', '.join(kept)}: the backup does not hold them, a restore needs them[/yellow]"
        )


@admin.command("restore")
def restore(path: Annotated[Path, typer.Argument(help="A directory `admin backup` wrote.")]) -> None:
    """Restore a backup into a fresh SEECODES_VAR_DIR (nothing is overwritten), after checking every
    file against its manifest; `seecodes serve` then migrates it to this release."""
    settings = _settings()
    with _backup_refusals():
        restored = backups.restore(path, _embedded(settings))
    console.print(f"restored {len(restored.files)} files of the backup taken {restored.created_at}")
    if kept := backups.secrets_kept_elsewhere(settings):
        console.print(f"[yellow]{', '.join(kept)} must be what the backed-up server had[/yellow]")


# -- operator tokens and the Jira connector ---------------------------------------------------------
@installations_cli.command("concurrency")
def installation_concurrency(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    cap: Annotated[str, typer.Argument(help="Runs of it that may execute at once per model, or 'default'.")],
) -> None:
    """Cap how many of an installation's runs execute at once on each model (runs started from now on).

    'default' removes its own cap: SEECODES_RUN_INSTALLATION_CONCURRENCY applies again."""
    if cap != "default" and not cap.isdigit():
        console.print("[red]the cap is a whole number of runs, or 'default'[/red]")
        raise typer.Exit(2)

    async def work(session: AsyncSession, clock: Clock) -> int | None:
        changed = await installations.set_run_concurrency(
            session,
            clock,
            installation_id=installation_ari(installation),
            cap=None if cap == "default" else int(cap),
        )
        return changed.run_concurrency

    applied = _in_transaction(_settings(), work)
    console.print(f"run concurrency: {applied if applied is not None else 'default'}")


@workers_cli.command("list")
def list_workers() -> None:
    """Every worker on record in the run engine's database, newest beat first: one JSON object per line."""
    settings = _settings()
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
        console.print_json(json.dumps(shown), indent=None)


@tokens_cli.command("create")
def create_operator_token(
    name: Annotated[str, typer.Option(help="Who or what uses it, shown by `list`.")] = "operator",
) -> None:
    """Create an operator token (sc_admin_…): printed once, stored only as a hash, valid until revoked."""

    async def work(session: AsyncSession, clock: Clock) -> operators.IssuedOperatorToken:
        return await operators.create_operator_token(session, clock, name=name)

    issued = _in_transaction(_settings(), work)
    console.print(f"operator token {issued.id} ({escape(issued.name)}); shown once, keep it secret:")
    typer.echo(issued.token)


@tokens_cli.command("list")
def list_operator_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List operator tokens by id and display prefix (the tokens themselves are never stored)."""

    async def work(session: AsyncSession, _clock: Clock) -> list[OperatorToken]:
        return await operators.list_operator_tokens(session, include_revoked=include_revoked)

    table = Table("id", "name", "token", "created", "last used", "revoked")
    for row in _in_transaction(_settings(), work):
        table.add_row(
            str(row.id),
            escape(row.name),
            row.display_prefix,
            iso_utc(row.created_at),
            _when(row.last_used_at),
            _when(row.revoked_at),
        )
    console.print(table)


@tokens_cli.command("revoke")
def revoke_operator_token(
    token_id: Annotated[int, typer.Argument(help="The token's id, from `list`.")],
) -> None:
    """Revoke an operator token; takes effect on its next request."""

    async def work(session: AsyncSession, clock: Clock) -> bool:
        return await operators.revoke_operator_token(session, clock, token_id)

    if not _in_transaction(_settings(), work):
        console.print(f"[red]no live operator token {token_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked operator token {token_id}")


@jira_cli.command("connect")
def jira_connect(installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")]) -> None:
    """Print the Atlassian authorize URL that connects an installation (valid 10 minutes, once)."""
    settings = _settings()

    async def work(session: AsyncSession, clock: Clock) -> ConnectStart:
        installation_id = installation_ari(installation)
        if await installation_rows.get(session, installation_id) is None:
            raise InstallationNotFound()
        return await jira_oauth.issue_state(
            session, settings, clock, installation_id=installation_id, actor="operator:cli"
        )

    started = _in_transaction(settings, work)
    console.print("Open this URL in a browser signed in to Atlassian (valid 10 minutes, once):")
    typer.echo(started.auth_url)


@jira_cli.command("status")
def jira_status(installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")]) -> None:
    """Print an installation's Jira connection as JSON (what GET /v1/integrations/jira/status answers)."""

    async def work(session: AsyncSession, clock: Clock) -> JiraStatus | None:
        if await installation_rows.get(session, installation_ari(installation)) is None:
            return None
        found = await jira_service.read_status(session, installation_ari(installation), clock.utcnow())
        return JiraStatus.of(found)

    status = _in_transaction(_settings(), work)
    if status is None:
        _not_found(f"no installation {installation_ari(installation)}")
    typer.echo(status.model_dump_json(indent=2))


@jira_cli.command("rotate-keys")
def jira_rotate_keys() -> None:
    """Re-encrypt every stored Jira token under the first SEECODES_JIRA_ENCRYPTION_KEYS key."""

    async def work(session: AsyncSession, _clock: Clock) -> int:
        return await jira_tokens.rotate_keys(session, _settings())

    console.print(f"re-encrypted {_in_transaction(_settings(), work)} token(s)")
