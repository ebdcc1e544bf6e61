"""Outbound webhook endpoints of an installation (issue 15 §3), as an operator sees them."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.cli.common import exit_for, in_transaction, say, settings_or_exit, show_rows, when
from seecodes.errors import SeecodesError
from seecodes.installations import budgets
from seecodes.kit.clock import Clock
from seecodes.models.webhooks import WebhookEvent
from seecodes.security.forge import installation_ari
from seecodes.webhooks import service

webhook_commands = typer.Typer(help="Signed outbound webhooks of an installation.", no_args_is_help=True)

Installation = Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")]
WebhookId = Annotated[str, typer.Argument(metavar="WEBHOOK", help="The endpoint's id (wh_…).")]


@webhook_commands.command("add")
def add_webhook(
    installation: Installation,
    url: Annotated[str, typer.Argument(help="https:// URL that receives the events.")],
    events: Annotated[
        list[str], typer.Argument(help=f"Events to post: {', '.join(event.value for event in WebhookEvent)}.")
    ],
) -> None:
    """Register an endpoint; prints its signing secret (whsec_…) on stdout, this once."""
    settings = settings_or_exit()
    try:
        chosen = service.parse_events(events)
    except SeecodesError as error:
        exit_for(error)

    async def work(session: AsyncSession, clock: Clock) -> tuple[str, str]:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        registered = await service.register(
            session,
            clock,
            installation_id=installation_id,
            url=url,
            events=chosen,
            created_by="an operator",
            signing_key=settings.secret_key_bytes(),
            allowed_hosts=settings.webhook_allowed_hosts,
        )
        return registered.endpoint.id, registered.secret

    endpoint_id, secret = in_transaction(settings, work)
    say(f"registered {endpoint_id}; its signing secret follows and is not shown again")
    typer.echo(secret)


@webhook_commands.command("list")
def list_webhooks(installation: Installation) -> None:
    """The installation's endpoints: id, state, failures in a row, pending, newest delivery, URL."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[str, ...]]:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        rows: list[tuple[str, ...]] = []
        for state in await service.states(session, installation_id):
            endpoint = state.endpoint
            last = state.last
            rows.append(
                (
                    endpoint.id,
                    "enabled" if endpoint.enabled else f"disabled: {endpoint.disabled_reason}",
                    str(endpoint.consecutive_failures),
                    str(state.pending),
                    f"{last.status} {when(last.last_attempt_at)}" if last else "-",
                    endpoint.url,
                    ",".join(endpoint.events),
                )
            )
        return rows

    rows = in_transaction(settings, work)
    if not rows:
        say("the installation has no webhook endpoint")
        return
    show_rows(("webhook", "state", "failures", "pending", "last", "url", "events"), rows)


@webhook_commands.command("remove")
def remove_webhook(installation: Installation, webhook_id: WebhookId) -> None:
    """Remove an endpoint and its delivery log (exit 1 when there is no such endpoint)."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, _clock: Clock) -> None:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        await service.remove(session, installation_id, webhook_id)

    in_transaction(settings, work)
    say(f"removed {webhook_id}")


@webhook_commands.command("enable")
def enable_webhook(installation: Installation, webhook_id: WebhookId) -> None:
    """Enable a disabled endpoint again, its failure count at zero."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, clock: Clock) -> None:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        await service.enable(session, clock, installation_id, webhook_id)

    in_transaction(settings, work)
    say(f"enabled {webhook_id}")


@webhook_commands.command("deliveries")
def list_deliveries(
    installation: Installation,
    webhook_id: WebhookId,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
) -> None:
    """An endpoint's delivery log: id (the webhook-id header), event, status, attempts, last answer."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, _clock: Clock) -> list[tuple[str, ...]]:
        installation_id = await budgets.require_installation(session, installation_ari(installation))
        page = await service.deliveries(session, installation_id, webhook_id, limit=limit, cursor=None)
        return [
            (
                delivery.id,
                delivery.event_type,
                delivery.status,
                str(delivery.attempts),
                str(delivery.last_status_code or "-"),
                f"{delivery.last_latency_ms} ms" if delivery.last_latency_ms is not None else "-",
                delivery.last_error or "-",
                when(delivery.created_at),
            )
            for delivery in page.deliveries
        ]

    rows = in_transaction(settings, work)
    if not rows:
        say("no delivery yet")
        return
    show_rows(("delivery", "event", "status", "attempts", "answer", "latency", "error", "created"), rows)
