"""Read-only share links (issue 15 §4): one run, shown once, stored hashed, revocable, expiring."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import ShareLink
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import JiraAppClient
from tests.support.runs import (
    BASE_URL,
    auth,
    fake_model_settings,
    grant,
    init_and_upload,
    settle,
    start_engine,
    task_permit,
)

JSON = {"Accept": "application/json"}


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return fake_model_settings(tmp_path, fake_openai_server, monkeypatch)


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def _succeeded(client: httpx.AsyncClient, app: FastAPI, permit: str, fake_openai: FakeOpenAI) -> str:
    await start_engine(app)
    fake_openai.script("fake-light", Reply("SHARED <b>output</b>"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    assert (await settle(client, permit, run["runId"]))["status"] == "succeeded"
    return str(run["runId"])


async def _share(client: httpx.AsyncClient, permit: str, run_id: str) -> str:
    minted = await client.post(f"/v1/tasks/{run_id}/share", headers=auth(permit))
    assert minted.status_code == 200, minted.text
    url = str(minted.json()["url"])
    assert url.startswith(f"{BASE_URL}/v1/share/sc_share_")
    return url.removeprefix(BASE_URL)


async def test_a_share_link_shows_the_run_without_a_permit_and_is_stored_hashed(
    client: httpx.AsyncClient,
    app: FastAPI,
    permit: str,
    fake_openai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id = await _succeeded(client, app, permit, fake_openai)
    caplog.set_level(logging.INFO)
    path = await _share(client, permit, run_id)
    token = path.rsplit("/", 1)[1]

    document = await client.get(path, headers=JSON)
    page = await client.get(path)

    assert document.status_code == 200, document.text
    body = document.json()
    assert (body["runId"], body["status"], body["output"]) == (run_id, "succeeded", "SHARED <b>output</b>")
    assert "finished:" in body["log"]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SHARED &lt;b&gt;output&lt;/b&gt;" in page.text  # escaped, never markup
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    async with runtime_of(app).db.transaction() as session:
        stored = (await session.execute(select(ShareLink))).scalars().one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    ours = [record.getMessage() for record in caplog.records if record.name.startswith("seecodes")]
    assert any("/v1/share/{token}" in line for line in ours)  # the access log names the route
    assert not [line for line in ours if token in line]


async def test_a_share_link_opens_its_run_only_and_stops_when_revoked_or_expired(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str, fake_openai: FakeOpenAI
) -> None:
    run_id = await _succeeded(client, app, permit, fake_openai)
    path = await _share(client, permit, run_id)
    second = await _share(client, permit, run_id)

    forged = await client.get(path[:-4] + "AAAA", headers=JSON)
    revoked = await client.delete(f"/v1/tasks/{run_id}/share", headers=auth(permit))
    after_revoke = await client.get(path, headers=JSON)
    fresh = await _share(client, permit, run_id)
    clock = runtime_of(app).clock
    assert isinstance(clock, FixedClock)
    clock.advance(24 * 3600 + 1)
    after_expiry = await client.get(fresh, headers=JSON)

    assert forged.status_code == 404
    assert forged.json()["error"] == "share_link_not_found"
    assert revoked.json() == {"ok": True, "revoked": 2}
    assert after_revoke.status_code == 404
    assert (await client.get(second, headers=JSON)).status_code == 404
    assert after_expiry.status_code == 404
    assert after_expiry.json() == after_revoke.json()


async def test_another_tasks_permit_cannot_share_the_run(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str, fake_openai: FakeOpenAI
) -> None:
    run_id = await _succeeded(client, app, permit, fake_openai)
    other = await jira.permit(project="AUTH", task="AUTH-999")

    refused = await client.post(f"/v1/tasks/{run_id}/share", headers=auth(other))
    revoke = await client.delete(f"/v1/tasks/{run_id}/share", headers=auth(other))

    assert (refused.status_code, revoke.status_code) == (404, 404)


async def test_the_share_link_follows_the_run_over_sse(
    client: httpx.AsyncClient, app: FastAPI, permit: str, fake_openai: FakeOpenAI
) -> None:
    run_id = await _succeeded(client, app, permit, fake_openai)
    path = await _share(client, permit, run_id)

    streamed = await client.get(f"{path}/events")

    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert "event: end" in streamed.text
    assert "SHARED" in streamed.text
