"""Follow-up runs (issue 15 §5): a new instruction on a succeeded run, with its output as context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return fake_model_settings(tmp_path, fake_openai_server, monkeypatch)


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def test_a_follow_up_sees_the_inputs_the_output_and_the_new_instruction(
    client: httpx.AsyncClient, app: FastAPI, permit: str, fake_openai: FakeOpenAI
) -> None:
    await start_engine(app)
    fake_openai.script("fake-light", Reply("FIRST-OUTPUT: the changelog draft"), Reply("second answer"))
    await grant(app, 1000)
    parent = await init_and_upload(client, permit, {"list.md": "- [ ] write the changelog\n"})
    started = await client.post(
        f"/v1/tasks/{parent['runId']}/start", headers=auth(permit), json={"userPrompt": "draft it"}
    )
    assert (await settle(client, permit, parent["runId"]))["status"] == "succeeded"

    follow = await client.post(
        f"/v1/tasks/{parent['runId']}/continue", headers=auth(permit), json={"userPrompt": "now shorten it"}
    )
    assert follow.status_code == 200, follow.text
    child = follow.json()["runId"]
    assert (await settle(client, permit, child))["status"] == "succeeded"
    listed = (await client.get("/v1/tasks/runs", headers=auth(permit))).json()["items"]

    assert child != parent["runId"]
    assert follow.json()["status"] == "queued"
    assert follow.json()["estimatedInputTokens"] > started.json()["estimatedInputTokens"]
    prompt = " ".join(fake_openai.requests[-1].content(role) for role in ("system", "user"))
    for part in ("write the changelog", "FIRST-OUTPUT: the changelog draft", "draft it", "now shorten it"):
        assert part in prompt, part
    row = next(item for item in listed if item["runId"] == child)
    assert row["parentRunId"] == parent["runId"]
    assert row["files"] == ["list.md", "previous-run.md"]


async def test_only_a_succeeded_run_can_be_continued(
    client: httpx.AsyncClient, app: FastAPI, permit: str
) -> None:
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})

    refused = await client.post(
        f"/v1/tasks/{run['runId']}/continue", headers=auth(permit), json={"userPrompt": "more"}
    )
    empty = await client.post(
        f"/v1/tasks/{run['runId']}/continue", headers=auth(permit), json={"userPrompt": ""}
    )

    assert refused.status_code == 409
    assert refused.json()["error"] == "run_not_succeeded"
    assert empty.status_code == 422
