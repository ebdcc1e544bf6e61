"""Runs waiting for approval (issue 15 §2): list them and decide, as an operator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.bootstrap import build_runtime
from seecodes.cli.common import (
    exit_for,
    in_transaction,
    prepare_database,
    refuse,
    say,
    settings_or_exit,
    show_rows,
)
from seecodes.config import Settings, SettingsError
from seecodes.errors import SeecodesError
from seecodes.installations import budgets
from seecodes.kit.clock import Clock, iso_utc
from seecodes.runs import approvals
from seecodes.runtime import Runtime
from seecodes.security.forge import installation_ari

approval_commands = typer.Typer(help="Runs waiting for an approval decision.", no_args_is_help=True)
T = TypeVar("T")


@approval_commands.command("list")
def list_approvals(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest request first.")] = 50,
) -> None:
    """The installation's runs awaiting approval: run, project, task, estimate, requested, expires."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[str, ...]]:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        page = await approvals.pending(session, installation_id, limit=limit, cursor=None)
        rows: list[tuple[str, ...]] = []
        for run in page.runs:
            expires = approvals.expires_at(run, settings.approval_expire_hours)
            rows.append(
                (
                    run.id,
                    run.project_id,
                    run.task_id,
                    str(run.estimated_credits or 0),
                    iso_utc(run.approval_requested_at) if run.approval_requested_at else "-",
                    iso_utc(expires) if expires else "-",
                )
            )
        return rows

    rows = in_transaction(settings, work)
    if not rows:
        say("no run is awaiting approval")
        return
    show_rows(("run", "project", "task", "credits", "requested", "expires"), rows)


@approval_commands.command("decide")
def decide_approval(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The waiting run's id (run_…).")],
    decision: Annotated[approvals.Decision, typer.Argument(help="approved or rejected.")],
    reason: Annotated[
        str | None, typer.Option(help="Shown in the run's log (at most 500 characters).")
    ] = None,
) -> None:
    """Approve (reserve and queue; exit 2 when the credits or a budget no longer allow it) or reject."""
    if reason is not None and len(reason) > 500:
        refuse("the reason is at most 500 characters")
    settings = settings_or_exit()

    async def work(runtime: Runtime) -> str:
        async with runtime.db.transaction() as session:
            installation_id = await budgets.require_installation(session, installation_ari(installation))
            run = await approvals.decide(
                session,
                runtime.clock,
                runtime.catalog,
                installation_id=installation_id,
                run_id=run_id,
                decision=decision,
                decided_by="an operator",
                reason=reason,
                installation_concurrency=runtime.settings.run_installation_concurrency,
            )
            return run.status

    say(f"{run_id}: {with_runtime(settings, work)}")


def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run `work` with the engine started to enqueue (not execute): a decision that queues a run
    hands it to the workers the moment it commits, as the API would."""
    prepare_database(settings)

    async def run() -> T:
        try:
            runtime = build_runtime(settings)
        except SettingsError as error:
            refuse(str(error))
        await runtime.start(execute_runs=False)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(run())
    except SeecodesError as error:
        exit_for(error)
