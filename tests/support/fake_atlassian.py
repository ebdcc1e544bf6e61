"""A fake Atlassian on loopback: OAuth 2.0 (3LO) authorize and token endpoints, accessible-resources,
and the Jira Cloud REST v3 routes the connector uses, with Atlassian's shapes and failures.

A real HTTP server (stdlib, a thread per request) on 127.0.0.1 and a free port, so the code under
test and server subprocesses reach it over TCP exactly as they would reach Atlassian. It behaves
as documented where it matters to us:

* refresh tokens rotate, and a spent one answers 403 `invalid_grant` (no reuse leeway: stricter
  than Atlassian's 10 minutes, so a double spend is always visible);
* access tokens expire (`expire_access_tokens()`) and then answer 401;
* several sites per grant, a Confluence entry sharing a site's id, paged project search (2 a page),
  per-project priority schemes (one without "Highest"), moved issues (the old key still resolves),
  429 with Retry-After on demand, a "down" mode in which Jira routes hang, and a per-call delay
  with a count of the calls a site answers at once (`max_in_flight`).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-0123456789"
JIRA_SCOPES = ["read:jira-work", "write:jira-work"]
PROJECT_PAGE_CAP = 2
PRIORITIES = [
    {"id": "1", "name": "Highest"},
    {"id": "2", "name": "High"},
    {"id": "3", "name": "Medium"},
    {"id": "4", "name": "Low"},
    {"id": "5", "name": "Lowest"},
]


ISSUE_TYPES = [
    {"id": "10001", "name": "Task"},
    {"id": "10002", "name": "Story"},
    {"id": "10003", "name": "Bug"},
]


def _jwt_like(subject: str) -> str:
    """Atlassian's access tokens are JWTs; ours look like one (and are as opaque to the client)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return ".".join(
        [
            part({"alg": "RS256", "kid": "fake"}),
            part({"sub": subject, "jti": secrets.token_hex(8)}),
            secrets.token_urlsafe(32),
        ]
    )


@dataclass
class Issue:
    id: str
    key: str
    project_key: str
    summary: str = ""
    status: str = "To Do"
    category: str = "new"
    priority: dict[str, str] | None = None
    labels: list[str] = field(default_factory=list)
    description: Any = None
    properties: dict[str, Any] = field(default_factory=dict)
    comments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Site:
    id: str
    name: str
    url: str
    projects: list[dict[str, str]] = field(default_factory=list)
    # project id -> the priority ids its scheme offers
    schemes: dict[str, list[str]] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # every key an issue ever had -> id


@dataclass(frozen=True)
class JiraCall:
    """One Jira REST request as it arrived, for `tests.support.jira_spec` to hold to Atlassian's
    description: the path below the gateway's `/ex/jira/<cloudId>`, the raw query and body."""

    method: str
    path: str
    query: str
    body: bytes
    content_type: str
    via_forge_token: bool


@dataclass
class Grant:
    sites: list[str]
    scope: str


class FakeAtlassian:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sites: dict[str, Site] = {}
        self.redirect_uris: set[str] = set()
        self.codes: dict[str, tuple[str, Grant]] = {}
        self.access_tokens: dict[str, tuple[float, Grant]] = {}
        self.refresh_tokens: dict[str, tuple[bool, Grant]] = {}
        self.forge_tokens: dict[str, str] = {}  # token -> cloud id
        self.forge_token_uses: Counter[str] = Counter()  # Jira calls each system token authorised
        self.refresh_spends: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self.jira_calls: list[JiraCall] = []
        self.grant_sites: list[str] = []
        self.grant_scope = "read:jira-work write:jira-work offline_access"
        self.refresh_delay = 0.0
        self.refuse_refresh = False
        self.refuse_properties = False  # every entity property PUT answers 400
        self.scope_refusals: list[str] = []  # path patterns answered 401 "scope does not match"
        self.reject_every_token = False  # every token is refused, freshly refreshed ones too
        self.jira_delay = 0.0  # seconds each Jira REST call takes (to make overlapping calls visible)
        self.in_flight: Counter[str] = Counter()  # cloud id -> Jira calls being answered now
        self.max_in_flight: Counter[str] = Counter()  # cloud id -> the most ever answered at once
        self.generation = 0  # bumped by reset: which test a call in flight belongs to
        self.down = threading.Event()
        self.released = threading.Event()
        self._rate_limits: list[list[Any]] = []
        self._ids = itertools.count(10_000)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-atlassian", daemon=True)

    # -- lifecycle and setup ----------------------------------------------------------------------
    def start(self) -> FakeAtlassian:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.sites.clear()
            self.codes.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self.forge_tokens.clear()
            self.forge_token_uses.clear()
            self.refresh_spends.clear()
            self.requests.clear()
            self.jira_calls.clear()
            self._rate_limits.clear()
            self.grant_sites = []
            self.grant_scope = "read:jira-work write:jira-work offline_access"
            self.refresh_delay = 0.0
            self.refuse_refresh = False
            self.refuse_properties = False
            self.scope_refusals.clear()
            self.reject_every_token = False
            self.jira_delay = 0.0
            self.in_flight.clear()
            self.max_in_flight.clear()
            self.generation += 1
            self.down.clear()
            self.released.clear()

    def add_site(self, cloud_id: str, name: str) -> Site:
        site = Site(cloud_id, name, f"https://{name}.atlassian.net")
        with self.lock:
            self.sites[cloud_id] = site
        return site

    def add_project(self, cloud_id: str, key: str, name: str, *, priorities: list[str] | None = None) -> str:
        with self.lock:
            site = self.sites[cloud_id]
            project_id = str(next(self._ids))
            site.projects.append({"id": project_id, "key": key, "name": name})
            # An empty list: the create screen has no priority field at all.
            site.schemes[project_id] = (
                priorities if priorities is not None else [entry["id"] for entry in PRIORITIES]
            )
            return project_id

    def add_issue(self, cloud_id: str, key: str) -> Issue:
        with self.lock:
            site = self.sites[cloud_id]
            issue = Issue(id=str(next(self._ids)), key=key, project_key=key.rsplit("-", 1)[0])
            site.issues[issue.id] = issue
            site.keys[key] = issue.id
            return issue

    def move_issue(self, cloud_id: str, issue_id: str, project_key: str) -> str:
        with self.lock:
            site = self.sites[cloud_id]
            issue = site.issues[issue_id]
            number = 1 + sum(1 for other in site.issues.values() if other.project_key == project_key)
            issue.key, issue.project_key = f"{project_key}-{number}", project_key
            site.keys[issue.key] = issue.id  # the old key keeps resolving, as in Jira
            return issue.key

    def issue(self, cloud_id: str, key_or_id: str) -> Issue:
        with self.lock:
            site = self.sites[cloud_id]
            return site.issues[site.keys.get(key_or_id, key_or_id)]

    def authorize(self, auth_url: str) -> str:
        """The user's consent in a browser: Atlassian redirects to the callback with a code."""
        query = {name: values[0] for name, values in parse_qs(urlparse(auth_url).query).items()}
        assert query["audience"] == "api.atlassian.com"
        assert query["client_id"] == CLIENT_ID
        assert query["response_type"] == "code"
        assert query["prompt"] == "consent"
        assert set(query["scope"].split()) >= {"read:jira-work", "write:jira-work", "offline_access"}
        assert query["redirect_uri"] in self.redirect_uris, query["redirect_uri"]
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = (query["redirect_uri"], Grant(list(self.grant_sites), self.grant_scope))
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def issue_forge_token(self, cloud_id: str, lifetime: int = 3600) -> str:
        """A Forge app system token for a site: a JWT whose exp the connector reads."""

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        token = ".".join(
            [
                part({"alg": "RS256", "kid": "forge"}),
                part({"sub": "app-system", "exp": int(time.time()) + lifetime}),
                secrets.token_urlsafe(32),
            ]
        )
        with self.lock:
            self.forge_tokens[token] = cloud_id
        return token

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token, (_, grant) in list(self.access_tokens.items()):
                self.access_tokens[token] = (0.0, grant)

    def rate_limit(self, path_pattern: str, *, times: int, retry_after: float) -> None:
        """The next `times` requests whose path matches `path_pattern` (a regular expression,
        searched) answer 429 with this Retry-After."""
        with self.lock:
            self._rate_limits.append([path_pattern, times, retry_after])

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(
                1 for seen_method, path in self.requests if seen_method == method and re.search(pattern, path)
            )

    def tokens_issued(self) -> list[str]:
        with self.lock:
            return [*self.access_tokens, *self.refresh_tokens, *self.forge_tokens]

    # -- OAuth ----------------------------------------------------------------------------------
    def _token(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "access_denied", "error_description": "Unauthorized"}
        grant_type = body.get("grant_type")
        if grant_type == "authorization_code":
            with self.lock:
                found = self.codes.pop(str(body.get("code")), None)
            if found is None or found[0] != body.get("redirect_uri"):
                return 403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            return 200, self._issue(found[1])
        if grant_type == "refresh_token":
            presented = str(body.get("refresh_token"))
            if self.refresh_delay:
                time.sleep(self.refresh_delay)  # widens the window in which a double spend would show
            with self.lock:
                self.refresh_spends[presented] += 1
                entry = self.refresh_tokens.get(presented)
                if entry is None or entry[0] or self.refuse_refresh:
                    return 403, {
                        "error": "invalid_grant",
                        "error_description": "Unknown or invalid refresh token.",
                    }
                self.refresh_tokens[presented] = (True, entry[1])
                return 200, self._issue(entry[1])
        return 400, {"error": "unsupported_grant_type", "error_description": "unsupported grant_type"}

    def _issue(self, grant: Grant) -> dict[str, Any]:
        access, refresh = _jwt_like("user"), "v1." + secrets.token_urlsafe(48)
        with self.lock:
            self.access_tokens[access] = (time.time() + 3600, grant)
            if "offline_access" in grant.scope:
                self.refresh_tokens[refresh] = (False, grant)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "offline_access" in grant.scope:
            body["refresh_token"] = refresh
        return body

    def _resources(self, token: str | None) -> tuple[int, Any]:
        with self.lock:
            entry = self.access_tokens.get(token or "")
            if entry is None or entry[0] < time.time():
                return 401, {"code": 401, "message": "Unauthorized"}
            resources: list[dict[str, Any]] = []
            for cloud_id in entry[1].sites:
                site = self.sites[cloud_id]
                resources.append(
                    {
                        "id": site.id,
                        "name": site.name,
                        "url": site.url,
                        "scopes": JIRA_SCOPES,
                        "avatarUrl": "",
                    }
                )
                # Confluence on the same site shares the id; only the scopes tell it apart.
                resources.append(
                    {
                        "id": site.id,
                        "name": site.name,
                        "url": site.url + "/wiki",
                        "scopes": ["read:confluence-content.all"],
                        "avatarUrl": "",
                    }
                )
            return 200, resources

    # -- Jira REST ------------------------------------------------------------------------------
    def _authorised(self, cloud_id: str, token: str | None) -> bool:
        with self.lock:
            if self.forge_tokens.get(token or "") == cloud_id:
                self.forge_token_uses[token or ""] += 1
                return True
            if self.reject_every_token:
                return False
            entry = self.access_tokens.get(token or "")
            return entry is not None and entry[0] >= time.time() and cloud_id in entry[1].sites

    def _rate_limited(self, path: str) -> float | None:
        with self.lock:
            for limit in self._rate_limits:
                if re.search(limit[0], path) and limit[1] > 0:
                    limit[1] -= 1
                    return float(limit[2])
        return None

    def _jira(
        self, method: str, cloud_id: str, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        site = self.sites.get(cloud_id)
        if site is None:
            return 404, {"errorMessages": ["Site not found"]}
        if method == "GET" and path == "project/search":
            return 200, self._project_page(site, query)
        if method == "GET" and (match := re.fullmatch(r"project/([^/]+)", path)):
            project = next((p for p in site.projects if match.group(1) in (p["id"], p["key"])), None)
            if project is None:
                return 404, {"errorMessages": [f"No project could be found with key '{match.group(1)}'."]}
            return 200, {**project, "self": f"{site.url}/rest/api/3/project/{project['id']}"}
        if method == "GET" and (
            match := re.fullmatch(r"issue/createmeta/([^/]+)/issuetypes(?:/([^/]+))?", path)
        ):
            project = next((p for p in site.projects if match.group(1) in (p["id"], p["key"])), None)
            if project is None:
                return 404, {"errorMessages": [f"No project could be found with key '{match.group(1)}'."]}
            if match.group(2) is None:
                return 200, {
                    "startAt": 0,
                    "maxResults": 50,
                    "total": len(ISSUE_TYPES),
                    "issueTypes": ISSUE_TYPES,
                }
            if match.group(2) not in {issue_type["id"] for issue_type in ISSUE_TYPES}:
                return 404, {"errorMessages": ["The issue type was not found."]}
            allowed = site.schemes.get(project["id"], [entry["id"] for entry in PRIORITIES])
            fields: list[dict[str, Any]] = [
                {"fieldId": "summary", "key": "summary", "name": "Summary", "required": True}
            ]
            if allowed:
                fields.append(
                    {
                        "fieldId": "priority",
                        "key": "priority",
                        "name": "Priority",
                        "required": False,
                        "allowedValues": [entry for entry in PRIORITIES if entry["id"] in allowed],
                    }
                )
            return 200, {"startAt": 0, "maxResults": 50, "total": len(fields), "fields": fields}
        if method == "POST" and path == "issue":
            return self._create(site, body)
        match = re.fullmatch(r"issue/([^/]+)(?:/(properties|comment)(?:/([^/]+))?)?", path)
        if match is None:
            return 404, {"errorMessages": ["Not found"]}
        issue_id = site.keys.get(match.group(1), match.group(1))
        issue = site.issues.get(issue_id)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        part, item = match.group(2), match.group(3)
        if part is None and method == "GET":
            return 200, self._issue_json(site, issue, query.get("fields", ""))
        if part == "properties" and method == "PUT" and item:
            # Atlassian's description: at most 32,768 bytes of request body.
            sent = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            if len(sent) > 32_768 or self.refuse_properties:
                return 400, {"errorMessages": ["The property value is too long (max 32768 characters)."]}
            created = item not in issue.properties
            issue.properties[item] = body
            return (201 if created else 200), None
        if part == "comment" and method == "POST" and item is None:
            comment_id = str(next(self._ids))
            issue.comments[comment_id] = body["body"]
            return 201, {"id": comment_id, "body": body["body"], "self": f"{site.url}/comment/{comment_id}"}
        if part == "comment" and method == "PUT" and item:
            if item not in issue.comments:
                return 404, {"errorMessages": ["Can not find a comment for the id: " + item]}
            issue.comments[item] = body["body"]
            return 200, {"id": item, "body": body["body"]}
        return 405, {"errorMessages": ["Method not allowed"]}

    def _project_page(self, site: Site, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("startAt", 0))
        size = min(int(query.get("maxResults", 50)), PROJECT_PAGE_CAP)
        wanted = query.get("query", "").lower()
        projects = sorted(
            (p for p in site.projects if wanted in p["key"].lower() or wanted in p["name"].lower()),
            key=lambda p: p["key"],
        )
        values = projects[start : start + size]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(projects),
            "isLast": start + size >= len(projects),
            "values": [{**p, "self": f"{site.url}/rest/api/3/project/{p['id']}"} for p in values],
        }

    def _create(self, site: Site, body: Any) -> tuple[int, Any]:
        fields = body.get("fields", {}) if isinstance(body, dict) else {}
        project_ref = fields.get("project", {})
        project = next(
            (
                p
                for p in site.projects
                if project_ref.get("id") == p["id"] or project_ref.get("key") == p["key"]
            ),
            None,
        )
        if project is None:
            return 400, {"errorMessages": [], "errors": {"project": "valid project is required"}}
        if not fields.get("summary"):
            return 400, {
                "errorMessages": [],
                "errors": {"summary": "You must specify a summary of the issue."},
            }
        if fields.get("issuetype", {}).get("name") not in ("Task", "Story", "Bug"):
            return 400, {"errorMessages": [], "errors": {"issuetype": "Specify an issue type"}}
        if any(" " in label for label in fields.get("labels", [])):
            return 400, {"errorMessages": [], "errors": {"labels": "The label must not contain spaces."}}
        if fields.get("description") is not None and fields["description"].get("type") != "doc":
            return 400, {
                "errorMessages": [],
                "errors": {"description": "Operation value must be an Atlassian Document"},
            }
        priority = None
        if "priority" in fields:
            ref = fields["priority"]
            allowed = [entry for entry in PRIORITIES if entry["id"] in site.schemes[project["id"]]]
            priority = next(
                (e for e in allowed if ref.get("id") == e["id"] or ref.get("name") == e["name"]), None
            )
            if priority is None:
                return 400, {
                    "errorMessages": [],
                    "errors": {"priority": "Specify a valid 'id' or 'name' for Priority"},
                }
        number = 1 + sum(1 for issue in site.issues.values() if issue.project_key == project["key"])
        issue = Issue(
            id=str(next(self._ids)),
            key=f"{project['key']}-{number}",
            project_key=project["key"],
            summary=fields["summary"],
            priority=dict(priority) if priority else {"id": "3", "name": "Medium"},
            labels=list(fields.get("labels", [])),
            description=fields.get("description"),
        )
        site.issues[issue.id] = issue
        site.keys[issue.key] = issue.id
        return 201, {"id": issue.id, "key": issue.key, "self": f"{site.url}/rest/api/3/issue/{issue.id}"}

    def _issue_json(self, site: Site, issue: Issue, fields: str) -> dict[str, Any]:
        everything = {
            "summary": issue.summary,
            "status": {"name": issue.status, "statusCategory": {"key": issue.category}},
            "priority": issue.priority,
            "labels": issue.labels,
        }
        wanted = [name for name in fields.split(",") if name] or list(everything)
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{site.url}/rest/api/3/issue/{issue.id}",
            "fields": {name: everything[name] for name in wanted if name in everything},
        }


def _handler(fake: FakeAtlassian) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def _handle(self, method: str) -> None:
            parsed = urlparse(self.path)
            query = {name: values[0] for name, values in parse_qs(parsed.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if len(raw) < length:
                # The client went away mid-body (a task cancelled at shutdown): Jira never sees
                # such a request, so neither does the record held to Atlassian's description.
                self.close_connection = True
                return
            body: Any = None
            if raw:
                if (self.headers.get("Content-Type") or "").startswith("application/json"):
                    body = json.loads(raw)
                else:
                    body = {name: values[0] for name, values in parse_qs(raw.decode()).items()}
            authorization = self.headers.get("Authorization") or ""
            token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
            with fake.lock:
                fake.requests.append((method, parsed.path))
                if jira := re.fullmatch(r"/ex/jira/[^/]+(/rest/api/3/.+)", parsed.path):
                    fake.jira_calls.append(
                        JiraCall(
                            method,
                            jira.group(1),
                            parsed.query,
                            raw,
                            self.headers.get("Content-Type") or "",
                            token in fake.forge_tokens,
                        )
                    )
            status, payload, headers = self._route(method, parsed.path, query, body, token)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _route(
            self, method: str, path: str, query: dict[str, str], body: Any, token: str | None
        ) -> tuple[int, Any, dict[str, str]]:
            if path == "/authorize":
                return 302, None, {"Location": fake.authorize(f"{fake.url}{self.path}")}
            if path == "/oauth/token" and method == "POST":
                status, payload = fake._token(body or {})
                return status, payload, {}
            if path == "/oauth/token/accessible-resources" and method == "GET":
                status, payload = fake._resources(token)
                return status, payload, {}
            match = re.fullmatch(r"/ex/jira/([^/]+)/rest/api/3/(.+)", path)
            if match is None:
                return 404, {"errorMessages": ["Not found"]}, {}
            if fake.down.is_set():
                fake.released.wait(timeout=60)  # Jira is down: nothing answers until released
                return 503, {"errorMessages": ["Service unavailable"]}, {}
            if not fake._authorised(match.group(1), token):
                return 401, {"code": 401, "message": "Unauthorized"}, {}
            if any(re.search(pattern, path) for pattern in fake.scope_refusals):
                # What the gateway answers a grant that lacks the operation's scope.
                return 401, {"code": 401, "message": "Unauthorized; scope does not match"}, {}
            retry_after = fake._rate_limited(path)
            if retry_after is not None:
                return (
                    429,
                    {"errorMessages": ["Rate limit exceeded."]},
                    {"Retry-After": f"{retry_after:g}", "RateLimit-Reason": "jira-burst-based"},
                )
            cloud_id = match.group(1)
            with fake.lock:
                generation = fake.generation
                fake.in_flight[cloud_id] += 1
                fake.max_in_flight[cloud_id] = max(fake.max_in_flight[cloud_id], fake.in_flight[cloud_id])
            try:
                if fake.jira_delay:
                    time.sleep(fake.jira_delay)
                with fake.lock:
                    status, payload = fake._jira(method, cloud_id, match.group(2), query, body)
            finally:
                with fake.lock:
                    # A call of the previous test that ends after the reset must not take this
                    # test's count below zero (its `max_in_flight` then read 0 for serial writes).
                    if generation == fake.generation:
                        fake.in_flight[cloud_id] -= 1
            return status, payload, {}

    return Handler
