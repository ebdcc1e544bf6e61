"""Installation metrics the Jira App reports: validated, kept as a history, per installation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.installations import metrics
from seecodes.models import InstanceMetric
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import (
    CLOUD_A,
    CLOUD_B,
    INSTALLATION_A,
    INSTALLATION_B,
    NEXT_KEY_HEADER,
    SITE_B,
    JiraAppClient,
)

URL = "/v1/jira/instance-metrics"
REPORT = {"installedUsersCount": 17, "source": "forge-hourly-sync"}


async def _rows(app: FastAPI) -> list[InstanceMetric]:
    async with runtime_of(app).db.transaction() as session:
        return list((await session.execute(select(InstanceMetric).order_by(InstanceMetric.id))).scalars())


async def test_contract_example_is_stored_with_a_timestamp(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    response = await jira.call("POST", URL, json=REPORT)

    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    assert response.headers[NEXT_KEY_HEADER]
    [row] = await _rows(app)
    assert (row.installation_id, row.installed_users_count, row.source) == (
        INSTALLATION_A,
        17,
        "forge-hourly-sync",
    )
    assert row.created_at == clock.utcnow()


async def test_every_report_is_kept_and_the_newest_is_current(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    await jira.call("POST", URL, json=REPORT)
    clock.advance(60)
    await jira.call("POST", URL, json={"installedUsersCount": 21, "source": "forge-hourly-sync"})

    async with runtime_of(app).db.transaction() as session:
        newest = await metrics.history(session, INSTALLATION_A)
        everything = await metrics.history(session, INSTALLATION_A, limit=10)

    assert [m.installed_users_count for m in newest] == [21]
    assert [m.installed_users_count for m in everything] == [21, 17]


async def test_reports_are_kept_per_installation(
    client: httpx.AsyncClient, forge: Any, jira: JiraAppClient, app: FastAPI
) -> None:
    other = JiraAppClient(
        client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B, "site_url": SITE_B}
    )

    await jira.call("POST", URL, json=REPORT)
    await other.call("POST", URL, json={"installedUsersCount": 5, "source": "forge-hourly-sync"})

    async with runtime_of(app).db.transaction() as session:
        assert [m.installed_users_count for m in await metrics.history(session, INSTALLATION_A)] == [17]
        assert [m.installed_users_count for m in await metrics.history(session, INSTALLATION_B)] == [5]


async def test_matching_hints_are_accepted(jira: JiraAppClient) -> None:
    response = await jira.call(
        "POST", URL, json={**REPORT, "cloudIdHint": CLOUD_A, "siteUrlHint": "https://tenant-a.atlassian.net/"}
    )

    assert response.status_code == 200


async def test_a_hint_naming_another_site_is_403(jira: JiraAppClient, app: FastAPI) -> None:
    response = await jira.call("POST", URL, json={**REPORT, "cloudIdHint": CLOUD_B})

    assert response.status_code == 403
    assert response.json()["error"] == "hint_mismatch"
    assert await _rows(app) == []


async def test_report_without_request_key_is_refused(
    client: httpx.AsyncClient, jira: JiraAppClient, app: FastAPI
) -> None:
    response = await client.post(URL, json=REPORT, headers={"Authorization": f"Bearer {jira.fit()}"})

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_missing"
    assert await _rows(app) == []


async def test_report_without_forge_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=REPORT)

    assert response.status_code == 401
    assert response.json()["ok"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"installedUsersCount": "17", "source": "forge-hourly-sync"},
        {"installedUsersCount": 17.5, "source": "forge-hourly-sync"},
        {"installedUsersCount": True, "source": "forge-hourly-sync"},
        {"installedUsersCount": -1, "source": "forge-hourly-sync"},
        {"installedUsersCount": 10_000_001, "source": "forge-hourly-sync"},
        {"installedUsersCount": 17, "source": ""},
        {"installedUsersCount": 17, "source": "s" * 65},
        {"installedUsersCount": 17, "source": "has space"},
        {"installedUsersCount": 17, "source": 5},
        {"installedUsersCount": 17},
        {"source": "forge-hourly-sync"},
        {**REPORT, "extra": 1},
        [REPORT],
    ],
)
async def test_invalid_report_is_422_and_keeps_the_key_chain(
    jira: JiraAppClient, app: FastAPI, body: Any
) -> None:
    response = await jira.call("POST", URL, json=body)
    after = await jira.call("POST", URL, json=REPORT)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"]
    assert after.status_code == 200
    assert len(await _rows(app)) == 1
