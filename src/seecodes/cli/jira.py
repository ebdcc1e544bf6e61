"""The Jira connector: OAuth connection, status, key rotation."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.cli.common import in_transaction, not_found, say, settings_or_exit
from seecodes.errors import InstallationNotFound
from seecodes.installations import repository as installation_rows
from seecodes.jira import oauth as jira_oauth
from seecodes.jira import service as jira_service
from seecodes.jira import tokens as jira_tokens
from seecodes.jira.oauth import ConnectStart
from seecodes.jira.schemas import StatusResponse as JiraStatus
from seecodes.kit.clock import Clock
from seecodes.security.forge import installation_ari

jira_commands = typer.Typer(
    help="The Jira connector: OAuth connection and status per installation.", no_args_is_help=True
)


@jira_commands.command("connect")
def jira_connect(installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")]) -> None:
    """Print the Atlassian authorize URL that connects an installation (valid 10 minutes, once)."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, clock: Clock) -> ConnectStart:
        installation_id = installation_ari(installation)
        if await installation_rows.get(session, installation_id) is None:
            raise InstallationNotFound()
        return await jira_oauth.issue_state(
            session, settings, clock, installation_id=installation_id, actor="operator:cli"
        )

    started = in_transaction(settings, work)
    say("Open this URL in a browser signed in to Atlassian (valid 10 minutes, once):")
    typer.echo(started.auth_url)


@jira_commands.command("status")
def jira_status(installation: Annotated[str, typer.Argument(help="Installation ARI or bare UUID.")]) -> None:
    """Print an installation's Jira connection as JSON (what GET /v1/integrations/jira/status answers)."""

    async def work(session: AsyncSession, clock: Clock) -> JiraStatus | None:
        if await installation_rows.get(session, installation_ari(installation)) is None:
            return None
        found = await jira_service.read_status(session, installation_ari(installation), clock.utcnow())
        return JiraStatus.of(found)

    status = in_transaction(settings_or_exit(), work)
    if status is None:
        not_found(f"no installation {installation_ari(installation)}")
    typer.echo(status.model_dump_json(indent=2))


@jira_commands.command("rotate-keys")
def jira_rotate_keys() -> None:
    """Re-encrypt every stored Jira token under the first SEECODES_JIRA_ENCRYPTION_KEYS key."""

    async def work(session: AsyncSession, _clock: Clock) -> int:
        return await jira_tokens.rotate_keys(session, settings_or_exit())

    say(f"re-encrypted {in_transaction(settings_or_exit(), work)} token(s)")
