"""Monthly credit budgets (issue 15 §1): the document, the stop before overspend, thresholds once."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seecodes.models import BudgetAlert, CreditLedgerEntry
from seecodes.runs import repository as runs_repository
from tests.support.app import runtime_of
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import INSTALLATION_A, JiraAppClient
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
    return await task_permit(jira)  # project AUTH


async def _put(jira: JiraAppClient, document: dict[str, Any]) -> httpx.Response:
    return await jira.call("PUT", "/v1/jira/budgets", json=document)


async def _start(client: httpx.AsyncClient, permit: str) -> httpx.Response:
    run = await init_and_upload(client, permit)
    return await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})


async def _reservations(app: FastAPI) -> int:
    async with runtime_of(app).db.transaction() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(CreditLedgerEntry).where(CreditLedgerEntry.kind == "reserve")
            )
            or 0
        )


async def test_an_installation_without_budgets_reads_the_defaults(jira: JiraAppClient) -> None:
    answer = await jira.call("GET", "/v1/jira/budgets")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    month = body["month"]
    assert re.fullmatch(r"\d{4}-\d{2}", month)
    assert body == {
        "ok": True,
        "month": month,
        "monthlyCredits": None,
        "mode": "alert",
        "alertThresholds": [80, 100],
        "projects": {},
        "approvalThreshold": None,
        "spent": 0,
        "reserved": 0,
        "remaining": None,
        "thresholdsCrossed": [],
    }


async def test_put_replaces_the_whole_document_and_projects_inherit_the_thresholds(
    jira: JiraAppClient,
) -> None:
    await _put(jira, {"monthlyCredits": 5000, "projects": {"OPS": {"monthlyCredits": 10}}})

    answer = await _put(
        jira,
        {
            "monthlyCredits": 5000,
            "mode": "stop",
            "alertThresholds": [100, 50],
            "projects": {"AUTH": {"monthlyCredits": 500, "mode": "stop"}},
            "approvalThreshold": None,
        },
    )
    read = await jira.call("GET", "/v1/jira/budgets")

    assert answer.status_code == 200, answer.text
    assert read.json() == answer.json()
    body = read.json()
    assert (body["monthlyCredits"], body["mode"], body["alertThresholds"]) == (5000, "stop", [50, 100])
    assert list(body["projects"]) == ["AUTH"]  # OPS was left out, so it has no budget any more
    assert body["projects"]["AUTH"] == {
        "monthlyCredits": 500,
        "mode": "stop",
        "alertThresholds": [50, 100],
        "spent": 0,
        "reserved": 0,
        "remaining": 500,
        "thresholdsCrossed": [],
    }


@pytest.mark.parametrize(
    "document",
    [
        {"alertThresholds": [80, 80]},
        {"alertThresholds": [0]},
        {"monthlyCredits": -1},
        {"monthlyCredits": "100"},
        {"mode": "warn"},
        {"projects": {"bad key!": {"monthlyCredits": 1}}},
        {"projects": {"AUTH": {"mode": "stop"}}},
        {"monthlyCredit": 100},
        {"approvalThreshold": -1},
    ],
)
async def test_a_bad_budget_document_is_refused_and_changes_nothing(
    jira: JiraAppClient, document: dict[str, Any]
) -> None:
    await _put(jira, {"monthlyCredits": 70})

    refused = await _put(jira, document)

    assert refused.status_code == 422, refused.text
    assert refused.json()["ok"] is False
    assert (await jira.call("GET", "/v1/jira/budgets")).json()["monthlyCredits"] == 70


async def test_a_stop_budget_refuses_the_start_that_would_pass_it_and_reserves_nothing(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    first = await _start(client, permit)
    cost = first.json()["estimatedCredits"]
    await _put(jira, {"projects": {"AUTH": {"monthlyCredits": 2 * cost - 1, "mode": "stop"}}})
    balance_before = await balance(app)

    refused = await _start(client, permit)

    assert refused.status_code == 402, refused.text
    body = refused.json()
    assert body["error"] == "budget_exceeded"
    assert (body["budgetScope"], body["projectId"]) == ("project", "AUTH")
    assert (
        body["monthlyCredits"],
        body["spentCredits"],
        body["reservedCredits"],
        body["requiredCredits"],
    ) == (
        2 * cost - 1,
        0,
        cost,
        cost,
    )
    assert "AUTH" in body["detail"]
    assert await balance(app) == balance_before
    assert await _reservations(app) == 1
    document = (await jira.call("GET", "/v1/jira/budgets")).json()
    assert document["projects"]["AUTH"]["reserved"] == cost
    assert document["projects"]["AUTH"]["remaining"] == cost - 1


async def test_an_alert_budget_lets_runs_pass_it(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    await _put(jira, {"monthlyCredits": 1, "mode": "alert"})

    started = [await _start(client, permit) for _ in range(2)]

    assert [answer.status_code for answer in started] == [200, 200]


async def test_the_installation_budget_counts_every_project(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str
) -> None:
    await grant(app, 1000)
    cost = (await _start(client, permit)).json()["estimatedCredits"]
    await _put(
        jira, {"monthlyCredits": 2 * cost, "mode": "stop", "projects": {"AUTH": {"monthlyCredits": 10**6}}}
    )
    other_project = await jira.permit(project="OPS", task="OPS-1")

    second = await _start(client, other_project)
    third = await _start(client, permit)

    assert second.status_code == 200, second.text
    assert third.status_code == 402
    assert (third.json()["budgetScope"], third.json()["projectId"]) == ("installation", None)


async def test_spent_counts_this_month_only(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient
) -> None:
    await _put(jira, {"monthlyCredits": 100, "projects": {"AUTH": {"monthlyCredits": 50}}})
    runtime = runtime_of(app)
    now = runtime.clock.utcnow()
    last_month = now.replace(day=1) - timedelta(days=1)
    async with runtime.db.transaction() as session:
        for moment, credits in ((last_month, 400), (now, 30)):
            await runs_repository.add_usage_row(
                session,
                installation_id=INSTALLATION_A,
                reference=f"ref-{credits}",
                project_id="AUTH",
                task_id="AUTH-1",
                kind="task_run",
                model="strict light",
                input_tokens=1,
                output_tokens=1,
                credits=credits,
                now=moment,
            )

    document = (await jira.call("GET", "/v1/jira/budgets")).json()

    assert (document["spent"], document["remaining"]) == (30, 70)
    assert (document["projects"]["AUTH"]["spent"], document["projects"]["AUTH"]["remaining"]) == (30, 20)


async def test_settlements_cross_each_threshold_once_and_usage_lists_the_budgets(
    client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient, permit: str, fake_openai: FakeOpenAI
) -> None:
    await start_engine(app)
    for _ in range(3):
        fake_openai.script("fake-light", Reply("done", prompt_tokens=10, completion_tokens=10))
    await grant(app, 1000)
    # Each run is charged 11 (10 + 0.001 × 20, rounded up): 50 % of 30 after two, 100 % after three.
    await _put(
        jira,
        {"monthlyCredits": 30, "alertThresholds": [50, 100], "projects": {"AUTH": {"monthlyCredits": 1000}}},
    )

    for expected in ([], [50], [50, 100]):
        started = await _start(client, permit)
        assert (await settle(client, permit, started.json()["runId"]))["status"] == "succeeded"
        crossed = (await jira.call("GET", "/v1/jira/budgets")).json()["thresholdsCrossed"]
        if expected:
            assert crossed == expected

    usage = (await jira.call("GET", "/v1/jira/usage")).json()

    assert crossed == [50, 100]
    installation, project = usage["budgets"]
    assert installation == {
        "scope": "installation",
        "projectId": None,
        "month": usage["budgets"][0]["month"],
        "monthlyCredits": 30,
        "mode": "alert",
        "spent": 33,
        "reserved": 0,
        "remaining": 0,
        "thresholdsCrossed": [50, 100],
    }
    assert (project["scope"], project["projectId"], project["spent"], project["thresholdsCrossed"]) == (
        "project",
        "AUTH",
        33,
        [],
    )
    async with runtime_of(app).db.transaction() as session:
        alerts = (await session.execute(select(BudgetAlert))).scalars().all()
    assert sorted((alert.project_id, alert.threshold) for alert in alerts) == [("", 50), ("", 100)]
