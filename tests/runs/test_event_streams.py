"""Run event streams are bounded: per permit, per installation, in lifetime, and a run that has not
started is not polled. Against a real `seecodes serve`, with real concurrent clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes.db import Database
from seecodes.installations import service as installations
from seecodes.kit.clock import Clock
from tests.support.app import TEST_SECRET
from tests.support.fake_openai import FakeOpenAI, Hang, write_models_file
from tests.support.forge import INSTALLATION_A, FakeForge, JiraAppClient
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow

PER_PERMIT = 3
PER_INSTALLATION = 5
LIFETIME_SECONDS = 2


@pytest.fixture
def server(
    forge: FakeForge, tmp_path: Path, sqlite_url: str, fake_openai: FakeOpenAI
) -> Iterator[LiveServer]:
    fake_openai.script("fake-light", *([Hang()] * 10))  # runs stay processing_remote: streams stay open
    models = write_models_file(
        tmp_path / "models.toml", fake_openai.base_url, {"strict light": "fake-light"}, api_key_env="FAKE_KEY"
    )
    env = server_env(
        forge,
        database_url=sqlite_url,
        var_dir=tmp_path / "var",
        secret=TEST_SECRET,
        FAKE_KEY="sk-fake",
        SEECODES_MODELS_FILE=str(models),
        SEECODES_PUBLIC_BASE_URL="http://127.0.0.1",
        SEECODES_RUN_EVENTS_PER_PERMIT=str(PER_PERMIT),
        SEECODES_RUN_EVENTS_PER_INSTALLATION=str(PER_INSTALLATION),
        SEECODES_RUN_EVENTS_MAX_SECONDS=str(LIFETIME_SECONDS),
    )
    with LiveServer(env, log_path=tmp_path / "server.log") as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as client:
        yield client


async def _grant(sqlite_url: str, amount: int) -> None:
    database = Database(sqlite_url)
    try:
        async with database.transaction() as session:
            await installations.grant_credits(session, Clock(), installation_id=INSTALLATION_A, amount=amount)
    finally:
        await database.dispose()


async def _running(http: httpx.AsyncClient, server: LiveServer, permit: str) -> str:
    headers = {"Authorization": f"Bearer {permit}"}
    run = (await http.post("/v1/tasks/init", headers=headers, json={})).json()
    upload = httpx.URL(run["uploads"]["list.md"])
    put = await http.put(f"{server.base_url}{upload.raw_path.decode()}", content=b"- [ ] wait\n")
    assert put.status_code == 200, put.text
    assert (await http.post(f"/v1/tasks/{run['runId']}/start", headers=headers, json={})).status_code == 200
    for _ in range(200):
        status = (await http.get(f"/v1/tasks/{run['runId']}", headers=headers)).json()["status"]["status"]
        if status == "processing_remote":
            return str(run["runId"])
        await asyncio.sleep(0.05)
    raise AssertionError("the run never reached the model")


# Body iterators of open streams: dropping one would let httpx close its connection.
_READING: list[AsyncIterator[bytes]] = []


async def _open(stack: AsyncExitStack, http: httpx.AsyncClient, permit: str, run_id: str) -> httpx.Response:
    """Open a stream and read its first bytes, so the server holds it; closed when `stack` closes."""
    response = await stack.enter_async_context(
        http.stream("GET", f"/v1/tasks/{run_id}/events", headers={"Authorization": f"Bearer {permit}"})
    )
    if response.status_code == 200:
        chunks = response.aiter_raw()
        _READING.append(chunks)
        await anext(chunks)
    return response


async def test_streams_are_bounded_per_permit_and_per_installation(
    server: LiveServer, http: httpx.AsyncClient, forge: FakeForge, sqlite_url: str
) -> None:
    jira = JiraAppClient(http, forge)
    await jira.bootstrap()  # the first FIT creates the installation
    await _grant(sqlite_url, 1000)
    first, second = await jira.permit(task="AUTH-128"), await jira.permit(task="AUTH-129")
    first_run, second_run = await _running(http, server, first), await _running(http, server, second)

    async with AsyncExitStack() as stack:
        opened = await asyncio.gather(*(_open(stack, http, first, first_run) for _ in range(PER_PERMIT + 1)))
        statuses = sorted(response.status_code for response in opened)
        refused = next(response for response in opened if response.status_code == 429)
        await refused.aread()
        others = [
            await _open(stack, http, second, second_run) for _ in range(PER_INSTALLATION - PER_PERMIT + 1)
        ]

        assert statuses == [200] * PER_PERMIT + [429]
        assert refused.json()["error"] == "too_many_streams"
        assert refused.headers["retry-after"]
        assert [response.status_code for response in others] == [200, 200, 429]

    # Every slot came back when the clients went away.
    _READING.clear()
    await asyncio.sleep(0.5)
    async with AsyncExitStack() as stack:
        again = await asyncio.gather(*(_open(stack, http, first, first_run) for _ in range(PER_PERMIT)))
        assert [response.status_code for response in again] == [200] * PER_PERMIT


async def test_a_stream_closes_after_its_lifetime_without_claiming_the_run_ended(
    server: LiveServer, http: httpx.AsyncClient, forge: FakeForge, sqlite_url: str
) -> None:
    jira = JiraAppClient(http, forge)
    await jira.bootstrap()
    await _grant(sqlite_url, 1000)
    permit = await jira.permit()
    run_id = await _running(http, server, permit)

    started = asyncio.get_running_loop().time()
    body = (await http.get(f"/v1/tasks/{run_id}/events", headers={"Authorization": f"Bearer {permit}"})).text
    lasted = asyncio.get_running_loop().time() - started

    assert "event: status" in body
    assert "event: end" not in body  # the run still runs; the client resumes with Last-Event-ID
    assert lasted < LIFETIME_SECONDS + 10


async def test_a_run_that_has_not_started_is_not_followed(
    server: LiveServer, http: httpx.AsyncClient, forge: FakeForge
) -> None:
    jira = JiraAppClient(http, forge)
    permit = await jira.permit()
    headers: dict[str, Any] = {"Authorization": f"Bearer {permit}"}
    run = (await http.post("/v1/tasks/init", headers=headers, json={})).json()

    body = (await http.get(f"/v1/tasks/{run['runId']}/events", headers=headers, timeout=10)).text

    assert "event: status" in body
    assert "retry: 5000" in body
    assert "event: end" not in body
