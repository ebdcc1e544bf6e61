"""Credentials an operator issues or revokes: dev FITs, task permits, enrollment and operator tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import select
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
from seecodes.config import Settings
from seecodes.kit.clock import Clock, iso_utc
from seecodes.models import OperatorToken, TaskPermit
from seecodes.security import legacy, operators
from seecodes.security.dev_keys import load_or_create_private_key, mint_forge_token
from seecodes.security.forge import installation_ari
from seecodes.security.permits import revoke_permits

admin_commands = typer.Typer()
permit_commands = typer.Typer(help="List and revoke task permits.", no_args_is_help=True)
enrollment_commands = typer.Typer(
    help="Enrollment tokens for the legacy POST /public/connect.", no_args_is_help=True
)
token_commands = typer.Typer(
    help="Operator tokens (sc_admin_…) for the admin and connector routes.", no_args_is_help=True
)


def dev_fit(
    settings: Settings,
    *,
    installation: str,
    cloud_id: str,
    principal: str,
    site_url: str | None,
    lifetime: int,
) -> str:
    if not settings.dev_forge_key_path.exists():
        # A key made here would sign FITs the server (which made its own) refuses.
        refuse(
            f"no dev key at {settings.dev_forge_key_path.resolve()}: this is not the server's "
            "SEECODES_VAR_DIR. Run the command from the server's directory or set SEECODES_VAR_DIR "
            "as the server has it (`seecodes serve` and `seecodes migrate` create the key)."
        )
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


@admin_commands.command("forge-token")
def forge_token(
    installation: Annotated[str, typer.Option(help="Installation ARI or bare UUID.")],
    cloud_id: Annotated[str, typer.Option("--cloud-id", help="Jira site UUID.")],
    principal: Annotated[str, typer.Option(help="Atlassian account id of the invoking user.")],
    site_url: Annotated[
        str | None, typer.Option("--site-url", help="The Jira site URL the FIT names (context.siteUrl).")
    ] = None,
    lifetime: Annotated[int, typer.Option(min=5, max=3600, help="Seconds until the token expires.")] = 300,
) -> None:
    """Mint a FIT signed by the local dev key (refused in production)."""
    settings = settings_or_exit()
    if settings.is_production:
        refuse("refused: forge-token mints dev credentials and never runs in production")
    if not settings.uses_dev_forge_key:
        say("note: this server verifies FITs against SEECODES_FORGE_JWKS_URL, not the dev key", "warning")
    token = dev_fit(
        settings,
        installation=installation,
        cloud_id=cloud_id,
        principal=principal,
        site_url=site_url,
        lifetime=lifetime,
    )
    typer.echo(token)


@permit_commands.command("list")
def list_permits(
    installation: Annotated[str | None, typer.Option(help="Only this installation.")] = None,
    task: Annotated[str | None, typer.Option(help="Only this task (issue key).")] = None,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include revoked and expired permits.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 200,
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

    show_rows(
        ("jti", "installation", "project", "task", "user", "source", "expires", "revoked"),
        (
            (
                row.jti,
                row.installation_id,
                row.project_id,
                row.task_id,
                row.user_account_id,
                row.source,
                iso_utc(row.expires_at),
                when(row.revoked_at),
            )
            for row in in_transaction(settings_or_exit(), work)
        ),
    )


@permit_commands.command("revoke")
def revoke_permit(
    jti: Annotated[str | None, typer.Argument(help="The permit's jti, from `permits list`.")] = None,
    installation: Annotated[
        str | None, typer.Option(help="With --project and --task: every permit of that task.")
    ] = None,
    project: Annotated[
        str | None, typer.Option(help="With --installation and --task: the Jira project key.")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="With --installation and --project: the issue key.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, recorded on the permit row.")] = "revoked by operator",
) -> None:
    """Revoke one permit, or every live permit of one task. Takes effect on the next request."""
    if jti is None and not (installation and project and task):
        refuse("give a jti, or --installation, --project and --task")
    task_key = (installation_ari(installation), project, task) if installation and project and task else None

    async def work(session: AsyncSession, clock: Clock) -> int:
        return await revoke_permits(session, clock, reason=reason, jti=jti, task=task_key)

    revoked = in_transaction(settings_or_exit(), work)
    if not revoked:
        not_found("no live permit matched: nothing revoked")
    say(f"revoked {revoked} permit(s)")


@enrollment_commands.command("create")
def create_enrollment_token(
    cloud_id: Annotated[str, typer.Option("--cloud-id", help="The Jira site UUID allowed to enroll.")],
) -> None:
    """Issue a one-time token that lets one site call POST /public/connect (legacy bridge)."""
    settings = settings_or_exit()

    async def work(session: AsyncSession, clock: Clock) -> legacy.IssuedEnrollmentToken:
        return await legacy.create_enrollment_token(
            session, clock, cloud_id=cloud_id, ttl_seconds=settings.enrollment_token_ttl_seconds
        )

    issued = in_transaction(settings, work)
    if not settings.legacy_bridge_enabled:
        say("note: SEECODES_LEGACY_BRIDGE_ENABLED is off; /public/connect answers 404", "warning")
    say(f"valid until {iso_utc(datetime.fromtimestamp(issued.expires_at).astimezone())}, once")
    typer.echo(issued.token)


@token_commands.command("create")
def create_operator_token(
    name: Annotated[str, typer.Option(help="Who or what uses it, shown by `list`.")] = "operator",
) -> None:
    """Create an operator token (sc_admin_…): printed once, stored only as a hash, valid until revoked."""

    async def work(session: AsyncSession, clock: Clock) -> operators.IssuedOperatorToken:
        return await operators.create_operator_token(session, clock, name=name)

    issued = in_transaction(settings_or_exit(), work)
    say(f"operator token {issued.id} ({issued.name}); shown once, keep it secret:")
    typer.echo(issued.token)


@token_commands.command("list")
def list_operator_tokens(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List operator tokens by id and display prefix (the tokens themselves are never stored)."""

    async def work(session: AsyncSession, _clock: Clock) -> list[OperatorToken]:
        return await operators.list_operator_tokens(session, include_revoked=include_revoked)

    show_rows(
        ("id", "name", "token", "created", "last used", "revoked"),
        (
            (
                str(row.id),
                row.name,
                row.display_prefix,
                iso_utc(row.created_at),
                when(row.last_used_at),
                when(row.revoked_at),
            )
            for row in in_transaction(settings_or_exit(), work)
        ),
    )


@token_commands.command("revoke")
def revoke_operator_token(
    token_id: Annotated[int, typer.Argument(help="The token's id, from `list`.")],
) -> None:
    """Revoke an operator token; takes effect on its next request."""

    async def work(session: AsyncSession, clock: Clock) -> bool:
        return await operators.revoke_operator_token(session, clock, token_id)

    if not in_transaction(settings_or_exit(), work):
        not_found(f"no live operator token {token_id}")
    say(f"revoked operator token {token_id}")
