"""DESIGN.md §4 rule 3 against real server processes: 200 concurrent presentations of one request
key or one launch code, on PostgreSQL behind 4 uvicorn workers and on SQLite behind one process.
Exactly one wins; the rest are refused, none with a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import TEST_SECRET
from tests.support.forge import FakeForge
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow
CONCURRENCY = 200


@pytest.fixture(
    params=[pytest.param(("postgres", 4), marks=pytest.mark.postgres), ("sqlite", 1)],
    ids=["postgres-4-workers", "sqlite-1-process"],
)
def server(request: pytest.FixtureRequest, forge: FakeForge, tmp_path: Path) -> Iterator[LiveServer]:
    backend, workers = request.param
    database_url = request.getfixturevalue(f"{backend}_url")
    env = server_env(
        forge,
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret=TEST_SECRET,
        # Several API processes only enqueue runs; executing them is `seecodes worker`'s job.
        SEECODES_RUN_EXECUTION="workers" if workers > 1 else "in_process",
        # Every one of the racing requests must reach the credential check: none may be shed.
        SEECODES_HTTP_MAX_IN_FLIGHT=str(CONCURRENCY),
    )
    live = LiveServer(env, workers=workers, log_path=tmp_path / "server.log")
    with live:
        yield live


async def _fire(requests: list[httpx.Request]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as http:
        # Open the connections first so the requests themselves start together.
        await asyncio.gather(
            *(
                http.get(str(requests[0].url.copy_with(path="/healthz", query=None)))
                for _ in range(CONCURRENCY)
            )
        )
        return list(await asyncio.gather(*(http.send(request) for request in requests)))


async def _bootstrap(server: LiveServer, fit: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})
    return str(response.json()["requestKey"])


def _assert_no_secret_in_log(server: LiveServer, *values: str) -> None:
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert '"event": "request"' in log
    for value in values:
        assert value not in log


async def test_one_request_key_presented_200_times_succeeds_once(
    server: LiveServer, forge: FakeForge
) -> None:
    fit = forge.fit(lifetime=120)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        key = (await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})).json()[
            "requestKey"
        ]
    headers = {"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": key}
    requests = [
        httpx.Request("GET", f"{server.base_url}/v1/instances/me", headers=headers)
        for _ in range(CONCURRENCY)
    ]

    responses = await _fire(requests)

    statuses = Counter(response.status_code for response in responses)
    assert statuses[200] == 1, statuses
    assert statuses[403] == CONCURRENCY - 1, statuses
    winners = [r for r in responses if r.status_code == 200]
    assert winners[0].headers["x-seecodes-next-request-key"] != key
    _assert_no_secret_in_log(server, fit, key)


async def test_one_launch_code_exchanged_200_times_mints_one_permit(
    server: LiveServer, forge: FakeForge
) -> None:
    fit = forge.fit(lifetime=120)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        key = (await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})).json()[
            "requestKey"
        ]
        link = await http.post(
            "/v1/security/vscode-link",
            headers={"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": key},
            json={"projectId": "AUTH", "taskId": "AUTH-128"},
        )
    code = link.json()["launchCode"]
    body = {"code": code, "projectId": "AUTH", "taskId": "AUTH-128"}
    requests = [
        httpx.Request("POST", f"{server.base_url}/v1/security/launch-exchange", json=body)
        for _ in range(CONCURRENCY)
    ]

    responses = await _fire(requests)

    statuses = Counter(response.status_code for response in responses)
    permits = {r.json()["permit"] for r in responses if r.status_code == 200}
    assert statuses[200] == 1, statuses
    assert len(permits) == 1
    assert statuses[403] == CONCURRENCY - 1, statuses
    assert {r.json()["error"] for r in responses if r.status_code == 403} == {"launch_code_replayed"}
    _assert_no_secret_in_log(server, fit, key, code, permits.pop())
