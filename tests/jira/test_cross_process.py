"""One-time state and one refresh per rotation against real server processes: PostgreSQL behind two
uvicorn workers, SQLite behind one process, the fake Atlassian on loopback."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from seecodes.db import Database
from seecodes.security.operators import create_operator_token
from tests.support.app import TEST_SECRET
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import CLIENT_ID, CLIENT_SECRET, FakeAtlassian
from tests.support.forge import CLOUD_A, INSTALLATION_A, FakeForge
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow
CONCURRENCY = 20


@pytest.fixture(
    params=[pytest.param(("postgres", 2), marks=pytest.mark.postgres), ("sqlite", 1)],
    ids=["postgres-2-workers", "sqlite-1-process"],
)
async def server(
    request: pytest.FixtureRequest, forge: FakeForge, tmp_path: Path, atlassian: FakeAtlassian
) -> AsyncIterator[tuple[LiveServer, str]]:
    backend, workers = request.param
    database_url = request.getfixturevalue(f"{backend}_url")
    env = server_env(
        forge,
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret=TEST_SECRET,
        SEECODES_JIRA_CLIENT_ID=CLIENT_ID,
        SEECODES_JIRA_CLIENT_SECRET=CLIENT_SECRET,
        SEECODES_JIRA_AUTH_BASE_URL=atlassian.url,
        SEECODES_JIRA_API_BASE_URL=atlassian.url,
        SEECODES_JIRA_DEBOUNCE_SECONDS="1",
        # Several API processes only enqueue; no workflow runs in these tests.
        SEECODES_RUN_EXECUTION="workers" if workers > 1 else "in_process",
    )
    live = LiveServer(env, workers=workers, log_path=tmp_path / "server.log")
    live.env["SEECODES_JIRA_REDIRECT_URI"] = f"{live.base_url}/v1/integrations/jira/callback"
    atlassian.redirect_uris.add(live.env["SEECODES_JIRA_REDIRECT_URI"])
    with live:
        database = Database(database_url)
        try:
            async with database.transaction() as session:
                operator = (await create_operator_token(session, FixedClock(), name="ci")).token
        finally:
            await database.dispose()
        yield live, operator


async def _connect(live: LiveServer, forge: FakeForge, atlassian: FakeAtlassian) -> str:
    """Returns the callback URL (with code and state) a browser would be sent to."""
    fit = forge.fit(lifetime=120)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        key = (await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})).json()[
            "requestKey"
        ]
        started = await http.post(
            "/v1/integrations/jira/connect",
            headers={"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": key},
        )
    assert started.status_code == 200, started.text
    return atlassian.authorize(started.json()["authUrl"])


async def test_a_state_used_by_many_browsers_at_once_connects_once(
    server: tuple[LiveServer, str], forge: FakeForge, atlassian: FakeAtlassian
) -> None:
    live, _ = server
    landing = await _connect(live, forge, atlassian)

    async with httpx.AsyncClient(timeout=60.0) as http:
        answers = await asyncio.gather(*(http.get(landing) for _ in range(CONCURRENCY)))

    outcomes = Counter(answer.headers["location"].split("?", 1)[1] for answer in answers)
    assert outcomes == {"jira=connected": 1, "jira=error&reason=state_invalid": CONCURRENCY - 1}
    assert atlassian.count("POST", "^/oauth/token$") == 1
    assert live.log_path is not None
    log = live.log_path.read_text()
    assert not [token for token in atlassian.tokens_issued() if token in log]


async def test_concurrent_requests_on_an_expired_token_refresh_it_once(
    server: tuple[LiveServer, str], forge: FakeForge, atlassian: FakeAtlassian
) -> None:
    live, operator = server
    landing = await _connect(live, forge, atlassian)
    async with httpx.AsyncClient(timeout=60.0) as http:
        assert "jira=connected" in (await http.get(landing)).headers["location"]
    (first_refresh,) = list(atlassian.refresh_tokens)
    atlassian.expire_access_tokens()
    atlassian.refresh_delay = 0.3

    async with httpx.AsyncClient(base_url=live.base_url, timeout=60.0) as http:
        answers = await asyncio.gather(
            *(
                http.get(
                    "/v1/integrations/jira/projects",
                    params={"installationId": INSTALLATION_A},
                    headers={"Authorization": f"Bearer {operator}"},
                )
                for _ in range(CONCURRENCY)
            )
        )

    assert [answer.status_code for answer in answers] == [200] * CONCURRENCY
    assert atlassian.refresh_spends == {first_refresh: 1}


async def test_progress_posts_enqueue_one_debounced_write(
    server: tuple[LiveServer, str], forge: FakeForge, atlassian: FakeAtlassian, request: pytest.FixtureRequest
) -> None:
    """Through whichever engine shape the server runs: a DBOS client (PostgreSQL, API processes
    only enqueue) or the in-process executor (SQLite)."""
    live, _ = server
    landing = await _connect(live, forge, atlassian)
    fit = forge.fit(lifetime=120)
    async with httpx.AsyncClient(base_url=live.base_url, timeout=60.0) as http:
        assert "jira=connected" in (await http.get(landing)).headers["location"]
        key = (await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})).json()[
            "requestKey"
        ]
        permit = (
            await http.post(
                "/v1/security/task-permit",
                json={"projectId": "AUTH", "taskId": "AUTH-128"},
                headers={"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": key},
            )
        ).json()["permit"]
        for percent in ("10%", "20%", "30%"):
            saved = await http.post(
                "/v1/tasks/AUTH-128/progress",
                json={"progress": percent, "confidence": "High"},
                headers={"Authorization": f"Bearer {permit}"},
            )
            assert saved.status_code == 200
        if "postgres" in request.node.callspec.id:
            database = Database(request.getfixturevalue("postgres_url"))
            try:
                # The enqueue runs after each response is sent (a background task): wait for it.
                for _ in range(100):
                    if await _debounce_jobs(database):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)  # a second job, were one enqueued, has had time to appear
                statuses = await _debounce_jobs(database)
            finally:
                await database.dispose()
            assert statuses in (["DELAYED"], ["ENQUEUED"])  # three POSTs, one job
        else:
            for _ in range(200):
                if atlassian.issue(CLOUD_A, "AUTH-128").properties:
                    break
                await asyncio.sleep(0.1)
            assert atlassian.issue(CLOUD_A, "AUTH-128").properties["seecodes-progress"]["progress"] == "30%"
            assert atlassian.count("PUT", r"/properties/seecodes-progress$") == 1


async def _debounce_jobs(database: Database) -> list[str]:
    async with database.transaction() as session:
        rows = await session.execute(
            text("SELECT status FROM dbos.workflow_status WHERE name = :name"),
            {"name": "seecodes.jira.progress_debounced"},
        )
        return [str(row[0]) for row in rows]
