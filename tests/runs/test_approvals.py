"""The approval gate (issue 15 §2) and the Jira App's own view of its runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import CreditLedgerEntry
from seecodes.runs import approvals
from seecodes.runs import repository as runs_repository
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import CLOUD_B, INSTALLATION_B, FakeForge, JiraAppClient
from tests.support.runs import (
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
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)  # AUTH / AUTH-128


async def _gate(jira: JiraAppClient, threshold: int | None) -> None:
    answer = await jira.call("PUT", "/v1/jira/budgets", json={"approvalThreshold": threshold})
    assert answer.status_code == 200, answer.text


async def _start(client: httpx.AsyncClient, permit: str) -> httpx.Response:
    run = await init_and_upload(client, permit)
    return await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})


async def _ledger(app: FastAPI) -> list[tuple[str, int]]:
    async with runtime_of(app).db.transaction() as session:
        rows = (
            (await session.execute(select(CreditLedgerEntry).order_by(CreditLedgerEntry.id))).scalars().all()
        )
    return [(row.kind, row.delta) for row in rows if row.kind != "grant"]


async def _status(client: httpx.AsyncClient, permit: str, run_id: str) -> dict[str, Any]:
    status: dict[str, Any] = (await client.get(f"/v1/tasks/{run_id}", headers=auth(permit))).json()["status"]
    return status


async def test_a_start_at_the_threshold_waits_for_approval_and_reserves_nothing(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    await _gate(jira, 0)  # every run's estimate reaches it

    started = await _start(client, permit)
    pending = (await jira.call("GET", "/v1/jira/approvals")).json()

    assert started.status_code == 200, started.text
    assert started.json()["status"] == "awaiting_approval"
    assert started.json()["estimatedCredits"] > 0
    assert await _ledger(app) == []
    assert await balance(app) == 1000
    (item,) = pending["items"]
    assert (item["runId"], item["projectId"], item["taskId"]) == (started.json()["runId"], "AUTH", "AUTH-128")
    assert item["estimatedCredits"] == started.json()["estimatedCredits"]
    assert item["expiresAt"] > item["requestedAt"]
    assert (await _status(client, permit, item["runId"]))["status"] == "awaiting_approval"


async def test_a_start_below_the_threshold_queues_as_before(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    await _gate(jira, 10**9)

    started = await _start(client, permit)

    assert started.json()["status"] == "queued"
    assert (await jira.call("GET", "/v1/jira/approvals")).json()["items"] == []


async def test_an_approved_run_reserves_queues_and_runs(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str, fake_openai: FakeOpenAI
) -> None:
    await start_engine(app)
    fake_openai.script("fake-light", Reply("approved output"))
    await grant(app, 1000)
    await _gate(jira, 0)
    run_id = (await _start(client, permit)).json()["runId"]

    decided = await jira.call(
        "POST", f"/v1/jira/approvals/{run_id}", json={"decision": "approved", "reason": "ok"}
    )
    settled = await settle(client, permit, run_id)
    logs = (await client.get(f"/v1/tasks/{run_id}/logs", headers=auth(permit))).text

    assert decided.status_code == 200, decided.text
    assert decided.json() == {"ok": True, "runId": run_id, "status": "queued"}
    assert settled["status"] == "succeeded"
    assert [kind for kind, _ in await _ledger(app)] == ["reserve", "settle"]
    assert "approved by Jira user" in logs


async def test_an_approval_the_credits_no_longer_cover_is_402_and_the_run_keeps_waiting(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    cost = (await _start(client, permit)).json()["estimatedCredits"]  # queued: holds `cost`
    await _gate(jira, 0)
    waiting = (await _start(client, permit)).json()["runId"]
    await _gate(jira, None)
    await jira.call("PUT", "/v1/jira/budgets", json={"monthlyCredits": cost, "mode": "stop"})

    refused = await jira.call("POST", f"/v1/jira/approvals/{waiting}", json={"decision": "approved"})
    status = await _status(client, permit, waiting)
    await jira.call("PUT", "/v1/jira/budgets", json={})
    approved = await jira.call("POST", f"/v1/jira/approvals/{waiting}", json={"decision": "approved"})

    assert refused.status_code == 402, refused.text
    assert refused.json()["error"] == "budget_exceeded"
    assert status["status"] == "awaiting_approval"
    assert approved.json()["status"] == "queued"
    assert [kind for kind, _ in await _ledger(app)] == ["reserve", "reserve"]


async def test_a_rejected_run_settles_with_the_reason_and_moves_no_credit(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    await _gate(jira, 0)
    run_id = (await _start(client, permit)).json()["runId"]

    rejected = await jira.call(
        "POST", f"/v1/jira/approvals/{run_id}", json={"decision": "rejected", "reason": "too large"}
    )
    again = await jira.call("POST", f"/v1/jira/approvals/{run_id}", json={"decision": "approved"})
    status = await _status(client, permit, run_id)

    assert rejected.json() == {"ok": True, "runId": run_id, "status": "rejected"}
    assert again.status_code == 409
    assert again.json()["error"] == "run_not_awaiting_approval"
    assert status["status"] == "rejected"
    assert "too large" in status["error"]
    assert await _ledger(app) == []
    assert await balance(app) == 1000


async def test_a_run_cancelled_while_awaiting_approval_gives_back_nothing_it_never_held(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    await _gate(jira, 0)
    run_id = (await _start(client, permit)).json()["runId"]

    cancelled = await client.post(f"/v1/tasks/{run_id}/cancel", headers=auth(permit))

    assert cancelled.json()["status"] == "cancelled"
    assert await _ledger(app) == []
    assert await balance(app) == 1000


async def test_an_undecided_run_is_rejected_once_its_approval_expires(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    runtime = runtime_of(app)
    assert isinstance(runtime.clock, FixedClock)
    await grant(app, 1000)
    await _gate(jira, 0)
    run_id = (await _start(client, permit)).json()["runId"]

    early = await approvals.expire(runtime.db, runtime.clock, expire_hours=24)
    runtime.clock.advance(24 * 3600 + 1)
    expired = await approvals.expire(runtime.db, runtime.clock, expire_hours=24)

    assert (early, expired) == (0, 1)
    async with runtime.db.transaction() as session:  # the permit has expired with the day
        run = await runs_repository.get(session, run_id)
    assert run is not None
    assert run.status == "rejected"
    assert run.error is not None
    assert "approval expired" in run.error


async def test_the_jira_app_decides_and_cancels_only_its_own_installations_runs(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str, forge: FakeForge
) -> None:
    await grant(app, 1000)
    await _gate(jira, 0)
    run_id = (await _start(client, permit)).json()["runId"]
    other = JiraAppClient(client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B})

    decided = await other.call("POST", f"/v1/jira/approvals/{run_id}", json={"decision": "approved"})
    cancelled = await other.call("POST", f"/v1/jira/runs/{run_id}/cancel")
    listed = (await other.call("GET", "/v1/jira/runs")).json()

    assert (decided.status_code, cancelled.status_code) == (404, 404)
    assert listed["items"] == []
    assert (await _status(client, permit, run_id))["status"] == "awaiting_approval"


async def test_the_jira_app_lists_an_issues_runs_and_stops_one(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    first = (await _start(client, permit)).json()["runId"]
    other_task = await jira.permit(project="AUTH", task="AUTH-129")
    second = (await _start(client, other_task)).json()["runId"]

    issue = (
        await jira.call("GET", "/v1/jira/runs", params={"projectId": "AUTH", "taskId": "AUTH-128"})
    ).json()
    everything = (await jira.call("GET", "/v1/jira/runs", params={"limit": 1})).json()
    stopped = await jira.call("POST", f"/v1/jira/runs/{first}/cancel")
    again = await jira.call("POST", f"/v1/jira/runs/{first}/cancel")
    task_alone = await jira.call("GET", "/v1/jira/runs", params={"taskId": "AUTH-128"})

    assert [item["runId"] for item in issue["items"]] == [first]
    assert everything["nextCursor"]
    page_two = (
        await jira.call("GET", "/v1/jira/runs", params={"limit": 1, "cursor": everything["nextCursor"]})
    ).json()
    # The fixed clock created both at the same instant: the id breaks the tie, so either comes first.
    assert {everything["items"][0]["runId"], page_two["items"][0]["runId"]} == {first, second}
    assert page_two["nextCursor"] is None
    assert stopped.json() == {"ok": True, "runId": first, "status": "cancelled"}
    assert again.status_code == 409
    assert task_alone.status_code == 422
    logs = (await client.get(f"/v1/tasks/{first}/logs", headers=auth(permit))).text
    assert "cancelled by Jira user" in logs
    assert [kind for kind, _ in await _ledger(app)].count("release") == 1
