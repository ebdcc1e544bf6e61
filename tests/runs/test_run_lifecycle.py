"""Runs end to end through the API, the DBOS engine in process, and the fake model server over HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import math
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import CreditLedgerEntry
from seecodes.runs import jobs as run_jobs
from seecodes.runs import repository as runs_repository
from seecodes.runs.tokens import count_tokens
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import Fail, FakeOpenAI, Hang, Reply
from tests.support.forge import JiraAppClient
from tests.support.runs import (
    BASE_URL,
    PROVIDER_KEY,
    auth,
    balance,
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
async def engine(app: FastAPI) -> None:
    await start_engine(app)


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def test_a_run_goes_from_upload_to_output_and_settles_its_credits(
    app: FastAPI, client: httpx.AsyncClient, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(
        "fake-light", Reply("## Changelog\n- wrote it", prompt_tokens=40, completion_tokens=12)
    )
    await grant(app, 1000)
    run = await init_and_upload(client, permit)

    started = await client.post(
        f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={"userPrompt": "generate change log"}
    )
    status = await settle(client, permit, run["runId"])

    assert started.status_code == 200, started.text
    body = started.json()
    assert body["status"] == "queued"
    assert body["runId"] == run["runId"]
    assert body["estimatedInputTokens"] > 0
    assert body["estimatedCredits"] == math.ceil(10 + 0.001 * body["estimatedInputTokens"])
    assert status["status"] == "succeeded"
    assert status["resultZipUrl"]
    output = await client.get(f"/v1/tasks/{run['runId']}/output", headers=auth(permit))
    assert output.headers["content-type"].startswith("text/plain")
    assert output.text == "## Changelog\n- wrote it"
    sent = fake_openai.requests_for("fake-light")[-1]
    assert sent.authorization == f"Bearer {PROVIDER_KEY}"
    assert "write the changelog" in sent.content("user")
    assert "generate change log" in sent.content("user")
    charged = math.ceil(10 + 0.001 * (40 + 12))
    assert await balance(app) == 1000 - charged
    archive = await client.get(status["resultZipUrl"].removeprefix(BASE_URL))
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert bundle.read("output.md").decode() == "## Changelog\n- wrote it"
        manifest = json.loads(bundle.read("manifest.json"))
    assert manifest["runId"] == run["runId"]
    assert manifest["outputTokens"] == 12


async def test_logs_name_each_step_and_never_the_provider_key(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("done"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, run["runId"])

    logs = (await client.get(f"/v1/tasks/{run['runId']}/logs", headers=auth(permit))).text

    for step in ("queued:", "claimed by", "prompt built with", "provider called", "first token", "finished:"):
        assert step in logs
    assert "credits charged" in logs
    assert PROVIDER_KEY not in logs
    assert all(line[:4].isdigit() and "T" in line[:20] for line in logs.splitlines())


async def test_usage_lists_the_settled_run_and_the_available_credits(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: None,
    permit: str,
    jira: JiraAppClient,
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script("fake-light", Reply("ok", prompt_tokens=100, completion_tokens=100))
    await grant(app, 500)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, run["runId"])

    usage = await jira.call("GET", "/v1/jira/usage")

    assert usage.status_code == 200, usage.text
    body = usage.json()
    assert body["availableCredits"] == 500 - math.ceil(10 + 0.001 * 200)
    item = body["items"][0]
    assert item["type"] == "task_run"
    assert item["taskId"] == "AUTH-128"
    assert item["credits"] == math.ceil(10 + 0.001 * 200)
    assert item["timestamp"].endswith("Z")


async def test_start_before_every_upload_names_the_missing_files(
    client: httpx.AsyncClient, permit: str
) -> None:
    created = await client.post(
        "/v1/tasks/init", headers=auth(permit), json={"files": ["list.md", "notes.md"]}
    )
    run = created.json()
    await client.put(run["uploads"]["list.md"].removeprefix(BASE_URL), content=b"x")

    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})

    assert started.status_code == 409
    assert started.json()["error"] == "uploads_incomplete"
    assert started.json()["missing"] == ["notes.md"]


async def test_start_with_too_few_credits_is_402_with_the_shortfall(
    client: httpx.AsyncClient, app: FastAPI, permit: str
) -> None:
    await grant(app, 3)
    run = await init_and_upload(client, permit)

    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})

    assert started.status_code == 402
    body = started.json()
    assert body["error"] == "insufficient_credits"
    assert body["ok"] is False
    assert body["availableCredits"] == 3
    assert body["shortfall"] == body["requiredCredits"] - 3
    assert await balance(app) == 3


async def test_context_over_the_models_window_is_422(
    client: httpx.AsyncClient, app: FastAPI, permit: str
) -> None:
    await grant(app, 10_000)
    big = "token " * 40_000
    assert count_tokens(big) > 32_000
    run = await init_and_upload(client, permit, {"list.md": big})

    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})

    assert started.status_code == 422
    assert started.json()["error"] == "context_too_large"
    assert await balance(app) == 10_000


@pytest.mark.parametrize("name", ["../x.md", "a/b.md", "..", "a\\b.md", "x" * 200, ""])
async def test_init_refuses_file_names_that_are_not_plain(
    client: httpx.AsyncClient, permit: str, name: str
) -> None:
    created = await client.post("/v1/tasks/init", headers=auth(permit), json={"files": [name]})

    assert created.status_code == 422
    assert created.json()["error"] == "validation_error"


async def test_init_defaults_to_list_md_and_too_many_files_is_422(
    client: httpx.AsyncClient, permit: str
) -> None:
    default = await client.post("/v1/tasks/init", headers=auth(permit), json={})
    too_many = await client.post(
        "/v1/tasks/init", headers=auth(permit), json={"files": [f"f{i}.md" for i in range(21)]}
    )

    assert list(default.json()["uploads"]) == ["list.md"]
    assert default.json()["prefix"].startswith("runs/run_")
    assert default.json()["bucket"]
    assert too_many.status_code == 422


async def test_another_tasks_run_is_not_found(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient
) -> None:
    run = await init_and_upload(client, permit)
    other = await jira.permit(project="AUTH", task="AUTH-129")

    for method, suffix in (
        ("GET", ""),
        ("GET", "/logs"),
        ("GET", "/output"),
        ("POST", "/start"),
        ("POST", "/cancel"),
    ):
        response = await client.request(
            method,
            f"/v1/tasks/{run['runId']}{suffix}",
            headers=auth(other),
            json={} if method == "POST" else None,
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"] == "run_not_found"


async def test_provider_failure_fails_the_run_with_its_reason_and_releases_credits(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Fail(500, message="upstream exploded"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit)

    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    status = await settle(client, permit, run["runId"])

    assert status["status"] == "failed"
    assert "500" in status["error"]
    assert "upstream exploded" in status["error"]
    assert len(fake_openai.requests_for("fake-light")) == 3  # the first try and two retries
    assert await balance(app) == 1000
    output = await client.get(f"/v1/tasks/{run['runId']}/output", headers=auth(permit))
    assert output.status_code == 409
    assert output.json()["error"] == "run_not_succeeded"


async def test_a_429_with_retry_after_is_retried_and_the_run_succeeds(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(
        "fake-light", Fail(429, retry_after=0.2, error_type="rate_limit_error"), Reply("after wait")
    )
    await grant(app, 1000)
    run = await init_and_upload(client, permit)

    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    status = await settle(client, permit, run["runId"])

    assert status["status"] == "succeeded"
    assert len(fake_openai.requests_for("fake-light")) == 2


async def test_cancel_settles_the_run_charges_the_input_sent_and_a_second_cancel_is_409(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Hang())
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    for _ in range(200):
        if (await client.get(f"/v1/tasks/{run['runId']}", headers=auth(permit))).json()["status"][
            "status"
        ] == "processing_remote":
            break
        await asyncio.sleep(0.05)

    cancelled = await client.post(f"/v1/tasks/{run['runId']}/cancel", headers=auth(permit))
    again = await client.post(f"/v1/tasks/{run['runId']}/cancel", headers=auth(permit))

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert again.json()["error"] == "run_already_finished"
    # processing_remote: the model had the input, so its estimate is charged (not released).
    assert await balance(app) == 1000 - started.json()["estimatedCredits"]
    await asyncio.sleep(0.3)
    assert (await client.get(f"/v1/tasks/{run['runId']}", headers=auth(permit))).json()["status"][
        "status"
    ] == "cancelled"


async def test_rerun_starts_a_new_run_on_the_same_inputs(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: None,
    permit: str,
    fake_openai: FakeOpenAI,
    clock: FixedClock,
) -> None:
    fake_openai.script("fake-light", Reply("first"), Reply("second"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit, {"list.md": "the same input"})
    await client.post(
        f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={"userPrompt": "summarise"}
    )
    await settle(client, permit, run["runId"])
    clock.advance(1)

    rerun = await client.post(f"/v1/tasks/{run['runId']}/rerun", headers=auth(permit))
    status = await settle(client, permit, rerun.json()["runId"])

    assert rerun.status_code == 200, rerun.text
    assert rerun.json()["runId"] != run["runId"]
    assert rerun.json()["status"] == "queued"
    assert status["status"] == "succeeded"
    first, second = fake_openai.requests_for("fake-light")[-2:]
    assert first.content("user") == second.content("user")
    listed = await client.get("/v1/tasks/runs", headers=auth(permit))
    assert [item["runId"] for item in listed.json()["items"]] == [rerun.json()["runId"], run["runId"]]
    assert listed.json()["items"][0]["rerunOf"] == run["runId"]


async def test_run_list_pages_with_a_cursor_and_filters_by_status(
    client: httpx.AsyncClient, permit: str
) -> None:
    ids = [(await init_and_upload(client, permit))["runId"] for _ in range(5)]

    first = await client.get("/v1/tasks/runs?limit=2", headers=auth(permit))
    second = await client.get(
        f"/v1/tasks/runs?limit=2&cursor={first.json()['nextCursor']}", headers=auth(permit)
    )
    queued = await client.get("/v1/tasks/runs?status=queued", headers=auth(permit))
    bad = await client.get("/v1/tasks/runs?cursor=not-a-cursor", headers=auth(permit))

    seen = [item["runId"] for item in first.json()["items"] + second.json()["items"]]
    assert len(seen) == 4
    assert len(set(seen)) == 4
    assert set(seen) <= set(ids)
    assert queued.json()["items"] == []
    assert bad.status_code == 422


async def test_events_stream_resumes_after_last_event_id(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("streamed text", chunk_chars=3))
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, run["runId"])

    full = await client.get(f"/v1/tasks/{run['runId']}/events", headers=auth(permit))
    frames = _frames(full.text)
    middle = frames[len(frames) // 2]["id"]
    resumed = _frames(
        (
            await client.get(
                f"/v1/tasks/{run['runId']}/events", headers={**auth(permit), "Last-Event-ID": middle}
            )
        ).text
    )

    assert full.headers["content-type"].startswith("text/event-stream")
    assert full.headers["x-accel-buffering"] == "no"
    kinds = [frame["event"] for frame in frames]
    assert {"status", "log", "output"} <= set(kinds)
    assert kinds[-1] == "end"
    output = "".join(json.loads(frame["data"])["text"] for frame in frames if frame["event"] == "output")
    assert output == "streamed text"
    assert [frame["id"] for frame in resumed if "id" in frame] == [
        frame["id"] for frame in frames if "id" in frame and int(frame["id"]) > int(middle)
    ]


def _frames(body: str) -> list[dict[str, str]]:
    frames = []
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith(":") or ":" not in line:
                continue
            name, _, value = line.partition(": ")
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if "event" in fields:
            frames.append(fields)
    return frames


async def test_twenty_concurrent_starts_never_overspend(
    client: httpx.AsyncClient, app: FastAPI, permit: str
) -> None:
    runs = [await init_and_upload(client, permit) for _ in range(20)]
    first = await client.post(f"/v1/tasks/{runs[0]['runId']}/start", headers=auth(permit), json={})
    assert first.status_code == 402
    cost = first.json()["requiredCredits"]
    await grant(app, cost * 5)  # room for exactly five more

    answers = await asyncio.gather(
        *(client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={}) for run in runs[1:])
    )

    accepted = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code == 402]
    assert len(accepted) + len(refused) == 19
    assert len(accepted) == 5
    assert await balance(app) == 0
    async with runtime_of(app).db.transaction() as session:
        reservations = (
            (await session.execute(select(CreditLedgerEntry).where(CreditLedgerEntry.kind == "reserve")))
            .scalars()
            .all()
        )
    assert len(reservations) == 5


async def _succeeded_run(
    client: httpx.AsyncClient, app: FastAPI, permit: str, fake_openai: FakeOpenAI
) -> str:
    fake_openai.script("fake-light", Reply("kept output"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={"userPrompt": "go"})
    assert (await settle(client, permit, run["runId"]))["status"] == "succeeded"
    return str(run["runId"])


async def _settled_ago(app: FastAPI, run_id: str, hours: float) -> None:
    """Move the run's settle time back (credentials keep working; the clock stays)."""
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        now = runtime.clock.utcnow()
        await runs_repository.set_values(session, run_id, now, finished_at=now - timedelta(hours=hours))


async def test_uploads_are_purged_after_their_retention_and_the_output_stays(
    client: httpx.AsyncClient, app: FastAPI, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    runtime = runtime_of(app)
    run_id = await _succeeded_run(client, app, permit, fake_openai)
    upload = f"runs/{run_id}/input/list.md"

    await _settled_ago(app, run_id, 47)
    early = await run_jobs.purge_uploads_step()
    await _settled_ago(app, run_id, 49)
    purged = await run_jobs.purge_uploads_step()

    assert (early, purged) == (0, 1)
    assert await runtime.storage.size(upload) is None
    assert (await client.get(f"/v1/tasks/{run_id}/output", headers=auth(permit))).text == "kept output"
    logs = await client.get(f"/v1/tasks/{run_id}/logs", headers=auth(permit))
    assert "uploaded context purged (retention)" in logs.text
    rerun = await client.post(f"/v1/tasks/{run_id}/rerun", headers=auth(permit))
    assert rerun.status_code == 409, rerun.text
    assert await run_jobs.purge_uploads_step() == 0  # once per run


async def test_outputs_and_logs_are_deleted_after_the_artifact_retention_and_billing_stays(
    client: httpx.AsyncClient,
    app: FastAPI,
    engine: None,
    permit: str,
    fake_openai: FakeOpenAI,
    jira: JiraAppClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = runtime_of(app)
    run_id = await _succeeded_run(client, app, permit, fake_openai)
    await _settled_ago(app, run_id, 24 * 400)
    assert await run_jobs.purge_artifacts_step() == 0  # 0 days (the default): kept for ever
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.model_copy(update={"artifacts_retention_days": 7})
    )
    balance_before = await balance(app)

    await _settled_ago(app, run_id, 24 * 6)
    early = await run_jobs.purge_artifacts_step()
    await _settled_ago(app, run_id, 24 * 8)
    purged = await run_jobs.purge_artifacts_step()

    assert (early, purged) == (0, 1)
    assert await runtime.storage.size(f"runs/{run_id}/output/output.md") is None
    assert await runtime.storage.size(f"runs/{run_id}/output/result.zip") is None
    for path in ("output", "logs"):
        gone = await client.get(f"/v1/tasks/{run_id}/{path}", headers=auth(permit))
        assert gone.status_code == 410, gone.text
        assert gone.json()["error"] == "run_artifacts_purged"
    status = (await client.get(f"/v1/tasks/{run_id}", headers=auth(permit))).json()["status"]
    assert (status["status"], status["resultZipUrl"]) == ("succeeded", None)
    usage = (await jira.call("GET", "/v1/jira/usage")).json()
    assert [row["runId"] for row in usage["items"]] == [run_id]
    assert await balance(app) == balance_before
