"""Progress documents: written by the IDE with its permit, read by the IDE or the Jira App."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seecodes.models import ProgressReport
from seecodes.tasks.service import prune_progress_versions
from tests.support.app import runtime_of
from tests.support.forge import CLOUD_A, CLOUD_B, INSTALLATION_B, JiraAppClient

DOCUMENT = {
    "ready": ["Protected-route wrapper is live"],
    "left": ["Callback validation still needs coverage"],
    "progress": "67%",
    "confidence": "Medium",
    "risks": ["Identity provider payload may still change"],
    "logs": ["Recent activity summary line"],
}


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await jira.permit(project="AUTH", task="AUTH-128")


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def test_saved_progress_reads_back_with_updated_at(client: httpx.AsyncClient, permit: str) -> None:
    saved = await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=DOCUMENT)
    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert saved.status_code == 200
    assert saved.json() == {"ok": True}
    progress = read.json()["progress"]
    assert read.json()["ok"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", progress.pop("updatedAt"))
    assert progress == DOCUMENT


async def test_every_post_is_kept_and_the_newest_is_served(
    client: httpx.AsyncClient, permit: str, app: FastAPI
) -> None:
    await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=DOCUMENT)
    await client.post(
        "/v1/tasks/AUTH-128/progress", headers=_auth(permit), json={**DOCUMENT, "progress": "80%"}
    )

    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert read.json()["progress"]["progress"] == "80%"
    async with runtime_of(app).db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProgressReport)) == 2


async def test_jira_app_reads_progress_with_fit_and_request_key(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient
) -> None:
    await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=DOCUMENT)

    read = await jira.call(
        "GET", "/v1/tasks/AUTH-128/progress", params={"projectId": "AUTH", "cloudIdHint": CLOUD_A}
    )

    assert read.status_code == 200
    assert read.json()["progress"]["ready"] == DOCUMENT["ready"]


async def test_another_installation_cannot_read_the_progress(
    client: httpx.AsyncClient, permit: str, forge: object
) -> None:
    await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=DOCUMENT)
    other = JiraAppClient(client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B})  # type: ignore[arg-type]

    read = await other.call("GET", "/v1/tasks/AUTH-128/progress", params={"projectId": "AUTH"})

    assert read.status_code == 200
    assert read.json() == {"ok": True, "progress": None}


async def test_progress_before_any_report_is_null(client: httpx.AsyncClient, permit: str) -> None:
    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert read.json() == {"ok": True, "progress": None}


async def test_confidence_is_normalised_to_its_capitalised_form(
    client: httpx.AsyncClient, permit: str
) -> None:
    await client.post(
        "/v1/tasks/AUTH-128/progress", headers=_auth(permit), json={**DOCUMENT, "confidence": "high"}
    )

    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert read.json()["progress"]["confidence"] == "High"


@pytest.mark.parametrize(
    "change",
    [
        {"progress": "101%"},
        {"progress": "45"},
        {"progress": 45},
        {"confidence": "Certain"},
        {"ready": "not a list"},
        {"ready": ["x"] * 201},
        {"risks": ["x" * 2001]},
        {"unknownField": True},
    ],
)
async def test_invalid_progress_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, permit: str, change: dict[str, object]
) -> None:
    response = await client.post(
        "/v1/tasks/AUTH-128/progress", headers=_auth(permit), json={**DOCUMENT, **change}
    )
    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert response.status_code == 422
    assert response.json()["ok"] is False
    assert response.json()["fields"]
    assert read.json()["progress"] is None


async def test_versions_beyond_the_newest_ones_kept_are_pruned_and_the_newest_stays(
    client: httpx.AsyncClient, permit: str, app: FastAPI, jira: JiraAppClient
) -> None:
    other = await jira.permit(project="AUTH", task="AUTH-7")
    for percent in range(10, 60, 10):
        await client.post(
            "/v1/tasks/AUTH-128/progress", headers=_auth(permit), json={**DOCUMENT, "progress": f"{percent}%"}
        )
    await client.post("/v1/tasks/AUTH-7/progress", headers=_auth(other), json=DOCUMENT)

    async with runtime_of(app).db.transaction() as session:
        pruned = await prune_progress_versions(session, keep=3)
    read = await client.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=_auth(permit))

    assert pruned == 2
    assert read.json()["progress"]["progress"] == "50%"
    async with runtime_of(app).db.transaction() as session:
        kept = (
            await session.execute(
                select(ProgressReport.task_id, func.count()).group_by(ProgressReport.task_id)
            )
        ).all()
    assert dict(kept) == {"AUTH-128": 3, "AUTH-7": 1}
