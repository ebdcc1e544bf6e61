"""Progress written back into the Jira issue: debounced, per-site, Retry-After, never in the IDE's way."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from dbos import DBOS
from fastapi import FastAPI
from sqlalchemy import text

from seecodes.config import Settings
from seecodes.jira import jobs
from seecodes.runs.jobs import queue_name
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import CLOUD_A, JiraAppClient

DOCUMENT = {
    "ready": ["Protected-route wrapper is live"],
    "left": ["Callback validation still needs coverage"],
    "progress": "40%",
    "confidence": "Medium",
    "risks": ["Identity provider payload may still change"],
    "logs": ["Recent activity summary line"],
}
PROPERTY_PUT = r"/issue/AUTH-128/properties/seecodes-progress$"
COMMENT_POST = r"/issue/AUTH-128/comment$"
COMMENT_PUT = r"/issue/AUTH-128/comment/\d+$"


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def _post(client: httpx.AsyncClient, permit: str, **change: Any) -> httpx.Response:
    response = await client.post(
        "/v1/tasks/AUTH-128/progress", headers=_auth(permit), json={**DOCUMENT, **change}
    )
    assert response.status_code == 200, response.text
    return response


async def _sync_state(client: httpx.AsyncClient, permit: str) -> dict[str, Any] | None:
    body = (await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))).json()
    state: dict[str, Any] | None = body.get("jiraSync")
    return state


async def _wait_for(
    client: httpx.AsyncClient, permit: str, state: str, within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        current = await _sync_state(client, permit)
        if current is not None and current["state"] == state:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"the sync state never became {state!r}: {await _sync_state(client, permit)}")


@pytest.fixture
async def permit(connected: JiraAppClient) -> str:
    return await connected.permit(project="AUTH", task="AUTH-128")


@pytest.mark.parametrize("settings_overrides", [{"jira_debounce_seconds": 3}], indirect=True)
@pytest.mark.usefixtures("engine")
async def test_ten_quick_posts_make_one_property_write_and_one_comment_edit(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    await _post(client, permit)
    await _wait_for(client, permit, "synced")
    first_comment = set(atlassian.issue(CLOUD_A, "AUTH-128").comments)

    for percent in range(10, 101, 10):
        await _post(client, permit, progress=f"{percent}%")
        await asyncio.sleep(0.1)  # spaced wider than the queue's polling: only the debounce joins them
    synced = await _wait_for(client, permit, "synced")

    issue = atlassian.issue(CLOUD_A, "AUTH-128")
    assert atlassian.count("PUT", PROPERTY_PUT) == 2  # the first POST's, then one for the ten
    assert atlassian.count("POST", COMMENT_POST) == 1
    assert atlassian.count("PUT", COMMENT_PUT) == 1  # edited in place
    assert set(issue.comments) == first_comment
    assert issue.properties["seecodes-progress"]["progress"] == "100%"
    assert issue.properties["seecodes-progress"]["ready"] == DOCUMENT["ready"]
    comment = issue.comments[next(iter(first_comment))]
    assert comment["type"] == "doc"
    assert "100% done, confidence Medium" in str(comment)
    assert synced["at"] is not None


async def test_the_progress_get_says_pending_until_the_write(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    await _post(client, permit)  # the engine is not running: nothing is written yet

    state = await _sync_state(client, permit)

    assert state == {"state": "pending", "at": None, "reason": None}
    assert atlassian.count("PUT", PROPERTY_PUT) == 0


async def test_without_a_jira_connection_the_progress_body_is_unchanged(
    client: httpx.AsyncClient, installed: JiraAppClient
) -> None:
    permit = await installed.permit(project="AUTH", task="AUTH-128")
    await _post(client, permit)

    body = (await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))).json()

    assert set(body) == {"ok", "progress"}


@pytest.mark.usefixtures("engine")
async def test_a_429_is_retried_after_its_retry_after(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.rate_limit("/properties/", times=1, retry_after=1)
    started = time.monotonic()

    await _post(client, permit)
    await _wait_for(client, permit, "synced")

    assert atlassian.count("PUT", PROPERTY_PUT) == 2
    assert time.monotonic() - started >= 1.0 + 0.5  # the debounce, then the Retry-After


@pytest.mark.usefixtures("engine")
async def test_a_retry_after_beyond_the_bound_fails_with_the_reason_until_the_next_post(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.rate_limit("/properties/", times=1, retry_after=86_400)

    await _post(client, permit)
    failed = await _wait_for(client, permit, "failed")
    await _post(client, permit, progress="50%")
    after = await _sync_state(client, permit)

    assert "rate limited" in failed["reason"]
    assert failed["at"] is not None
    assert after is not None
    assert after["state"] in ("pending", "synced")  # a newer report is tried again
    await _wait_for(client, permit, "synced")


@pytest.mark.usefixtures("engine")
async def test_the_ide_post_is_not_slowed_when_jira_is_down(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.down.set()  # every Jira route hangs until released (or our 5 s timeout)
    await _post(client, permit)
    await asyncio.sleep(1.0)  # the write is now hanging on Jira

    durations = []
    for percent in range(10, 60, 10):
        started = time.monotonic()
        await _post(client, permit, progress=f"{percent}%")
        durations.append(time.monotonic() - started)
    state = await _sync_state(client, permit)

    assert max(durations) < 1.0  # a hanging Jira would take ≥ 5 s
    assert state is not None
    assert state["state"] == "pending"
    atlassian.released.set()


async def test_a_failed_enqueue_is_caught_up_by_the_sweep(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian, app: FastAPI, clock: FixedClock
) -> None:
    await _post(client, permit)  # no engine: the enqueue fails, the POST does not
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    try:
        clock.advance(runtime.settings.jira_max_retry_after_seconds + 120)

        requeued = await jobs.requeue_stale_step()
        await _wait_for(client, permit, "synced")
    finally:
        await runtime.engine.stop()

    assert requeued == 1
    assert atlassian.count("PUT", PROPERTY_PUT) == 1


@pytest.mark.usefixtures("engine")
async def test_a_deleted_comment_is_replaced_by_a_new_one(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    await _post(client, permit)
    await _wait_for(client, permit, "synced")
    atlassian.issue(CLOUD_A, "AUTH-128").comments.clear()

    await _post(client, permit, progress="90%")
    await _wait_for(client, permit, "synced")

    assert len(atlassian.issue(CLOUD_A, "AUTH-128").comments) == 1
    assert atlassian.count("POST", COMMENT_POST) == 2


async def test_the_forge_system_token_writes_when_there_is_no_oauth_connection(
    client: httpx.AsyncClient, installed: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)
    kept = await installed.call(
        "POST", "/v1/integrations/jira/forge-token", headers={"x-forge-oauth-system": system_token}
    )
    permit = await installed.permit(project="AUTH", task="AUTH-128")
    status = (await installed.call("GET", "/v1/integrations/jira/status")).json()
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    try:
        await _post(client, permit)
        await _wait_for(client, permit, "synced")
    finally:
        await runtime.engine.stop()
    async with runtime.db.transaction() as session:
        stored = " ".join(
            str(v)
            for row in (await session.execute(text("SELECT * FROM jira_forge_tokens"))).all()
            for v in row
        )

    assert kept.json()["kept"] is True
    assert status["connected"] is False
    assert status["writesVia"] == "forge"
    assert status["forgeSystemToken"]["cloudId"] == CLOUD_A
    assert atlassian.issue(CLOUD_A, "AUTH-128").properties["seecodes-progress"]["progress"] == "40%"
    assert system_token not in stored


async def test_a_forge_token_from_an_untrusted_api_base_url_is_not_kept(
    installed: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    claims = {
        "app": {
            "id": installed.forge.app_id,
            "installationId": "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-00000000000a",
            "apiBaseUrl": f"https://evil.example.com/ex/jira/{CLOUD_A}",
            "environment": {"type": "DEVELOPMENT"},
        }
    }
    installed.fit_claims = {"extra_claims": claims}

    response = await installed.call(
        "POST",
        "/v1/integrations/jira/forge-token",
        headers={"x-forge-oauth-system": atlassian.issue_forge_token(CLOUD_A)},
    )

    assert response.status_code == 200
    assert response.json() == {"ok": True, "kept": False, "expiresAt": None}


@pytest.mark.parametrize("settings_overrides", [{"jira_max_retries": 2}], indirect=True)
@pytest.mark.usefixtures("engine")
async def test_repeated_429s_give_up_after_the_retry_bound(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.rate_limit("/properties/", times=100, retry_after=0.1)

    await _post(client, permit)
    failed = await _wait_for(client, permit, "failed")

    assert atlassian.count("PUT", PROPERTY_PUT) == 3  # the first attempt and two retries
    assert failed["reason"].startswith("gave up after 3 attempts")
    assert "rate limited" in failed["reason"]


@pytest.mark.usefixtures("engine")
async def test_writes_to_one_site_go_one_at_a_time(
    client: httpx.AsyncClient, connected: JiraAppClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.add_issue(CLOUD_A, "AUTH-129")
    other = await connected.permit(project="AUTH", task="AUTH-129")
    atlassian.jira_delay = 0.3  # a write takes ~0.6 s: two unserialised writes would overlap

    await _post(client, permit)
    saved = await client.post("/v1/tasks/AUTH-129/progress", headers=_auth(other), json=DOCUMENT)
    await _wait_for(client, permit, "synced")
    for _ in range(300):
        if atlassian.issue(CLOUD_A, "AUTH-129").properties:
            break
        await asyncio.sleep(0.1)

    assert saved.status_code == 200
    assert atlassian.issue(CLOUD_A, "AUTH-129").properties["seecodes-progress"]["progress"] == "40%"
    assert atlassian.max_in_flight[CLOUD_A] == 1


@pytest.mark.usefixtures("engine")
async def test_a_document_beyond_jiras_property_limit_is_written_trimmed(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    lines = ["x" * 2000] * 200  # the largest document the POST accepts: ~1.6 MB
    await _post(client, permit, ready=lines, left=lines, risks=lines, logs=lines)

    await _wait_for(client, permit, "synced")

    written = atlassian.issue(CLOUD_A, "AUTH-128").properties["seecodes-progress"]
    assert len(json.dumps(written, separators=(",", ":"))) <= 32_768  # the fake refuses more, as Jira does
    assert written["truncated"] is True
    assert written["omitted"]["logs"] == 200
    assert written["progress"] == "40%"
    assert len(atlassian.issue(CLOUD_A, "AUTH-128").comments) == 1


@pytest.mark.parametrize("debounce", [0, 0.5, 3, 10, 600])
def test_jira_queues_poll_at_a_tenth_of_the_debounce_window_at_most_once_a_second(debounce: float) -> None:
    settings = Settings(env="test", jira_debounce_seconds=debounce, run_queue_poll_seconds=0.05)

    poll = jobs.queue_poll_seconds(settings)

    assert poll == max(0.05, min(1.0, debounce / 10))


@pytest.mark.parametrize("settings_overrides", [{"jira_debounce_seconds": 3}], indirect=True)
@pytest.mark.usefixtures("engine")
async def test_the_engine_polls_jira_queues_at_their_own_interval(app: FastAPI) -> None:
    runtime = runtime_of(app)
    run_queue = queue_name(runtime.catalog.default.id)

    polls = {
        name: await queue.get_polling_interval_sec_async()
        for name in (jobs.DEBOUNCE_QUEUE, jobs.SITE_QUEUE, run_queue)
        if (queue := await DBOS.retrieve_queue_async(name)) is not None
    }

    assert polls == {jobs.DEBOUNCE_QUEUE: 0.3, jobs.SITE_QUEUE: 0.3, run_queue: 0.05}


@pytest.mark.usefixtures("engine")
async def test_a_refused_property_does_not_skip_the_comment_and_the_sync_says_which_part_failed(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.refuse_properties = True

    await _post(client, permit)
    failed = await _wait_for(client, permit, "failed")

    issue = atlassian.issue(CLOUD_A, "AUTH-128")
    assert "seecodes-progress" not in issue.properties
    assert len(issue.comments) == 1  # written although the property was refused
    assert "40% done, confidence Medium" in str(next(iter(issue.comments.values())))
    assert failed["reason"].startswith("property refused:")


@pytest.mark.usefixtures("engine")
async def test_a_multibyte_document_reaches_jira_within_its_byte_limit(
    client: httpx.AsyncClient, permit: str, atlassian: FakeAtlassian
) -> None:
    item = ("進捗を確認しました 🚀" * 60)[:1990]

    await _post(client, permit, ready=[item] * 20, left=[item] * 20, risks=[item] * 20, logs=[item] * 20)
    await _wait_for(client, permit, "synced")

    stored = atlassian.issue(CLOUD_A, "AUTH-128").properties["seecodes-progress"]
    assert len(json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode()) <= 32_768
    assert stored["truncated"] is True
