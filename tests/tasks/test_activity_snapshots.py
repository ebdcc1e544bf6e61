"""Activity snapshots: stored against the permit's task and user, scored, stored once per window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seecodes.models import ActivityDaily, ActivitySnapshot
from seecodes.tasks.activity_repository import rebuild_daily
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import INSTALLATION_A, USER_A, JiraAppClient

URL = "/v1/tasks/activity-snapshot"
CONTRACT_EXAMPLE: dict[str, Any] = {
    "windowStartedAt": "2026-04-04T10:00:00.000Z",
    "windowEndedAt": "2026-04-04T10:15:00.000Z",
    "taskStartedAt": "2026-04-04T08:30:00.000Z",
    "taskAgeMinutes": 105,
    "humanActiveMs": 420000,
    "locAdded": 28,
    "locRemoved": 11,
    "locTotal": 39,
    "changedFiles": ["src/auth.ts", "src/routes.tsx"],
    "changedFilesCount": 2,
    "architectureChange": False,
    "logicChange": True,
    "specificationUiChange": False,
}


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await jira.permit(project="AUTH", task="AUTH-128")


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def _stored(app: FastAPI) -> list[ActivitySnapshot]:
    async with runtime_of(app).db.transaction() as session:
        return list((await session.execute(select(ActivitySnapshot))).scalars())


async def test_contract_example_is_stored_with_its_effort_units(
    client: httpx.AsyncClient, permit: str, app: FastAPI
) -> None:
    response = await client.post(URL, headers=_auth(permit), json=CONTRACT_EXAMPLE)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "stored": True,
        "timestamp": "2026-04-04T10:15:00.000000Z",
        "effortUnits": 40,
    }
    [row] = await _stored(app)
    assert (row.project_id, row.task_id, row.user_account_id) == ("AUTH", "AUTH-128", USER_A)
    assert row.window_started_at == datetime(2026, 4, 4, 10, 0, tzinfo=UTC)
    assert row.changed_files == ["src/auth.ts", "src/routes.tsx"]
    assert (row.loc_total, row.effort_units, row.logic_change) == (39, 40, True)


async def test_retried_snapshot_is_stored_once(client: httpx.AsyncClient, permit: str, app: FastAPI) -> None:
    first = await client.post(URL, headers=_auth(permit), json=CONTRACT_EXAMPLE)
    retry = await client.post(URL, headers=_auth(permit), json=CONTRACT_EXAMPLE)

    assert first.json()["stored"] is True
    assert retry.status_code == 200
    assert retry.json() == {**first.json(), "stored": False}
    assert len(await _stored(app)) == 1


async def test_retry_with_other_figures_keeps_the_first_snapshot(
    client: httpx.AsyncClient, permit: str, app: FastAPI
) -> None:
    await client.post(URL, headers=_auth(permit), json=CONTRACT_EXAMPLE)

    retry = await client.post(
        URL, headers=_auth(permit), json={**CONTRACT_EXAMPLE, "architectureChange": True}
    )

    assert retry.json()["stored"] is False
    assert retry.json()["effortUnits"] == 40
    [row] = await _stored(app)
    assert row.architecture_change is False


async def test_same_window_on_another_task_or_by_another_user_is_its_own_snapshot(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient, forge: Any, app: FastAPI
) -> None:
    other_task = await jira.permit(project="AUTH", task="AUTH-129")
    other_user = await JiraAppClient(client, forge, fit_claims={"principal": "557058:cccc-3333"}).permit(
        project="AUTH", task="AUTH-128"
    )

    responses = [
        await client.post(URL, headers=_auth(token), json=CONTRACT_EXAMPLE)
        for token in (permit, other_task, other_user)
    ]

    assert [r.json()["stored"] for r in responses] == [True, True, True]
    stored = {(row.task_id, row.user_account_id) for row in await _stored(app)}
    assert stored == {("AUTH-128", USER_A), ("AUTH-129", USER_A), ("AUTH-128", "557058:cccc-3333")}


async def test_a_body_that_names_the_permits_own_task_is_accepted(
    client: httpx.AsyncClient, permit: str
) -> None:
    response = await client.post(
        URL, headers=_auth(permit), json={**CONTRACT_EXAMPLE, "projectId": "AUTH", "taskId": "AUTH-128"}
    )

    assert response.status_code == 200
    assert response.json()["stored"] is True


@pytest.mark.parametrize("binding", [{"taskId": "AUTH-129"}, {"projectId": "OPS"}])
async def test_cross_task_write_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, permit: str, app: FastAPI, binding: dict[str, str]
) -> None:
    response = await client.post(URL, headers=_auth(permit), json={**CONTRACT_EXAMPLE, **binding})

    assert response.status_code == 403
    assert response.json()["error"] == "permit_scope_mismatch"
    assert await _stored(app) == []


async def test_snapshot_without_permit_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=CONTRACT_EXAMPLE)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_permit"


async def test_window_ending_in_the_future_is_422(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI
) -> None:
    now = clock.utcnow()
    window = {
        "windowStartedAt": (now + timedelta(minutes=1)).isoformat(),
        "windowEndedAt": (now + timedelta(minutes=16)).isoformat(),
    }

    response = await client.post(URL, headers=_auth(permit), json={**CONTRACT_EXAMPLE, **window})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert await _stored(app) == []


async def test_omitted_optional_fields_take_their_defaults(
    client: httpx.AsyncClient, permit: str, app: FastAPI
) -> None:
    minimal = {
        "windowStartedAt": "2026-04-04T10:00:00Z",
        "windowEndedAt": "2026-04-04T10:15:00Z",
        "humanActiveMs": 60000,
        "locAdded": 10,
        "locRemoved": 0,
        "changedFiles": ["a.py", "b.py", "a.py"],
    }

    response = await client.post(URL, headers=_auth(permit), json=minimal)

    # 1.8 + 1.8 + 2 distinct files × 3 = 9.6
    assert response.json()["effortUnits"] == 10
    [row] = await _stored(app)
    assert (row.loc_total, row.changed_files_count, row.architecture_change) == (10, 2, False)


@pytest.mark.parametrize(
    "change",
    [
        {"windowEndedAt": "2026-04-04T09:59:00.000Z"},  # ends before it starts
        {"windowEndedAt": "2026-04-04T10:00:00.000Z"},  # empty window
        {"windowEndedAt": "2026-04-04T16:00:01.000Z"},  # longer than 6 hours
        {"windowEndedAt": "2026-04-04T10:15:00"},  # no time zone
        {"windowStartedAt": "yesterday"},
        {"windowStartedAt": "1999-12-31T23:50:00Z", "windowEndedAt": "1999-12-31T23:59:00Z"},
        {"humanActiveMs": 900_001},  # more than the 15-minute window
        {"humanActiveMs": -1},
        {"locAdded": -5},
        {"locAdded": "28"},  # a string is not a count
        {"locAdded": 28.5},
        {"locRemoved": 1_000_001},
        {"locTotal": 40},  # not locAdded + locRemoved
        {"changedFiles": "src/auth.ts"},
        {"changedFiles": [f"src/{n}.ts" for n in range(501)]},
        {"changedFiles": ["x" * 1025]},
        {"changedFiles": ["src/a\nb.ts"]},
        {"changedFiles": [""]},
        {"changedFilesCount": 1},  # fewer than the two listed
        {"changedFilesCount": 100_001},
        {"architectureChange": "true"},
        {"logicChange": 1},
        {"taskStartedAt": "2026-04-04T10:16:00.000Z"},  # after the window
        {"taskAgeMinutes": -1},
        {"taskId": "AUTH 128"},
        {"unexpected": True},
    ],
)
async def test_invalid_snapshot_is_422_with_fields_and_nothing_is_stored(
    client: httpx.AsyncClient, permit: str, app: FastAPI, change: dict[str, object]
) -> None:
    response = await client.post(URL, headers=_auth(permit), json={**CONTRACT_EXAMPLE, **change})

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"] == "validation_error"
    assert body["fields"]
    assert await _stored(app) == []


@pytest.mark.parametrize("missing", ["windowStartedAt", "windowEndedAt", "humanActiveMs", "locAdded"])
async def test_missing_required_field_is_422(client: httpx.AsyncClient, permit: str, missing: str) -> None:
    body = {key: value for key, value in CONTRACT_EXAMPLE.items() if key != missing}

    response = await client.post(URL, headers=_auth(permit), json=body)

    assert response.status_code == 422
    assert ["body", missing] in [field["loc"] for field in response.json()["fields"]]


async def test_snapshot_count_is_one_after_concurrent_retries(
    client: httpx.AsyncClient, permit: str, app: FastAPI
) -> None:
    responses = await asyncio.gather(
        *(client.post(URL, headers=_auth(permit), json=CONTRACT_EXAMPLE) for _ in range(5))
    )

    assert sorted(r.json()["stored"] for r in responses) == [False, False, False, False, True]
    async with runtime_of(app).db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ActivitySnapshot)) == 1


async def _daily(app: FastAPI) -> list[tuple[Any, ...]]:
    async with runtime_of(app).db.transaction() as session:
        rows = await session.execute(
            select(ActivityDaily).order_by(
                ActivityDaily.task_id, ActivityDaily.user_account_id, ActivityDaily.day
            )
        )
        return [
            (
                d.task_id, d.user_account_id, d.day, d.snapshots, d.effort_units, d.human_active_ms,
                d.loc_changed, d.files_changed, d.architecture_changes, d.logic_changes,
                d.specification_ui_changes, d.first_started_at, d.last_ended_at,
            )
            for d in rows.scalars()
        ]  # fmt: skip


async def test_daily_sums_follow_every_stored_snapshot_and_equal_a_rebuild(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient, app: FastAPI
) -> None:
    other_task = await jira.permit(project="AUTH", task="AUTH-129")
    windows = [
        ("2026-04-04T10:00:00Z", "2026-04-04T10:15:00Z", {"architectureChange": True}),
        ("2026-04-04T23:50:00Z", "2026-04-05T00:05:00Z", {"logicChange": True}),  # counts on the 5th
        ("2026-04-04T09:00:00Z", "2026-04-04T09:15:00Z", {"specificationUiChange": True}),
    ]
    for started, ended, flags in windows:
        body = {**CONTRACT_EXAMPLE, "windowStartedAt": started, "windowEndedAt": ended, **flags}
        await client.post(URL, headers=_auth(permit), json=body)
        await client.post(URL, headers=_auth(permit), json=body)  # a retry adds nothing
    await client.post(URL, headers=_auth(other_task), json=CONTRACT_EXAMPLE)

    incremental = await _daily(app)
    async with runtime_of(app).db.transaction() as session:
        await rebuild_daily(session, INSTALLATION_A)
    rebuilt = await _daily(app)

    assert incremental == rebuilt
    by_day = {(row[0], str(row[2])): row for row in incremental}
    assert set(by_day) == {("AUTH-128", "2026-04-04"), ("AUTH-128", "2026-04-05"), ("AUTH-129", "2026-04-04")}
    fourth = by_day[("AUTH-128", "2026-04-04")]
    # 64 (arch + logic) + 50 (logic + UI) units; every window of the example is logic work.
    assert fourth[3:11] == (2, 114, 840_000, 78, 4, 1, 2, 1)
    assert (fourth[11], fourth[12]) == (
        datetime(2026, 4, 4, 9, 0, tzinfo=UTC),
        datetime(2026, 4, 4, 10, 15, tzinfo=UTC),
    )
