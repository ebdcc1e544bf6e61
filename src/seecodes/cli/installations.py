"""Installations and what they hold: state, credits, budgets, reported metrics, run concurrency."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.cli.common import (
    in_transaction,
    not_found,
    refuse,
    say,
    settings_or_exit,
    show_rows,
    when,
)
from seecodes.installations import budgets
from seecodes.installations import metrics as instance_metrics
from seecodes.installations import repository as installation_rows
from seecodes.installations import service as installations
from seecodes.installations.budgets_schemas import BudgetSettings
from seecodes.kit.clock import Clock, iso_utc
from seecodes.models import Installation, InstanceMetric
from seecodes.security.forge import INSTALLATION_ARI_PREFIX, installation_ari

credit_commands = typer.Typer(help="Installation credits.", no_args_is_help=True)
metric_commands = typer.Typer(help="Installation metrics the Jira App reports.", no_args_is_help=True)
installation_commands = typer.Typer(help="Installations: status, balance, last seen.", no_args_is_help=True)


@credit_commands.command("grant")
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

    say(f"balance: {in_transaction(settings_or_exit(), work)}")


# A negative amount ("-30") is an argument here, not an unknown option.
@credit_commands.command("adjust", context_settings={"ignore_unknown_options": True})
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

    say(f"balance: {in_transaction(settings_or_exit(), work)}")


@metric_commands.command("show")
def show_metrics(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    history: Annotated[int, typer.Option(min=1, max=1000, help="How many reports, newest first.")] = 1,
) -> None:
    """The installed-user counts the Jira App reported (POST /v1/jira/instance-metrics), newest first."""

    async def work(session: AsyncSession, _clock: Clock) -> list[InstanceMetric]:
        return await instance_metrics.history(session, installation_ari(installation), limit=history)

    reports = in_transaction(settings_or_exit(), work)
    if not reports:
        say("no metrics reported yet")
        return
    show_rows(
        ("reported at", "installed users", "source"),
        (
            (iso_utc(report.created_at), str(report.installed_users_count), report.source)
            for report in reports
        ),
    )


@installation_commands.command("list")
def list_installations() -> None:
    """Every installation: status, credit balance, and when its Jira App was last seen."""

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[Installation, int, datetime | None]]:
        return await installation_rows.overview(session)

    # The bare UUID: what every command accepts, and narrow enough for a terminal's table.
    show_rows(
        ("installation", "site", "status", "balance", "last seen"),
        (
            (
                installation.id.removeprefix(INSTALLATION_ARI_PREFIX),
                installation.site_url or "-",
                installation.status,
                str(balance),
                when(last_seen),
            )
            for installation, balance, last_seen in in_transaction(settings_or_exit(), work)
        ),
    )


@installation_commands.command("show")
def show_installation(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
) -> None:
    """One installation's state, balance and last contact, as JSON; exit 1 when there is none."""

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[Installation, int, datetime | None]]:
        return await installation_rows.overview(session, installation_ari(installation))

    found = in_transaction(settings_or_exit(), work)
    if not found:
        not_found(f"no installation {installation_ari(installation)}")
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


@installation_commands.command("concurrency")
def installation_concurrency(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    cap: Annotated[str, typer.Argument(help="Runs of it that may execute at once per model, or 'default'.")],
) -> None:
    """Cap how many of an installation's runs execute at once on each model (runs started from now on).

    'default' removes its own cap: SEECODES_RUN_INSTALLATION_CONCURRENCY applies again."""
    if cap != "default" and not cap.isdigit():
        refuse("the cap is a whole number of runs, or 'default'")

    async def work(session: AsyncSession, clock: Clock) -> int | None:
        changed = await installations.set_run_concurrency(
            session,
            clock,
            installation_id=installation_ari(installation),
            cap=None if cap == "default" else int(cap),
        )
        return changed.run_concurrency

    applied = in_transaction(settings_or_exit(), work)
    say(f"run concurrency: {applied if applied is not None else 'default'}")


budget_commands = typer.Typer(
    help="Monthly credit budgets of an installation and its Jira projects.", no_args_is_help=True
)


@budget_commands.command("show")
def show_budgets(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
) -> None:
    """The budget document with this month's spent, reserved and remaining, as GET /v1/jira/budgets answers."""

    async def work(session: AsyncSession, clock: Clock) -> str:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        return (await budgets.document(session, clock, installation_id)).model_dump_json(indent=2)

    typer.echo(in_transaction(settings_or_exit(), work))


@budget_commands.command("set")
def set_budgets(
    installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")],
    document: Annotated[
        str,
        typer.Argument(
            help="The whole budget document as PUT /v1/jira/budgets takes it: JSON, @FILE, or - for stdin. "
            'E.g. \'{"monthlyCredits": 5000, "mode": "stop", "projects": {"AUTH": {"monthlyCredits": 500}}}\''
        ),
    ],
) -> None:
    """Replace an installation's budgets (fields left out take their defaults); prints the new document."""
    if document == "-":
        text = sys.stdin.read()
    elif document.startswith("@"):
        try:
            text = Path(document[1:]).read_text()
        except OSError as error:
            refuse(f"cannot read {document[1:]}: {error.strerror}")
    else:
        text = document
    try:
        settings = BudgetSettings.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'document'}: {problem['msg']}"
            for problem in error.errors()
        )
        refuse(f"not a budget document: {problems}")

    async def work(session: AsyncSession, clock: Clock) -> str:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        await budgets.replace(session, clock, installation_id, settings)
        return (await budgets.document(session, clock, installation_id)).model_dump_json(indent=2)

    typer.echo(in_transaction(settings_or_exit(), work))
