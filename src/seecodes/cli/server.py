"""Commands that run the service: serve, migrate, worker, and the demo against a running server."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from typing import Annotated

import httpx
import typer
import uvicorn
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes import demo as demo_flow
from seecodes.bootstrap import build_runtime
from seecodes.cli.common import console, in_transaction, migrate_or_exit, refuse, say, settings_or_exit
from seecodes.cli.credentials import dev_fit
from seecodes.config import Environment, RunExecution, Settings, get_settings, use_metrics_multiprocess_dir
from seecodes.engine import migrate_system_database
from seecodes.executors import ExecutorIdInUse
from seecodes.installations import service as installations
from seecodes.kit.clock import Clock
from seecodes.kit.logging import configure_logging
from seecodes.models.run import RunStatus
from seecodes.runs.catalog import CatalogError, availability_of, load_catalog
from seecodes.runtime import MetricsEndpointUnavailable
from seecodes.security.dev_keys import load_or_create_private_key
from seecodes.security.forge import installation_ari

commands = typer.Typer()
SUPERVISOR_PING_TIMEOUT_SECONDS = 30


def check_catalog(settings: Settings) -> list[str]:
    """Refuse to start on a bad models file; say which models cannot run and why. Returns the
    models that can."""
    try:
        catalog = load_catalog(settings.models_file)
    except CatalogError as error:
        refuse(str(error))
    offered = []
    for spec in catalog:
        availability = availability_of(spec)
        if availability.ok:
            offered.append(spec.id)
        else:
            say(f"model {spec.id!r} is not offered: {availability.reason}", "warning")
    return offered


def follow_served_address(host: str, port: int) -> None:
    """Outside production an unset SEECODES_PUBLIC_BASE_URL is the address served, so launch links
    and upload URLs of `serve --port 9000` point at 9000 (production refuses to start without it).
    Set in the environment: the app, in this process or in each of `--workers N`, reads it there."""
    if "SEECODES_PUBLIC_BASE_URL" in os.environ:
        return
    # A wildcard address is not one a client can reach; loopback is, on this machine.
    reachable = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    os.environ["SEECODES_PUBLIC_BASE_URL"] = f"http://{reachable}:{port}"
    get_settings.cache_clear()


def prepare_var_dir(settings: Settings) -> None:
    """Create the dev key and dev secret once, before any server process starts, rather than racing
    in N of them; the operator commands then find them (and refuse a directory that lacks them)."""
    if settings.uses_dev_forge_key:
        load_or_create_private_key(settings.dev_forge_key_path)
    settings.secret_key_bytes()


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Uvicorn worker processes.")] = 1,
    keep_alive: Annotated[
        int, typer.Option(min=1, max=3600, help="Seconds an idle keep-alive connection stays open.")
    ] = 75,
) -> None:
    """Migrate the database, then serve the API."""
    settings = settings_or_exit()
    check_catalog(settings)
    if workers > 1 and settings.run_execution is RunExecution.IN_PROCESS:
        # Each process would launch the engine under one executor id and recover the others' runs.
        refuse("--workers > 1 needs SEECODES_RUN_EXECUTION=workers and `seecodes worker` processes")
    migrate_or_exit(settings)
    migrate_system_database(settings)
    prepare_var_dir(settings)
    follow_served_address(host, port)
    # Before uvicorn starts: with --workers N its supervisor (this process) logs each child's start,
    # death and restart, and those lines need a handler here, not only in the children.
    configure_logging(json_lines=settings.env is not Environment.DEV, level=settings.log_level)
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
        # The supervisor kills a child that does not answer its ping in time. Uvicorn's 5 s is
        # within reach of a child busy on a loaded host, and a kill drops every request it holds.
        timeout_worker_healthcheck=SUPERVISOR_PING_TIMEOUT_SECONDS,
    )


@commands.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = settings_or_exit()
    migrate_or_exit(settings)
    migrate_system_database(settings)
    prepare_var_dir(settings)
    say("database is at the newest migration")


@commands.command()
def worker() -> None:
    """Execute queued runs and jobs (with SEECODES_RUN_EXECUTION=workers; one SEECODES_WORKER_ID each).

    A worker restarted with the same id resumes the runs it was executing when it stopped; the other
    workers take over those of a worker that stops, or stays silent past
    SEECODES_WORKER_LIVENESS_TIMEOUT_SECONDS. An id a live worker holds is refused.
    """
    settings = settings_or_exit()
    if settings.run_execution is not RunExecution.WORKERS:
        # Without the workers shape this process would execute as `local`, ignore SEECODES_WORKER_ID,
        # and the API processes (which only enqueue in that shape) would never hand it a run.
        refuse(
            "seecodes worker needs SEECODES_RUN_EXECUTION=workers (on the API processes too), "
            f"and SEECODES_WORKER_ID unique per worker; it is {settings.run_execution.value!r}"
        )
    offered = check_catalog(settings)
    migrate_or_exit(settings)
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
        except (ExecutorIdInUse, MetricsEndpointUnavailable) as taken:
            await runtime.close()
            refuse(str(taken))
        served = ", ".join(repr(model) for model in offered) or "none"
        say(f"worker {settings.worker_id} executing runs of the models {served}")
        try:
            await stop.wait()
        finally:
            await runtime.close()

    asyncio.run(work())


@commands.command()
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
    settings = settings_or_exit()
    if settings.is_production:
        refuse("refused: the demo mints dev credentials and never runs in production")

    def mint() -> str:
        return dev_fit(
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

        return in_transaction(settings, work)

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
