"""HTTP to Atlassian, nothing else: the OAuth 2.0 (3LO) endpoints and the Jira Cloud REST v3 calls we make.

No database, no settings object, no logging of bodies. Failures come back as the exceptions below;
the only policy here is the retry of a 429 (honouring Retry-After) and, for idempotent calls, of a 5xx,
within the bounds the caller passes.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

SCOPES = ("read:jira-work", "write:jira-work", "offline_access")
DEFAULT_RETRY_AFTER_SECONDS = 2.0
_REASON_LIMIT = 300


class AtlassianError(Exception):
    """Base: `reason` is safe to store and show (it never holds a token)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:_REASON_LIMIT]
        self.status = status


class AtlassianUnavailable(AtlassianError):
    """Network failure, timeout, or a 5xx after the allowed retries."""


class OAuthGrantRejected(AtlassianError):
    """The token endpoint refused a code or a refresh token (`invalid_grant`, `access_denied`, …)."""

    def __init__(self, error: str, description: str, *, status: int | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error, status=status)
        self.error = error


class JiraRefused(AtlassianError):
    """Jira answered 4xx (other than 401 and 429)."""


class JiraUnauthorized(JiraRefused):
    """401: the access token expired or was revoked."""


class JiraNotFoundError(JiraRefused):
    """404: the issue, comment or project does not exist or is not visible to the token."""


class JiraRateLimitedError(AtlassianError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited by Jira; retry after {retry_after:g} s", status=429)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    url: str
    scopes: tuple[str, ...]

    @property
    def is_jira(self) -> bool:
        # Jira and Confluence entries can share an id; the scopes tell the products apart.
        return any("jira" in scope for scope in self.scopes)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "url": self.url}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one call may wait in place: 429s sleep Retry-After, idempotent 5xx back off."""

    retries: int = 0
    max_wait_seconds: float = 0.0


def parse_retry_after(value: str | None, now: float | None = None) -> float:
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(0.0, when - (time.time() if now is None else now))


def _safe_reason(response: httpx.Response) -> str:
    """Jira's own error text (errorMessages / errors), never the request."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    parts: list[str] = []
    if isinstance(body, dict):
        messages = body.get("errorMessages")
        if isinstance(messages, list):
            parts += [str(message) for message in messages]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{name}: {message}" for name, message in errors.items()]
        if not parts and isinstance(body.get("message"), str):
            parts.append(body["message"])
    return f"HTTP {response.status_code}: " + "; ".join(parts) if parts else f"HTTP {response.status_code}"


def authorize_url(
    *, auth_base_url: str, client_id: str, redirect_uri: str, state: str, scopes: tuple[str, ...] = SCOPES
) -> str:
    """Atlassian's consent page: every parameter the 3LO documentation marks required."""
    query = {
        "audience": "api.atlassian.com",
        "client_id": client_id,
        "scope": " ".join(scopes),
        "redirect_uri": redirect_uri,
        "state": state,
        "response_type": "code",
        "prompt": "consent",
    }
    return f"{auth_base_url}/authorize?{urlencode(query, quote_via=quote)}"


class AtlassianOAuth:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        auth_base_url: str,
        api_base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
    ) -> None:
        self._http = http
        self._auth_base_url = auth_base_url
        self._api_base_url = api_base_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._redirect_uri = redirect_uri

    async def exchange_code(self, code: str) -> TokenSet:
        return await self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self._redirect_uri}
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token(self, grant: dict[str, str]) -> TokenSet:
        # Client credentials in the body, as Atlassian documents (not HTTP Basic).
        body = {**grant, "client_id": self._client_id, "client_secret": self._client_secret}
        try:
            response = await self._http.post(f"{self._auth_base_url}/oauth/token", json=body)
        except httpx.HTTPError as error:
            raise AtlassianUnavailable(f"token endpoint unreachable: {type(error).__name__}") from None
        if response.status_code >= 500:
            raise AtlassianUnavailable(f"token endpoint answered HTTP {response.status_code}")
        payload = _json_object(response)
        if response.status_code >= 400:
            raise OAuthGrantRejected(
                str(payload.get("error") or f"http_{response.status_code}"),
                str(payload.get("error_description") or ""),
                status=response.status_code,
            )
        access_token = payload.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise AtlassianUnavailable("token endpoint answered without an access token")
        refresh_token = payload.get("refresh_token")
        return TokenSet(
            access_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            expires_in=int(payload.get("expires_in") or 3600),
            scope=str(payload.get("scope") or ""),
        )

    async def accessible_resources(self, access_token: str) -> list[Site]:
        try:
            response = await self._http.get(
                f"{self._api_base_url}/oauth/token/accessible-resources",
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            raise AtlassianUnavailable(f"accessible-resources unreachable: {type(error).__name__}") from None
        if response.status_code >= 400:
            raise AtlassianUnavailable(f"accessible-resources answered HTTP {response.status_code}")
        try:
            entries = response.json()
        except ValueError:
            entries = None
        if not isinstance(entries, list):
            raise AtlassianUnavailable("accessible-resources answered something other than a list")
        return [
            Site(
                id=str(entry["id"]),
                name=str(entry.get("name") or ""),
                url=str(entry["url"]).rstrip("/"),
                scopes=tuple(str(scope) for scope in entry.get("scopes") or ()),
            )
            for entry in entries
            if isinstance(entry, dict) and entry.get("id") and entry.get("url")
        ]


class JiraRest:
    """Jira Cloud REST v3 on one site, through the gateway URL `<api>/ex/jira/<cloudId>`."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, token: str, retry: RetryPolicy | None = None
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._retry = retry or RetryPolicy()

    async def search_projects(self, *, start_at: int, max_results: int, query: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"startAt": start_at, "maxResults": max_results, "orderBy": "key"}
        if query:
            params["query"] = query
        return _json_dict(await self._request("GET", "/rest/api/3/project/search", params=params))

    async def get_project(self, project_id_or_key: str) -> dict[str, Any]:
        return _json_dict(
            await self._request("GET", f"/rest/api/3/project/{quote(project_id_or_key, safe='')}")
        )

    async def creatable_priorities(self, project: str, issue_type: str) -> list[dict[str, Any]] | None:
        """The priorities an issue of this type may be created with in the project, in the site's
        order (highest first), from the create metadata (`read:jira-work`; the older
        `/priority/search` needs `manage:jira-configuration` and is deprecated). An empty list: the
        create screen has no priority field. None: the project has no such issue type."""
        base = f"/rest/api/3/issue/createmeta/{quote(project, safe='')}/issuetypes"
        types = await self._pages(base, "issueTypes")
        wanted = next((t for t in types if str(t.get("name", "")).casefold() == issue_type.casefold()), None)
        if wanted is None or not wanted.get("id"):
            return None
        fields = await self._pages(f"{base}/{quote(str(wanted['id']), safe='')}", "fields")
        priority = next((field for field in fields if field.get("fieldId") == "priority"), None)
        if priority is None:
            return []
        return [value for value in priority.get("allowedValues") or [] if isinstance(value, dict)]

    async def _pages(self, path: str, key: str) -> list[dict[str, Any]]:
        collected: list[dict[str, Any]] = []
        start_at = 0
        while True:
            page = _json_dict(
                await self._request("GET", path, params={"startAt": start_at, "maxResults": 50})
            )
            values = [value for value in page.get(key) or [] if isinstance(value, dict)]
            collected += values
            total = page.get("total")
            start_at += len(values)
            if not values or not isinstance(total, int) or start_at >= total:
                return collected

    async def set_issue_property(self, issue: str, key: str, value: dict[str, Any]) -> None:
        await self._request(
            "PUT", f"/rest/api/3/issue/{quote(issue, safe='')}/properties/{quote(key, safe='')}", json=value
        )

    async def add_comment(self, issue: str, body: dict[str, Any]) -> str:
        created = _json_dict(
            await self._request(
                "POST",
                f"/rest/api/3/issue/{quote(issue, safe='')}/comment",
                json={"body": body},
                idempotent=False,
            )
        )
        return str(created["id"])

    async def update_comment(self, issue: str, comment_id: str, body: dict[str, Any]) -> None:
        await self._request(
            "PUT",
            f"/rest/api/3/issue/{quote(issue, safe='')}/comment/{quote(comment_id, safe='')}",
            json={"body": body},
        )

    async def create_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        return _json_dict(
            await self._request("POST", "/rest/api/3/issue", json={"fields": fields}, idempotent=False)
        )

    async def get_issue(self, issue: str, fields: tuple[str, ...]) -> dict[str, Any]:
        return _json_dict(
            await self._request(
                "GET", f"/rest/api/3/issue/{quote(issue, safe='')}", params={"fields": ",".join(fields)}
            )
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                )
            except httpx.HTTPError as error:
                failure: AtlassianError = AtlassianUnavailable(f"Jira unreachable: {type(error).__name__}")
                wait = min(2.0**attempt * 0.5, self._retry.max_wait_seconds)
                retriable = idempotent
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 429:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    failure, wait = JiraRateLimitedError(retry_after), retry_after
                    retriable = retry_after <= self._retry.max_wait_seconds
                elif response.status_code >= 500:
                    failure = AtlassianUnavailable(_safe_reason(response), status=response.status_code)
                    wait = min(2.0**attempt * 0.5, self._retry.max_wait_seconds)
                    retriable = idempotent
                elif response.status_code == 401:
                    raise JiraUnauthorized(_safe_reason(response), status=401)
                elif response.status_code == 404:
                    raise JiraNotFoundError(_safe_reason(response), status=404)
                else:
                    raise JiraRefused(_safe_reason(response), status=response.status_code)
            if not retriable or attempt >= self._retry.retries:
                raise failure
            attempt += 1
            await asyncio.sleep(wait)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _json_dict(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    return _json_object(response)
