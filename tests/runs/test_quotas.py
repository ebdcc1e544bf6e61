"""What a run costs in storage before it costs credits is bounded: unstarted runs per installation,
the bytes of kept inputs, and the life of a run that is never started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seecodes.runs import jobs as run_jobs
from seecodes.runs import repository
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import JiraAppClient
from tests.support.runs import (
    auth,
    fake_model_settings,
    grant,
    init_and_upload,
    settle,
    start_engine,
    task_permit,
)

QUOTA = 8 * 1024


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return {
        **fake_model_settings(tmp_path, fake_openai_server, monkeypatch),
        "max_unstarted_runs": 2,
        "storage_quota_bytes": QUOTA,
        "unstarted_runs_expire_hours": 24,
    }


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def test_an_installation_holds_only_so_many_unstarted_runs(
    client: httpx.AsyncClient, permit: str
) -> None:
    first = await client.post("/v1/tasks/init", headers=auth(permit), json={})
    second = await client.post("/v1/tasks/init", headers=auth(permit), json={})
    third = await client.post("/v1/tasks/init", headers=auth(permit), json={})

    assert [first.status_code, second.status_code] == [200, 200]
    assert third.status_code == 409
    assert third.json()["error"] == "too_many_unstarted_runs"
    started = await client.post(f"/v1/tasks/{first.json()['runId']}/cancel", headers=auth(permit))
    assert started.status_code == 200
    assert (await client.post("/v1/tasks/init", headers=auth(permit), json={})).status_code == 200


async def test_kept_inputs_are_bounded_by_the_installation_quota(
    app: FastAPI, client: httpx.AsyncClient, permit: str
) -> None:
    await grant(app, 100_000)
    big = "word " * (QUOTA // 5 * 6 // 10)  # 60 % of the quota
    first = await init_and_upload(client, permit, {"a.md": big})
    second = await init_and_upload(client, permit, {"b.md": big})

    accepted = await client.post(f"/v1/tasks/{first['runId']}/start", headers=auth(permit), json={})
    refused = await client.post(f"/v1/tasks/{second['runId']}/start", headers=auth(permit), json={})

    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 413
    assert refused.json()["error"] == "storage_quota_exceeded"
    assert (await client.get(f"/v1/tasks/{second['runId']}", headers=auth(permit))).json()["status"][
        "status"
    ] == "initialized"  # nothing reserved, nothing moved: it may start once room is made


async def test_a_run_never_started_expires_with_its_uploads(
    app: FastAPI, client: httpx.AsyncClient, permit: str, clock: FixedClock, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("done"))
    await grant(app, 1000)
    idle = await init_and_upload(client, permit)
    busy = await init_and_upload(client, permit)
    await start_engine(app)
    await client.post(f"/v1/tasks/{busy['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, busy["runId"])

    clock.advance(23 * 3600)
    early = await run_jobs.expire_unstarted_step()
    clock.advance(2 * 3600)
    expired = await run_jobs.expire_unstarted_step()

    async with runtime_of(app).db.transaction() as session:
        stale = await repository.get(session, idle["runId"])
        finished = await repository.get(session, busy["runId"])
    assert (early, expired) == (0, 1)
    assert stale is not None
    assert stale.status == "cancelled"
    assert stale.error == "expired before it was started"
    assert await runtime_of(app).storage.size(f"{idle['prefix']}input/list.md") is None
    assert finished is not None
    assert finished.status == "succeeded"  # a started run is not touched
