"""Fixtures for the Jira connector: a fake Atlassian on loopback, an operator token, a connected
installation, and (for write-back) the workflow engine running in this process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seecodes.security.operators import create_operator_token
from tests.support import jira_spec
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import CLIENT_ID, CLIENT_SECRET, FakeAtlassian
from tests.support.forge import CLOUD_A, JiraAppClient

CALLBACK = "https://seecodes.example.com/v1/integrations/jira/callback"
OTHER_CLOUD = "f2f74842-5425-4e0a-af07-1470937b2bff"


@pytest.fixture(scope="session")
def atlassian_server() -> Iterator[FakeAtlassian]:
    server = FakeAtlassian().start()
    yield server
    server.stop()


@pytest.fixture
def atlassian(atlassian_server: FakeAtlassian) -> Iterator[FakeAtlassian]:
    """Site A (the installation's) with projects and the task's issue; site B beside it."""
    fake = atlassian_server
    fake.reset()
    fake.redirect_uris = {CALLBACK}
    fake.add_site(CLOUD_A, "tenant-a")
    fake.add_site(OTHER_CLOUD, "tenant-other")
    fake.add_project(CLOUD_A, "AUTH", "Authentication")
    fake.add_project(CLOUD_A, "OPS", "Operations", priorities=["2", "3", "4"])  # no "Highest"
    fake.add_project(CLOUD_A, "WEB", "Website")
    fake.add_project(CLOUD_A, "API", "Public API")
    fake.add_project(CLOUD_A, "MOB", "Mobile")
    fake.add_issue(CLOUD_A, "AUTH-128")
    fake.grant_sites = [CLOUD_A]
    yield fake
    fake.released.set()
    # Every Jira request this test made, held to Atlassian's description (tests/support/jira_spec.py).
    with fake.lock:
        calls = list(dict.fromkeys(fake.jira_calls))
    found = [problem for call in calls for problem in jira_spec.problems(call)]
    if found:
        pytest.fail("requests Atlassian's description refuses:\n" + "\n".join(found), pytrace=False)


@pytest.fixture
def settings_overrides(atlassian: FakeAtlassian, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A test changes a setting with @pytest.mark.parametrize("settings_overrides", [{…}], indirect=True)."""
    return {
        "jira_client_id": CLIENT_ID,
        "jira_client_secret": CLIENT_SECRET,
        "jira_auth_base_url": atlassian.url,
        "jira_api_base_url": atlassian.url,
        "jira_debounce_seconds": 0.5,
        "jira_http_timeout_seconds": 5,
        "run_queue_poll_seconds": 0.05,
        **getattr(request, "param", {}),
    }


@pytest.fixture
async def operator(app: FastAPI) -> str:
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        issued = await create_operator_token(session, runtime.clock, name="test operator")
    return issued.token


@pytest.fixture
async def installed(jira: JiraAppClient) -> JiraAppClient:
    """Installation A exists (its first FIT creates it) and its Jira App holds a request key."""
    await jira.bootstrap()
    return jira


async def connect_oauth(
    client: httpx.AsyncClient, jira: JiraAppClient, atlassian: FakeAtlassian
) -> httpx.Response:
    """The whole 3LO round trip as the Jira App and a browser perform it; returns the callback answer."""
    started = await jira.call("POST", "/v1/integrations/jira/connect")
    assert started.status_code == 200, started.text
    landing = httpx.URL(atlassian.authorize(started.json()["authUrl"]))
    return await client.get(landing.path, params=dict(landing.params))


@pytest.fixture
async def connected(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian
) -> JiraAppClient:
    answer = await connect_oauth(client, installed, atlassian)
    assert "jira=connected" in answer.headers["location"], answer.headers.get("location")
    return installed


@pytest.fixture
async def engine(app: FastAPI, clock: FixedClock) -> AsyncIterator[None]:
    """DBOS executing workflows in this process (one per process: stopped before the next test)."""
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    yield
    await runtime.engine.stop()
