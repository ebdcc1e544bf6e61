"""Connector rules for the routes: status, projects, the Forge token, and calling one site safely.

A `JiraSite` talks to Jira between short units of work of its own (reading the token, refreshing
it): a transaction is never held across a call to Atlassian, so these functions take the
`Database` rather than a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.config import Settings
from seecodes.db import Database
from seecodes.errors import (
    InvalidInput,
    JiraNotConfigured,
    JiraRateLimited,
    JiraReauthorizationRequired,
    JiraRequestRefused,
    JiraTokenRefused,
    JiraUnavailable,
    NoActiveIntegration,
    SeecodesError,
)
from seecodes.jira import repository
from seecodes.jira.client import (
    AtlassianError,
    JiraRateLimitedError,
    JiraRefused,
    JiraRest,
    JiraUnauthorized,
    RetryPolicy,
)
from seecodes.jira.tokens import JiraAccess, access_for, http_client, refresh, remember_forge_token
from seecodes.kit.clock import Clock
from seecodes.kit.logging import get_logger
from seecodes.models import JiraConnection, JiraForgeToken
from seecodes.security.callers import InstallationManager

T = TypeVar("T")
_log = get_logger("seecodes.jira")
MAX_PROJECTS = 1000
# A request waits in place for a short Retry-After only; longer ones become a 503 with Retry-After.
INLINE_RETRY = RetryPolicy(retries=2, max_wait_seconds=5.0)
# What a route that calls Jira can answer because of Jira.
JIRA_CALL_ERRORS = (
    NoActiveIntegration,
    JiraReauthorizationRequired,
    JiraUnavailable,
    JiraRequestRefused,
    JiraRateLimited,
    JiraNotConfigured,
)


class JiraSite:
    """One installation's site for the length of an operation: a call that meets an expired 3LO
    token (401) refreshes once and is retried once."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        http: httpx.AsyncClient,
        access: JiraAccess,
        retry: RetryPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self.access = access
        self._refreshed = False
        self._http = http
        self._retry = retry

    def _rest(self) -> JiraRest:
        return JiraRest(
            self._http,
            base_url=self.access.base_url(self._settings),
            token=self.access.token,
            retry=self._retry,
        )

    async def call(self, operation: Callable[[JiraRest], Awaitable[T]]) -> T:
        """A 401 refreshes at most once per token, and never when it cannot be an expiry: one that
        names a scope, or one on a token this operation just refreshed. Those mark the connection as
        needing a new consent instead, so no refresh token is spent on a refusal it cannot fix."""
        try:
            return await operation(self._rest())
        except JiraUnauthorized as refusal:
            if self.access.kind != "oauth" or self.access.connection_id is None:
                raise
            if self._refreshed or _names_a_scope(refusal.reason):
                raise await self._needs_consent(refusal.reason) from None
        self.access = await refresh(
            self._db,
            self._clock,
            self._settings,
            self._http,
            self.access.installation_id,
            self.access.connection_id,
            seen_generation=self.access.generation,
        )
        self._refreshed = True
        try:
            return await operation(self._rest())
        except JiraUnauthorized as again:
            raise await self._needs_consent(f"refused right after a refresh: {again.reason}") from None

    async def _needs_consent(self, reason: str) -> JiraTokenRefused:
        assert self.access.connection_id is not None
        async with self._db.transaction() as session:
            await repository.require_reauthorization(
                session,
                self.access.installation_id,
                self.access.connection_id,
                f"unauthorized: {reason}",
                self._clock.utcnow(),
            )
        _log.warning("jira_reauthorization_required", installation=self.access.installation_id)
        return JiraTokenRefused()

    def issue_url(self, key: str) -> str | None:
        return f"{self.access.site_url}/browse/{key}" if self.access.site_url else None


@asynccontextmanager
async def open_site(
    db: Database, clock: Clock, settings: Settings, installation_id: str, *, retry: RetryPolicy = INLINE_RETRY
) -> AsyncIterator[JiraSite]:
    async with http_client(settings) as http:
        access = await access_for(db, clock, settings, http, installation_id)
        yield JiraSite(db, clock, settings, http, access, retry)


def _names_a_scope(reason: str) -> bool:
    """Atlassian's gateway answers "Unauthorized; scope does not match" for a grant without the scope."""
    return "scope" in reason.casefold()


def domain_error(error: AtlassianError) -> SeecodesError:
    """What a route answers when Jira did not do what we asked."""
    if isinstance(error, JiraRateLimitedError):
        seconds = max(1, round(error.retry_after))
        return JiraRateLimited(headers={"Retry-After": str(seconds)})
    if isinstance(error, JiraRefused):
        return JiraRequestRefused(f"Jira Cloud refused the request ({error.reason}).")
    return JiraUnavailable(f"Jira Cloud did not answer ({error.reason}).")


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    connection: JiraConnection | None
    forge_token: JiraForgeToken | None
    now: datetime


async def read_status(session: AsyncSession, installation_id: str, now: datetime) -> ConnectionStatus:
    return ConnectionStatus(
        connection=await repository.newest_connection(session, installation_id),
        forge_token=await repository.forge_token(session, installation_id),
        now=now,
    )


@dataclass(frozen=True, slots=True)
class ProjectPage:
    projects: list[dict[str, Any]]
    start_at: int
    next_start_at: int | None
    total: int | None


async def projects(
    db: Database,
    clock: Clock,
    settings: Settings,
    manager: InstallationManager,
    *,
    start_at: int,
    limit: int,
    query: str | None,
) -> ProjectPage:
    """Pages through /rest/api/3/project/search until `limit` projects are collected or Jira says last."""
    collected: list[dict[str, Any]] = []
    position = start_at
    total: int | None = None
    is_last = False
    try:
        async with open_site(db, clock, settings, manager.installation_id) as site:
            while len(collected) < limit and not is_last:
                wanted = min(50, limit - len(collected))
                page = await site.call(_project_page(position, wanted, query))
                values = [value for value in page.get("values") or [] if isinstance(value, dict)]
                total = int(page["total"]) if isinstance(page.get("total"), int) else total
                collected += values
                position += len(values)
                is_last = bool(page.get("isLast", True)) or not values
    except AtlassianError as error:
        raise domain_error(error) from None
    projects = [
        {"id": str(project.get("id")), "key": str(project.get("key")), "name": str(project.get("name") or "")}
        for project in collected
    ]
    return ProjectPage(projects, start_at, None if is_last else position, total)


def _project_page(
    start_at: int, max_results: int, query: str | None
) -> Callable[[JiraRest], Awaitable[dict[str, Any]]]:
    async def page(rest: JiraRest) -> dict[str, Any]:
        return await rest.search_projects(start_at=start_at, max_results=max_results, query=query)

    return page


async def keep_forge_token(
    db: Database, clock: Clock, settings: Settings, manager: InstallationManager
) -> datetime | None:
    """The Jira App handing over its system token explicitly (a scheduled trigger); every other Jira
    App request keeps it on the way in too (the security dependency's Forge-token port)."""
    if manager.identity is None:
        raise InvalidInput("Only the Jira App can hand over a Forge system token.")
    if not manager.forge_system_token:
        raise InvalidInput("The x-forge-oauth-system header is missing: enable appSystemToken on the remote.")
    return await remember_forge_token(db, clock, settings, manager.identity, manager.forge_system_token)
