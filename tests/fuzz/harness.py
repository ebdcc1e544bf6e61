"""The server the fuzzer attacks, and the real credentials it presents on every call.

`FuzzStack` is a `seecodes serve` process on loopback (tests/support/live_server.py) with a fake
Forge key trusted, a fake Atlassian for the Jira connector, and an instant model on the fake
OpenAI-compatible server, so every route has something real behind it. `Credentials` mints what
each operation's `security` asks for, per call: a fresh FIT plus the current request key of a
chain that follows `X-SeeCodes-Next-Request-Key`, a task permit bound to the project and task the
case names, or an operator token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from seecodes.db import Database
from seecodes.installations.service import grant_credits
from seecodes.kit.clock import Clock
from seecodes.security.operators import create_operator_token
from tests.support.app import TEST_SECRET
from tests.support.fake_atlassian import CLIENT_ID, CLIENT_SECRET, FakeAtlassian
from tests.support.fake_openai import FakeOpenAI, write_models_file
from tests.support.forge import (
    CLOUD_A,
    INSTALLATION_A,
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    USER_A,
    FakeForge,
)
from tests.support.live_server import LiveServer, server_env

PUBLIC_BASE_URL = "https://seecodes.example.com"
PROJECT, TASK = "AUTH", "AUTH-128"
MODEL = "strict light"
TICKET_MODEL = "tickets"
DRAFTED_TICKETS = {
    "tickets": [{"title": "Fix the login redirect", "description": "…", "priority": "P1", "labels": []}]
}


@dataclass
class Credentials:
    """The Jira App of installation A (user A), its permits, and an operator, over real HTTP."""

    http: httpx.Client
    forge: FakeForge
    operator_token: str = ""
    request_key: str | None = None
    permits: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def fit(self, **claims: Any) -> str:
        return self.forge.fit(**claims)

    def bootstrap(self) -> None:
        response = self.http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {self.fit()}"})
        assert response.status_code == 200, response.text
        self.request_key = response.json()["requestKey"]

    def jira_headers(self) -> dict[str, str]:
        """A fresh FIT and the chain's current key; `observe` the answer to keep the chain."""
        if self.request_key is None:
            self.bootstrap()
        return {"Authorization": f"Bearer {self.fit()}", REQUEST_KEY_HEADER: str(self.request_key)}

    def observe(self, headers: Any) -> None:
        # An answer without a successor did not spend the key (refused before the key check), so
        # the current key stays valid; DESIGN.md §4 rule 5 makes any other case a product bug,
        # which the next call then reports as `request_key_replayed`.
        successor = next(
            (value for name, value in headers.items() if name.lower() == NEXT_KEY_HEADER.lower()), None
        )
        if isinstance(successor, list):  # Schemathesis' responses hold a list per header
            successor = successor[-1] if successor else None
        if successor:
            self.request_key = str(successor)

    def jira_call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.jira_headers(), **kwargs.pop("headers", {})}
        response = self.http.request(method, url, headers=headers, **kwargs)
        self.observe(response.headers)
        return response

    def operator_call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.operator_token}", **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def permit(self, project: str = PROJECT, task: str = TASK) -> str | None:
        """A permit bound to exactly this project and task (None when the server refuses the pair)."""
        if (project, task) not in self.permits:
            response = self.jira_call(
                "POST", "/v1/security/task-permit", json={"projectId": project, "taskId": task}
            )
            self.permits[project, task] = response.json()["permit"] if response.status_code == 200 else None
        return self.permits[project, task]

    def permit_through_launcher(self, project: str = PROJECT, task: str = TASK) -> str:
        """The IDE's way: a launch link minted by the Jira App, its code exchanged once."""
        link = self.jira_call(
            "POST",
            "/v1/security/vscode-link",
            json={
                "projectId": project,
                "taskId": task,
                "jiraContext": {"title": "Implement auth flow", "descriptionMd": "…", "attachments": []},
                "initialTaiDoc": {"version": 1, "task": {"key": task}},
            },
        )
        assert link.status_code == 200, link.text
        exchanged = self.http.post(
            "/v1/security/launch-exchange",
            json={"code": link.json()["launchCode"], "projectId": project, "taskId": task},
        )
        assert exchanged.status_code == 200, exchanged.text
        permit = str(exchanged.json()["permit"])
        self.permits[project, task] = permit
        return permit


@dataclass
class Seeds:
    """Objects that exist before the fuzzer starts, so path parameters can name real ones."""

    idle_run: str  # initialized, nothing uploaded
    finished_run: str  # succeeded on the instant model
    ticket_ids: list[str]


@dataclass
class FuzzStack:
    base_url: str
    credentials: Credentials
    seeds: Seeds
    log_path: Path

    def server_log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _database_work(database_url: str, work: Any) -> Any:
    async def run() -> Any:
        database = Database(database_url)
        try:
            async with database.transaction() as session:
                return await work(session, Clock())
        finally:
            await database.dispose()

    return asyncio.run(run())


def _operator_token(database_url: str) -> str:
    async def work(session: Any, clock: Clock) -> str:
        return (await create_operator_token(session, clock, name="fuzzer")).token

    return str(_database_work(database_url, work))


def _grant(database_url: str, amount: int) -> None:
    async def work(session: Any, clock: Clock) -> None:
        await grant_credits(session, clock, installation_id=INSTALLATION_A, amount=amount, reference="fuzz")

    _database_work(database_url, work)


def _prepare_atlassian(atlassian: FakeAtlassian) -> None:
    atlassian.reset()
    atlassian.redirect_uris = {f"{PUBLIC_BASE_URL}/v1/integrations/jira/callback"}
    atlassian.add_site(CLOUD_A, "tenant-a")
    atlassian.add_project(CLOUD_A, PROJECT, "Authentication")
    atlassian.add_issue(CLOUD_A, TASK)
    atlassian.grant_sites = [CLOUD_A]


def _connect_jira(credentials: Credentials, atlassian: FakeAtlassian) -> None:
    started = credentials.operator_call(
        "POST", "/v1/integrations/jira/connect", params={"installationId": INSTALLATION_A}
    )
    assert started.status_code == 200, started.text
    landing = httpx.URL(atlassian.authorize(started.json()["authUrl"]))
    callback = credentials.http.get(landing.path, params=dict(landing.params))
    assert "jira=connected" in callback.headers.get("location", ""), callback.headers


def _seed_runs(credentials: Credentials, permit: str) -> tuple[str, str]:
    http, auth = credentials.http, {"Authorization": f"Bearer {permit}"}
    idle = http.post("/v1/tasks/init", headers=auth, json={"model": MODEL})
    assert idle.status_code == 200, idle.text
    created = http.post("/v1/tasks/init", headers=auth, json={"model": MODEL, "files": ["list.md"]})
    assert created.status_code == 200, created.text
    upload = httpx.URL(created.json()["uploads"]["list.md"])
    stored = http.put(upload.raw_path.decode(), content=b"- [ ] [P1] Fix the login redirect\n")
    assert stored.status_code == 200, stored.text
    run_id = created.json()["runId"]
    started = http.post(f"/v1/tasks/{run_id}/start", headers=auth, json={"userPrompt": "summarise"})
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get(f"/v1/tasks/{run_id}", headers=auth).json()["status"]["status"]
        if status == "succeeded":
            return idle.json()["runId"], run_id
        assert status not in {"failed", "cancelled"}, status
        time.sleep(0.1)
    raise AssertionError("the seeded run did not finish within 60 s")


def _seed_tickets(credentials: Credentials) -> list[str]:
    generated = credentials.operator_call(
        "POST",
        "/v1/execution/generate",
        params={"installationId": INSTALLATION_A},
        json={"markdown": "- [ ] [P1] Fix the login redirect\n- [ ] Add a test #auth\n"},
    )
    assert generated.status_code == 200, generated.text
    return [str(ticket["id"]) for ticket in generated.json()["tickets"]]


@contextmanager
def fuzz_stack(forge: FakeForge, directory: Path, database_url: str) -> Iterator[FuzzStack]:
    """Everything up and seeded; torn down (server, fakes) on exit."""
    with FakeOpenAI() as fake_openai:
        atlassian = FakeAtlassian().start()
        try:
            _prepare_atlassian(atlassian)
            models = write_models_file(
                directory / "models.toml",
                fake_openai.base_url,
                {MODEL: "fuzz-instant", TICKET_MODEL: "fuzz-tickets"},
            )
            # Prose sent to /v1/execution/generate gets tickets back, not the 502 of a confused model.
            fake_openai.reply("fuzz-tickets", json.dumps(DRAFTED_TICKETS))
            env = server_env(
                forge,
                database_url=database_url,
                var_dir=directory / "var",
                secret=TEST_SECRET,
            ) | {
                "SEECODES_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "SEECODES_MODELS_FILE": str(models),
                "SEECODES_LOG_LEVEL": "WARNING",
                # Off-by-default routes are switched on so that their bodies are fuzzed too.
                "SEECODES_TELEMETRY_INGESTION_ENABLED": "true",
                "SEECODES_TELEMETRY_RATE_LIMIT": "100000/minute",
                "SEECODES_LEGACY_BRIDGE_ENABLED": "true",
                "SEECODES_JIRA_CLIENT_ID": CLIENT_ID,
                "SEECODES_JIRA_CLIENT_SECRET": CLIENT_SECRET,
                "SEECODES_JIRA_AUTH_BASE_URL": atlassian.url,
                "SEECODES_JIRA_API_BASE_URL": atlassian.url,
                "SEECODES_JIRA_HTTP_TIMEOUT_SECONDS": "5",
                "SEECODES_JIRA_TICKET_MODEL": TICKET_MODEL,
                "SEECODES_RUN_QUEUE_POLL_SECONDS": "0.05",
            }
            log_path = directory / "server.log"
            with (
                LiveServer(env, log_path=log_path) as server,
                httpx.Client(base_url=server.base_url, timeout=30) as http,
            ):
                credentials = Credentials(http, forge)
                credentials.bootstrap()  # the first FIT creates installation A
                _grant(database_url, 100_000)
                credentials.operator_token = _operator_token(database_url)
                _connect_jira(credentials, atlassian)
                permit = credentials.permit_through_launcher()
                idle_run, finished_run = _seed_runs(credentials, permit)
                seeds = Seeds(
                    idle_run=idle_run, finished_run=finished_run, ticket_ids=_seed_tickets(credentials)
                )
                yield FuzzStack(server.base_url, credentials, seeds, log_path)
        finally:
            atlassian.stop()


__all__ = ["INSTALLATION_A", "PROJECT", "TASK", "USER_A", "Credentials", "FuzzStack", "Seeds", "fuzz_stack"]
