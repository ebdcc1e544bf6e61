"""The tokens that reach Jira: which one a call uses, refreshing the 3LO one, keeping the Forge one.

Rules kept here:
* a token is decrypted only to make a call and never leaves this process in any other form
  (not in a log line, not in a workflow's checkpoint, not in a repr);
* a 3LO connection wins over a Forge system token; the Forge token is used when there is none;
* the Forge token is captured from every verified Jira App request (security hands it to
  `capture_forge_token` through the port the composition root fills), written only when this
  process has not stored that very token already;
* Atlassian rotates refresh tokens and disables the one spent, so a refresh runs with the
  connection's row locked, and the new refresh token is committed before the new access token is
  returned to anyone. Two processes that both find the access token stale queue on that lock; the
  second sees the generation moved on and uses the first one's token.
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import httpx
import jwt
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings
from seecodes.db import Database
from seecodes.errors import (
    JiraNotConfigured,
    JiraReauthorizationRequired,
    JiraRequestRefused,
    JiraTokenRefused,
    JiraUnavailable,
    NoActiveIntegration,
)
from seecodes.installations import repository as installations
from seecodes.jira import repository
from seecodes.jira.client import AtlassianOAuth, AtlassianUnavailable, OAuthGrantRejected
from seecodes.jira.crypto import TokenCipher, TokenUnreadable, cipher_for
from seecodes.kit.clock import Clock, from_epoch
from seecodes.kit.logging import get_logger
from seecodes.models import JiraConnection
from seecodes.security.forge import ForgeIdentity, jira_cloud_id_from_api_base_url

_log = get_logger("seecodes.jira")

# A token this close to expiry is treated as expired: a call started now must not outlive it.
ACCESS_TOKEN_MARGIN = timedelta(seconds=60)
FORGE_TOKEN_MARGIN = timedelta(seconds=30)
# Forge documents the system token as "valid for at least 55 minutes" when it carries no readable exp.
FORGE_TOKEN_DEFAULT_LIFETIME = timedelta(minutes=55)
# Longer than any JWT Forge sends; a header beyond it is not a token we will store.
MAX_FORGE_TOKEN_CHARS = 8192
# The grant errors after which the stored grant is useless and the user must consent again.
GRANT_LOST_ERRORS = frozenset({"invalid_grant", "unauthorized_client", "access_denied", "invalid_client"})


@dataclass(frozen=True, slots=True)
class JiraAccess:
    installation_id: str
    kind: Literal["oauth", "forge"]
    cloud_id: str
    site_url: str | None
    token: str = field(repr=False)
    connection_id: int | None = None
    generation: int = 0

    def base_url(self, settings: Settings) -> str:
        return f"{settings.jira_api_base_url}/ex/jira/{self.cloud_id}"


def http_client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.jira_http_timeout_seconds, follow_redirects=False)


def require_oauth_app(settings: Settings) -> None:
    if not settings.jira_client_id or not settings.jira_client_secret.get_secret_value():
        raise JiraNotConfigured("SEECODES_JIRA_CLIENT_ID and SEECODES_JIRA_CLIENT_SECRET are not set.")


def oauth_client(settings: Settings, http: httpx.AsyncClient) -> AtlassianOAuth:
    require_oauth_app(settings)
    return AtlassianOAuth(
        http,
        auth_base_url=settings.jira_auth_base_url,
        api_base_url=settings.jira_api_base_url,
        client_id=settings.jira_client_id,
        client_secret=settings.jira_client_secret.get_secret_value(),
        redirect_uri=settings.jira_callback_url,
    )


async def access_for(
    db: Database, clock: Clock, settings: Settings, http: httpx.AsyncClient, installation_id: str
) -> JiraAccess:
    """The token a call for this installation uses now: 3LO (refreshed if stale), else Forge."""
    now = clock.utcnow()
    async with db.transaction() as session:
        connection = await repository.live_connection(session, installation_id)
        if connection is not None and connection.is_active:
            if (
                connection.access_token_encrypted
                and connection.access_expires_at is not None
                and connection.access_expires_at > now + ACCESS_TOKEN_MARGIN
            ):
                return _oauth_access(connection, cipher_for(settings))
            connection_id, generation = connection.id, connection.token_generation
        else:
            # A connection waiting for a new consent: the Forge token may still carry writes.
            waiting = connection is not None and connection.reauthorization_required_at is not None
            if waiting and await repository.forge_token(session, installation_id) is None:
                raise JiraTokenRefused()
            return await _forge_access(session, settings, installation_id, now)
    return await refresh(
        db, clock, settings, http, installation_id, connection_id, seen_generation=generation
    )


async def _forge_access(
    session: AsyncSession, settings: Settings, installation_id: str, now: datetime
) -> JiraAccess:
    stored = await repository.forge_token(session, installation_id)
    if stored is None:
        raise NoActiveIntegration()
    if stored.expires_at <= now + FORGE_TOKEN_MARGIN:
        raise NoActiveIntegration(
            "The Jira App's system token has expired and there is no OAuth connection; "
            "the app refreshes it on its next call (or connect with OAuth)."
        )
    installation = await installations.get(session, installation_id)
    return JiraAccess(
        installation_id=installation_id,
        kind="forge",
        cloud_id=stored.cloud_id,
        site_url=installation.site_url if installation is not None else None,
        token=_decrypt(cipher_for(settings), stored.token_encrypted),
    )


async def refresh(
    db: Database,
    clock: Clock,
    settings: Settings,
    http: httpx.AsyncClient,
    installation_id: str,
    connection_id: int,
    *,
    seen_generation: int,
) -> JiraAccess:
    """Spend the refresh token once, under the row lock; see the module docstring."""
    now = clock.utcnow()
    cipher = cipher_for(settings)
    lost: OAuthGrantRejected | None = None
    async with db.transaction() as session:
        connection = await repository.lock_connection(session, installation_id, connection_id)
        if connection is None or not connection.is_active:
            raise NoActiveIntegration()
        if connection.token_generation != seen_generation and connection.access_token_encrypted:
            return _oauth_access(connection, cipher)  # another caller refreshed while we waited
        if not connection.refresh_token_encrypted:
            raise NoActiveIntegration("The Jira connection holds no refresh token; connect again.")
        spent = _decrypt(cipher, connection.refresh_token_encrypted)
        try:
            tokens = await oauth_client(settings, http).refresh(spent)
        except AtlassianUnavailable as error:
            raise JiraUnavailable(f"Refreshing the Jira token failed: {error.reason}") from None
        except OAuthGrantRejected as error:
            lost = error
            connection.record_error(f"refresh refused: {error.reason}", now)
            if error.error in GRANT_LOST_ERRORS:
                connection.disconnect(f"{error.error}: Atlassian refused the refresh token", now)
        else:
            # Saved (committed when this block ends) before anyone is given the new access token.
            connection.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token or spent)
            connection.access_token_encrypted = cipher.encrypt(tokens.access_token)
            connection.access_expires_at = now + timedelta(seconds=tokens.expires_in)
            connection.token_generation += 1
            connection.refreshed_at = now
            connection.updated_at = now
            if tokens.scope:
                connection.scopes = tokens.scope[:1000]
            await session.flush()
            access = _oauth_access(connection, cipher, token=tokens.access_token)
    if lost is not None:
        _log.warning("jira_refresh_refused", installation=installation_id, error=lost.error)
        if lost.error in GRANT_LOST_ERRORS:
            raise JiraReauthorizationRequired()
        raise JiraRequestRefused(f"Atlassian refused the token refresh ({lost.reason}).")
    _log.info("jira_token_refreshed", installation=installation_id, generation=access.generation)
    return access


def _oauth_access(connection: JiraConnection, cipher: TokenCipher, *, token: str | None = None) -> JiraAccess:
    assert connection.cloud_id is not None
    return JiraAccess(
        installation_id=connection.installation_id,
        kind="oauth",
        cloud_id=connection.cloud_id,
        site_url=connection.site_url,
        token=token if token is not None else _decrypt(cipher, connection.access_token_encrypted or ""),
        connection_id=connection.id,
        generation=connection.token_generation,
    )


def _decrypt(cipher: TokenCipher, ciphertext: str) -> str:
    try:
        return cipher.decrypt(ciphertext)
    except TokenUnreadable as error:
        raise JiraNotConfigured(
            "A stored Jira token cannot be decrypted: SEECODES_JIRA_ENCRYPTION_KEYS lost the key it was written with."
        ) from error


class _ForgeTokenMemo:
    """What this process last stored per installation: a SHA-256 of the token and its expiry.

    Forge attaches the same system token to every Jira App request until it rotates it (hourly),
    so without this every such request would re-encrypt and upsert the same value. Keyed by the
    Database object, not by installation alone, so two runtimes (tests, one process serving two
    databases) never answer for each other. A miss only costs the upsert, whose own guard keeps
    the freshest token when several processes race."""

    def __init__(self) -> None:
        self._by_database: weakref.WeakKeyDictionary[object, dict[str, tuple[bytes, datetime]]] = (
            weakref.WeakKeyDictionary()
        )

    def expiry_if_kept(self, database: object, installation_id: str, digest: bytes) -> datetime | None:
        kept = self._by_database.get(database, {}).get(installation_id)
        return kept[1] if kept is not None and hmac.compare_digest(kept[0], digest) else None

    def keep(self, database: object, installation_id: str, digest: bytes, expires_at: datetime) -> None:
        self._by_database.setdefault(database, {})[installation_id] = (digest, expires_at)


_forge_memo = _ForgeTokenMemo()


async def capture_forge_token(
    db: Database, clock: Clock, settings: Settings, identity: ForgeIdentity, token: str | None
) -> None:
    """Every verified Jira App request: keep the system token Forge attached, if any. Never fails
    the request it rides on (a token that cannot be kept now is kept on a later request)."""
    if not token:
        return
    try:
        await remember_forge_token(db, clock, settings, identity, token)
    except (SQLAlchemyError, JiraNotConfigured) as error:
        _log.warning(
            "forge_system_token_not_kept",
            installation=identity.installation_id,
            error_type=type(error).__name__,
        )


async def remember_forge_token(
    db: Database, clock: Clock, settings: Settings, identity: ForgeIdentity, token: str
) -> datetime | None:
    """Keep the app system token Forge attached to a verified Jira App request; returns its expiry,
    or None when it is not kept (the reason is logged; the token never is). The same token seen
    again by this process is not written again."""
    if len(token) > MAX_FORGE_TOKEN_CHARS:
        _log.warning("forge_system_token_ignored", installation=identity.installation_id, reason="too_long")
        return None
    cloud_id = jira_cloud_id_from_api_base_url(identity.api_base_url)
    if cloud_id is None or (identity.cloud_id is not None and identity.cloud_id != cloud_id):
        _log.warning(
            "forge_system_token_ignored", installation=identity.installation_id, reason="api_base_url"
        )
        return None
    digest = hashlib.sha256(token.encode()).digest()
    known = _forge_memo.expiry_if_kept(db, identity.installation_id, digest)
    now = clock.utcnow()
    if known is not None and known > now + FORGE_TOKEN_MARGIN:
        return known
    expires_at = forge_token_expiry(token, clock)
    if expires_at <= now + FORGE_TOKEN_MARGIN:
        _log.warning("forge_system_token_ignored", installation=identity.installation_id, reason="expired")
        return None
    try:
        cipher = cipher_for(settings)
    except JiraNotConfigured:
        _log.warning(
            "forge_system_token_ignored", installation=identity.installation_id, reason="no_encryption_key"
        )
        return None
    async with db.transaction() as session:
        await repository.save_forge_token(
            session,
            {
                "installation_id": identity.installation_id,
                "cloud_id": cloud_id,
                "token_encrypted": cipher.encrypt(token),
                "expires_at": expires_at,
                "received_at": now,
            },
        )
    _forge_memo.keep(db, identity.installation_id, digest, expires_at)
    return expires_at


def forge_token_expiry(token: str, clock: Clock) -> datetime:
    """Forge tokens are JWTs: `exp` is read (not trusted for anything but when to stop using it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        exp = claims.get("exp")
        if isinstance(exp, int | float):
            return from_epoch(float(exp))
    except jwt.PyJWTError:
        pass
    return clock.utcnow() + FORGE_TOKEN_DEFAULT_LIFETIME


async def rotate_keys(session: AsyncSession, settings: Settings) -> int:
    """Re-encrypt every stored token under the first configured key; returns how many were rewritten."""
    cipher = cipher_for(settings)
    rewritten = 0
    for connection in await repository.connections(session):
        if connection.access_token_encrypted:
            connection.access_token_encrypted = cipher.rotate(connection.access_token_encrypted)
            rewritten += 1
        if connection.refresh_token_encrypted:
            connection.refresh_token_encrypted = cipher.rotate(connection.refresh_token_encrypted)
            rewritten += 1
    for stored in await repository.forge_tokens(session):
        stored.token_encrypted = cipher.rotate(stored.token_encrypted)
        rewritten += 1
    await session.flush()
    return rewritten
