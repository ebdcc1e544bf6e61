"""Execution tickets drafted by a real provider over HTTP (the fake OpenAI-compatible server), from a
prose document and from the output of a run the engine executed."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from dbos import DBOS
from fastapi import FastAPI
from sqlalchemy import func, select

from seecodes.installations import service as installations
from seecodes.installations.repository import credit_balance
from seecodes.jira.execution.generator import SYSTEM_PROMPT
from seecodes.models import ExecutionTicket
from seecodes.telemetry.limiter import RateLimiter
from tests.support.app import runtime_of
from tests.support.fake_openai import Fail, FakeOpenAI, write_models_file
from tests.support.forge import INSTALLATION_A, JiraAppClient

RUN_MODEL = "fake-runner"  # what the run engine calls (the catalog's default)
TICKET_MODEL = "fake-planner"  # what drafts tickets (SEECODES_JIRA_TICKET_MODEL)
PROSE = (
    "We need to harden the OAuth callback before the release: validate the state, and rotate the "
    "refresh tokens under a lock. Someone should also write the migration notes."
)
DRAFTED = {
    "tickets": [
        {
            "title": "Validate the OAuth callback state",
            "description": "Refuse expired and replayed states.",
            "priority": "P0",
            "labels": ["auth", "Security Review"],
        },
        {"title": "Write the migration notes", "description": "", "priority": None, "labels": []},
    ]
}


@pytest.fixture
def settings_overrides(
    settings_overrides: dict[str, Any], tmp_path: Path, fake_openai_server: FakeOpenAI
) -> dict[str, Any]:
    models = write_models_file(
        tmp_path / "models.toml",
        fake_openai_server.base_url,
        {"strict light": RUN_MODEL, "planner": TICKET_MODEL},
    )
    return {
        **settings_overrides,
        "models_file": models,
        "jira_ticket_model": "planner",
        "provider_max_retries": 0,
        "run_timeout_seconds": 20,
    }


@pytest.fixture
async def funded(installed: JiraAppClient, app: FastAPI) -> int:
    """Drafting is paid for (the installation holds credits) and runs on the engine, in this process."""
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        await installations.grant_credits(session, runtime.clock, installation_id=INSTALLATION_A, amount=1000)
    await runtime.start(execute_runs=True)  # stopped by the app fixture
    return 1000


async def _balance(app: FastAPI) -> int:
    async with runtime_of(app).db.transaction() as session:
        return await credit_balance(session, INSTALLATION_A)


async def _ticket_count(app: FastAPI) -> int:
    async with runtime_of(app).db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(ExecutionTicket)) or 0)


async def test_prose_is_drafted_by_the_configured_model_over_http(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, funded: int
) -> None:
    fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED), chunk_chars=5)

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "ai"
    assert [(t["title"], t["priority"], t["labels"]) for t in body["tickets"]] == [
        ("Validate the OAuth callback state", "P0", ["auth", "Security-Review"]),
        ("Write the migration notes", None, []),
    ]
    assert await _ticket_count(app) == 2
    (sent,) = fake_openai.requests_for(TICKET_MODEL)
    assert sent.content("system") == SYSTEM_PROMPT
    assert sent.content("user").endswith(PROSE)
    assert fake_openai.requests_for(RUN_MODEL) == []


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ("Sure! Here are your tickets: 1. Validate the state 2. Rotate tokens", "not JSON"),
        ('{"tickets": [{"title": "Validate', "not JSON"),  # cut off mid-answer
        ('{"tickets": [{"title": "Validate", "priority": "urgent"}]}', "not in the required shape"),
        ('{"tickets": []}', "not in the required shape"),
    ],
)
async def test_an_answer_that_does_not_validate_is_a_clear_error_and_stores_nothing(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, answer: str, detail: str, funded: int
) -> None:
    fake_openai.reply(TICKET_MODEL, answer)

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})

    assert response.status_code == 502
    body = response.json()
    assert body["ok"] is False
    assert body["error"] == "ticket_generation_failed"
    assert detail in body["detail"]
    assert "nothing was stored" in body["detail"]
    assert await _ticket_count(app) == 0


async def test_a_failing_model_is_a_clear_error_and_stores_nothing(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, funded: int
) -> None:
    fake_openai.script(TICKET_MODEL, Fail(500, message="the planner is down"))

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})

    assert response.status_code == 502
    assert response.json()["error"] == "ticket_generation_failed"
    assert response.json()["detail"].startswith("The model failed")
    assert await _ticket_count(app) == 0
    assert await _balance(app) == funded  # the reservation was released


async def test_drafting_is_charged_like_a_run_with_a_usage_row_of_its_own(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, funded: int
) -> None:
    fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED), prompt_tokens=300, completion_tokens=100)

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})
    usage = (await installed.call("GET", "/v1/jira/usage")).json()

    assert response.status_code == 200, response.text
    cost = math.ceil(10 + 0.001 * (300 + 100))
    assert await _balance(app) == funded - cost
    (row,) = usage["items"]
    assert (row["type"], row["credits"], row["model"]) == ("ticket_draft", cost, "planner")
    assert (row["inputTokens"], row["outputTokens"]) == (300, 100)
    assert usage["availableCredits"] == funded - cost


async def test_drafting_runs_on_the_drafting_models_run_queue(
    installed: JiraAppClient, fake_openai: FakeOpenAI, funded: int
) -> None:
    fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED))

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})
    status = await DBOS.get_workflow_status_async(response.json()["batchId"])

    assert response.status_code == 200, response.text
    assert status is not None
    # Shares the model's concurrency limit with its runs, in a partition of its installation's own.
    assert status.queue_name == "runs:planner:by-installation"
    assert status.queue_partition_key == f"{INSTALLATION_A}#drafting"
    assert status.status == "SUCCESS"


async def test_a_draft_slower_than_the_wait_lands_in_its_batch_later(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, funded: int
) -> None:
    fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED), first_delay=1.5)
    runtime = runtime_of(app)
    runtime.settings = runtime.settings.model_copy(update={"jira_draft_wait_seconds": 0.3})

    answered = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})
    batch = answered.json()["batchId"]
    listed: list[Any] = []
    for _ in range(100):
        listed = (await installed.call("GET", f"/v1/execution/tickets?batchId={batch}")).json()["tickets"]
        if listed:
            break
        await asyncio.sleep(0.1)

    assert answered.status_code == 200, answered.text
    assert answered.json()["pending"] is True
    assert answered.json()["tickets"] == []
    assert [ticket["title"] for ticket in listed] == [ticket["title"] for ticket in DRAFTED["tickets"]]
    assert await _balance(app) < funded  # settled by the workflow, after the request had answered


async def test_drafting_without_the_credits_is_402_and_reaches_no_model(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI
) -> None:
    fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED))

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE})

    assert response.status_code == 402
    assert response.json()["error"] == "insufficient_credits"
    assert fake_openai.requests_for(TICKET_MODEL) == []
    assert await _ticket_count(app) == 0


async def test_drafting_is_rate_limited_per_installation(
    installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI, funded: int
) -> None:
    runtime_of(app).ticket_draft_limiter = RateLimiter("2/minute", namespace="ticket-drafts-test")
    for _ in range(3):
        fake_openai.reply(TICKET_MODEL, json.dumps(DRAFTED))

    answers = [
        await installed.call("POST", "/v1/execution/generate", json={"markdown": PROSE}) for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"]
    assert len(fake_openai.requests_for(TICKET_MODEL)) == 2


async def _settle(client: httpx.AsyncClient, permit: str, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        polled = await client.get(f"/v1/tasks/{run_id}", headers={"Authorization": f"Bearer {permit}"})
        status: dict[str, Any] = polled.json()["status"]
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never settled")


async def test_a_prose_run_output_executed_by_the_engine_is_drafted_into_tickets(
    client: httpx.AsyncClient, installed: JiraAppClient, fake_openai: FakeOpenAI, app: FastAPI
) -> None:
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        await installations.grant_credits(session, runtime.clock, installation_id=INSTALLATION_A, amount=1000)
    permit = await installed.permit(project="AUTH", task="AUTH-128")
    auth = {"Authorization": f"Bearer {permit}"}
    fake_openai.reply(RUN_MODEL, PROSE)
    fake_openai.reply(TICKET_MODEL, "```json\n" + json.dumps(DRAFTED) + "\n```")
    await runtime.start(execute_runs=True)
    try:
        created = (await client.post("/v1/tasks/init", headers=auth, json={"files": ["plan.md"]})).json()
        upload = created["uploads"]["plan.md"].removeprefix("https://seecodes.example.com")
        await client.put(upload, content=b"Plan the OAuth hardening.")
        started = await client.post(
            f"/v1/tasks/{created['runId']}/start", headers=auth, json={"userPrompt": "plan the work"}
        )
        settled = await _settle(client, permit, created["runId"])

        response = await installed.call("POST", "/v1/execution/generate", json={"runId": created["runId"]})
    finally:
        await runtime.engine.stop()

    assert started.status_code == 200, started.text
    assert settled["status"] == "succeeded"
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "ai"
    assert [t["title"] for t in body["tickets"]] == [
        "Validate the OAuth callback state",
        "Write the migration notes",
    ]
    assert {t["runId"] for t in body["tickets"]} == {created["runId"]}
    (drafting,) = fake_openai.requests_for(TICKET_MODEL)
    assert drafting.content("user").endswith(PROSE)  # the run's output, not its input
