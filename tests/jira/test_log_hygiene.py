"""No Jira token (3LO access or refresh, Forge system token) reaches a log line, at any level."""

from __future__ import annotations

import asyncio
import io

import httpx
from fastapi import FastAPI

from tests.jira.conftest import connect_oauth
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import CLOUD_A, JiraAppClient


async def test_no_jira_token_reaches_a_log_line(
    client: httpx.AsyncClient,
    installed: JiraAppClient,
    atlassian: FakeAtlassian,
    app: FastAPI,
    clock: FixedClock,
    log_lines: io.StringIO,
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)
    await installed.call(
        "POST", "/v1/integrations/jira/forge-token", headers={"x-forge-oauth-system": system_token}
    )
    await connect_oauth(client, installed, atlassian)
    permit = await installed.permit(project="AUTH", task="AUTH-128")
    clock.advance(3600)  # the next call refreshes
    await installed.bootstrap()
    await installed.call("GET", "/v1/integrations/jira/projects")
    atlassian.expire_access_tokens()  # and this one meets a 401 first
    generated = await installed.call(
        "POST", "/v1/execution/generate", json={"markdown": "- [ ] [P1] Log nothing"}
    )
    await installed.call(
        "POST",
        "/v1/execution/push",
        json={"ticketIds": [generated.json()["tickets"][0]["id"]], "projectKey": "AUTH"},
    )
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    try:
        await client.post(
            "/v1/tasks/AUTH-128/progress",
            headers={"Authorization": f"Bearer {permit}"},
            json={"progress": "10%", "confidence": "Low"},
        )
        for _ in range(100):
            if atlassian.issue(CLOUD_A, "AUTH-128").properties:
                break
            await asyncio.sleep(0.1)
    finally:
        await runtime.engine.stop()

    output = log_lines.getvalue()
    issued = atlassian.tokens_issued()
    assert len(issued) >= 5  # two access tokens, two refresh tokens, the system token
    assert atlassian.issue(CLOUD_A, "AUTH-128").properties  # the write really happened
    assert "jira_token_refreshed" in output
    assert not [token for token in issued if token in output]
