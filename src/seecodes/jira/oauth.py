"""The OAuth 2.0 (3LO) round trip: connect, callback, site choice, disconnect.

No database transaction is held across a call to Atlassian: in the callback the state is consumed
(and committed) first, the code exchanged and the sites read next, and the connection stored last,
so `complete_callback` takes the `Database`. The other steps are one request transaction each.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings
from seecodes.db import Database
from seecodes.errors import JiraSiteChoice, NoActiveIntegration
from seecodes.installations import repository as installations
from seecodes.jira import repository
from seecodes.jira.client import AtlassianError, authorize_url
from seecodes.jira.crypto import cipher_for
from seecodes.jira.tokens import http_client, oauth_client, require_oauth_app
from seecodes.kit.clock import Clock
from seecodes.kit.logging import get_logger
from seecodes.kit.secrets import hash_secret
from seecodes.models import JiraConnection, JiraOAuthState
from seecodes.models.jira import ConnectionState
from seecodes.security.callers import InstallationManager

_log = get_logger("seecodes.jira")

STATE_TTL = timedelta(minutes=10)
CallbackResult = Literal["connected", "choose_site", "error"]


@dataclass(frozen=True, slots=True)
class ConnectStart:
    auth_url: str
    state: str = field(repr=False)
    expires_at: int


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    result: CallbackResult
    reason: str | None = None


async def issue_state(
    session: AsyncSession, settings: Settings, clock: Clock, *, installation_id: str, actor: str
) -> ConnectStart:
    """A one-time state, bound to the installation and the caller, valid 10 minutes."""
    require_oauth_app(settings)
    cipher_for(settings)  # refuse now, not at the callback, when tokens could not be stored
    state = secrets.token_urlsafe(32)
    now = clock.utcnow()
    await repository.delete_expired_states(session, now)
    await repository.add_state(
        session,
        JiraOAuthState(
            state_hash=hash_secret(state),
            installation_id=installation_id,
            actor=actor,
            created_at=now,
            expires_at=now + STATE_TTL,
        ),
    )
    url = authorize_url(
        auth_base_url=settings.jira_auth_base_url,
        client_id=settings.jira_client_id,
        redirect_uri=settings.jira_callback_url,
        state=state,
    )
    return ConnectStart(auth_url=url, state=state, expires_at=int((now + STATE_TTL).timestamp()))


async def complete_callback(
    db: Database, clock: Clock, settings: Settings, *, code: str | None, state: str | None, error: str | None
) -> CallbackOutcome:
    """Never raises for an expected outcome: the browser is redirected with the result either way."""
    if not state:
        return CallbackOutcome("error", "state_missing")
    now = clock.utcnow()
    async with db.transaction() as session:
        taken = await repository.take_state(session, hash_secret(state))
    if taken is None:
        return CallbackOutcome("error", "state_invalid")  # unknown, or already used
    installation_id, actor, expires_at = taken
    if expires_at <= now:
        return CallbackOutcome("error", "state_expired")
    if error:
        return CallbackOutcome(
            "error", "access_denied" if error == "access_denied" else "authorization_failed"
        )
    if not code:
        return CallbackOutcome("error", "code_missing")
    try:
        async with http_client(settings) as http:
            oauth = oauth_client(settings, http)
            tokens = await oauth.exchange_code(code)
            sites = [site for site in await oauth.accessible_resources(tokens.access_token) if site.is_jira]
    except AtlassianError as failure:
        _log.warning("jira_connect_failed", installation=installation_id, reason=failure.reason)
        return CallbackOutcome("error", "exchange_failed")
    if tokens.refresh_token is None:
        return CallbackOutcome("error", "offline_access_missing")
    if not sites:
        return CallbackOutcome("error", "no_jira_site")
    cipher = cipher_for(settings)
    async with db.transaction() as session:
        installation = await installations.get(session, installation_id)
        if installation is None:
            return CallbackOutcome("error", "installation_unknown")
        eligible = [site for site in sites if installation.cloud_id in (None, site.id)]
        if not eligible:
            return CallbackOutcome("error", "site_not_granted")
        previous = await repository.live_connection(session, installation_id)
        if previous is not None:
            previous.disconnect("replaced by a new connection", now)
            await session.flush()
        connection = JiraConnection(
            installation_id=installation_id,
            status=ConnectionState.CHOOSING_SITE.value,
            scopes=tokens.scope[:1000],
            available_sites=[site.as_dict() for site in sites],
            access_token_encrypted=cipher.encrypt(tokens.access_token),
            access_expires_at=now + timedelta(seconds=tokens.expires_in),
            refresh_token_encrypted=cipher.encrypt(tokens.refresh_token),
            token_generation=0,
            connected_by=actor,
            created_at=now,
            updated_at=now,
        )
        # With one Jira site there is nothing to choose; with several the user picks (never the first).
        if len(sites) == 1:
            connection.activate(sites[0].as_dict(), now)
        await repository.add_connection(session, connection)
    _log.info("jira_connected", installation=installation_id, sites=len(sites), status=connection.status)
    return CallbackOutcome("connected" if connection.is_active else "choose_site")


async def choose_site(
    session: AsyncSession, clock: Clock, manager: InstallationManager, cloud_id: str
) -> JiraConnection:
    """Complete a grant that reaches several sites. The site must be the installation's own when
    the installation knows it: progress is written to that site's issues."""
    now = clock.utcnow()
    connection = await repository.live_connection(session, manager.installation_id)
    if connection is None or connection.status != ConnectionState.CHOOSING_SITE:
        raise JiraSiteChoice("There is no pending Jira site choice for this installation.")
    site = next((site for site in connection.available_sites or [] if site.get("id") == cloud_id), None)
    if site is None:
        raise JiraSiteChoice("The cloudId is not one of the sites this grant reaches.")
    installation = await installations.get(session, manager.installation_id)
    if installation is not None and installation.cloud_id not in (None, cloud_id):
        raise JiraSiteChoice("The installation belongs to another Jira site; choose that one.")
    connection.activate(site, now)
    await session.flush()
    return connection


async def disconnect(session: AsyncSession, clock: Clock, manager: InstallationManager) -> JiraConnection:
    """Soft: the row stays for audit, inactive, with its tokens cleared."""
    connection = await repository.live_connection(session, manager.installation_id)
    if connection is None:
        raise NoActiveIntegration()
    connection.disconnect(f"disconnected by {manager.actor}", clock.utcnow())
    await session.flush()
    return connection
