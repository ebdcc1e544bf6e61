"""The Forge app system token (`x-forge-oauth-system`): kept from every Jira App request, encrypted,
written only when it changes, and used for writes when there is no OAuth connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from seecodes.jira.crypto import cipher_for
from seecodes.models import JiraForgeToken
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import CLOUD_A, INSTALLATION_A, JiraAppClient

HEADER = "x-forge-oauth-system"


async def _stored(app: FastAPI) -> JiraForgeToken | None:
    async with runtime_of(app).db.transaction() as session:
        return (await session.execute(select(JiraForgeToken))).scalar_one_or_none()


async def _raw_rows(app: FastAPI) -> str:
    async with runtime_of(app).db.transaction() as session:
        rows = (await session.execute(text("SELECT * FROM jira_forge_tokens"))).all()
    return " ".join(str(value) for row in rows for value in row)


async def test_a_system_token_on_a_non_connector_route_is_kept_encrypted(
    installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)

    response = await installed.call("GET", "/v1/instances/me", headers={HEADER: system_token})

    assert response.status_code == 200
    stored = await _stored(app)
    assert stored is not None
    assert stored.installation_id == INSTALLATION_A
    assert stored.cloud_id == CLOUD_A
    assert system_token not in await _raw_rows(app)
    assert cipher_for(runtime_of(app).settings).decrypt(stored.token_encrypted) == system_token


async def test_the_same_token_again_is_not_written_again(
    installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI, clock: FixedClock
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)
    await installed.call("GET", "/v1/instances/me", headers={HEADER: system_token})
    first = await _stored(app)
    clock.advance(5)

    for _ in range(3):
        await installed.call("GET", "/v1/instances/me", headers={HEADER: system_token})
    unchanged = await _stored(app)
    rotated = atlassian.issue_forge_token(CLOUD_A, lifetime=7200)
    await installed.call("GET", "/v1/jira/usage", headers={HEADER: rotated})
    replaced = await _stored(app)

    assert first is not None
    assert unchanged is not None
    assert replaced is not None
    assert unchanged.received_at == first.received_at  # no write for a token already kept
    assert unchanged.token_encrypted == first.token_encrypted  # Fernet ciphertexts differ per write
    assert replaced.received_at > first.received_at
    assert cipher_for(runtime_of(app).settings).decrypt(replaced.token_encrypted) == rotated


async def test_an_older_token_does_not_replace_a_fresher_one(
    installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    fresher = atlassian.issue_forge_token(CLOUD_A, lifetime=3600)
    older = atlassian.issue_forge_token(CLOUD_A, lifetime=600)  # a delayed request's token

    await installed.call("GET", "/v1/instances/me", headers={HEADER: fresher})
    await installed.call("GET", "/v1/instances/me", headers={HEADER: older})

    stored = await _stored(app)
    assert stored is not None
    assert cipher_for(runtime_of(app).settings).decrypt(stored.token_encrypted) == fresher


@pytest.mark.parametrize(
    "api_base_url",
    [
        f"https://evil.example.com/ex/jira/{CLOUD_A}",
        f"https://api.atlassian.com/ex/confluence/{CLOUD_A}",
        "https://api.atlassian.com/ex/jira/f2f74842-5425-4e0a-af07-1470937b2bff",  # another site
    ],
)
async def test_a_token_from_an_untrusted_api_base_url_is_ignored_without_failing_the_request(
    installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI, api_base_url: str
) -> None:
    installed.fit_claims = {
        "extra_claims": {
            "app": {
                "id": installed.forge.app_id,
                "installationId": INSTALLATION_A,
                "apiBaseUrl": api_base_url,
                "environment": {"type": "DEVELOPMENT"},
            },
            "context": {"cloudId": CLOUD_A},
        }
    }

    response = await installed.call(
        "GET", "/v1/instances/me", headers={HEADER: atlassian.issue_forge_token(CLOUD_A)}
    )

    assert response.status_code == 200
    assert await _stored(app) is None


async def test_an_expired_token_is_not_kept(
    installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    response = await installed.call(
        "GET", "/v1/instances/me", headers={HEADER: atlassian.issue_forge_token(CLOUD_A, lifetime=-60)}
    )

    assert response.status_code == 200
    assert await _stored(app) is None


async def _wait_for_property(atlassian: FakeAtlassian, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        properties = atlassian.issue(CLOUD_A, "AUTH-128").properties
        if "seecodes-progress" in properties:
            value: dict[str, Any] = properties["seecodes-progress"]
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("the progress never reached the issue")


async def test_a_token_kept_from_instances_me_writes_progress_without_oauth(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)
    seen = await installed.call("GET", "/v1/instances/me", headers={HEADER: system_token})
    permit = await installed.permit(project="AUTH", task="AUTH-128")  # no token on this one
    status = (await installed.call("GET", "/v1/integrations/jira/status")).json()
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    try:
        saved = await client.post(
            "/v1/tasks/AUTH-128/progress",
            headers={"Authorization": f"Bearer {permit}"},
            json={"progress": "30%", "confidence": "High", "ready": ["written with the system token"]},
        )
        written = await _wait_for_property(atlassian)
    finally:
        await runtime.engine.stop()

    assert seen.status_code == 200
    assert saved.status_code == 200
    assert status["connected"] is False
    assert status["writesVia"] == "forge"
    assert written["progress"] == "30%"
    assert atlassian.count("POST", "^/oauth/token$") == 0  # no OAuth connection was involved
    assert atlassian.forge_token_uses[system_token] >= 1
