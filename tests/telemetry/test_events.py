"""Telemetry ingestion when enabled: permit, replay protection, rate limit, bounded batches."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import TelemetryEvent
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import (
    CLOUD_A,
    CLOUD_B,
    INSTALLATION_A,
    INSTALLATION_B,
    SITE_B,
    USER_A,
    JiraAppClient,
)
from tests.support.tiers import tier_unavailable

URL = "/v1/jira/telemetry/events"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"telemetry_ingestion_enabled": True, "telemetry_rate_limit": "5/minute"}


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await jira.permit(project="AUTH", task="AUTH-128")


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


def _event(clock: FixedClock, request_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "eventType": "ai.usage",
        "cloudId": CLOUD_A,
        "requestId": request_id or str(uuid.uuid4()),
        "timestamp": (clock.utcnow() - timedelta(minutes=1)).isoformat(),
        **fields,
    }


async def _stored(app: FastAPI) -> list[TelemetryEvent]:
    async with runtime_of(app).db.transaction() as session:
        return list((await session.execute(select(TelemetryEvent).order_by(TelemetryEvent.id))).scalars())


async def test_events_are_stored_against_the_permit(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI
) -> None:
    events = [_event(clock, "req-1"), _event(clock, "req-2", eventType="editor.open")]

    response = await client.post(URL, headers=_auth(permit), json={"events": events})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "accepted": 2,
        "replayed": 0,
        "results": [
            {"requestId": "req-1", "status": "accepted"},
            {"requestId": "req-2", "status": "accepted"},
        ],
    }
    stored = await _stored(app)
    assert [(e.request_id, e.event_type) for e in stored] == [("req-1", "ai.usage"), ("req-2", "editor.open")]
    assert {(e.installation_id, e.project_id, e.task_id, e.user_account_id) for e in stored} == {
        (INSTALLATION_A, "AUTH", "AUTH-128", USER_A)
    }


async def test_the_installation_ari_is_accepted_as_cloud_id(
    client: httpx.AsyncClient, permit: str, clock: FixedClock
) -> None:
    response = await client.post(
        URL, headers=_auth(permit), json={"events": [_event(clock, cloudId=INSTALLATION_A)]}
    )

    assert response.json()["accepted"] == 1


async def test_a_replayed_request_id_is_refused_and_the_rest_of_the_batch_is_stored(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI
) -> None:
    await client.post(URL, headers=_auth(permit), json={"events": [_event(clock, "req-1")]})

    response = await client.post(
        URL, headers=_auth(permit), json={"events": [_event(clock, "req-1"), _event(clock, "req-2")]}
    )

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"requestId": "req-1", "status": "replayed"},
        {"requestId": "req-2", "status": "accepted"},
    ]
    assert (response.json()["accepted"], response.json()["replayed"]) == (1, 1)
    assert [e.request_id for e in await _stored(app)] == ["req-1", "req-2"]


async def test_a_request_id_repeated_inside_one_batch_is_stored_once(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI
) -> None:
    response = await client.post(
        URL, headers=_auth(permit), json={"events": [_event(clock, "req-1"), _event(clock, "req-1")]}
    )

    assert [r["status"] for r in response.json()["results"]] == ["accepted", "replayed"]
    assert len(await _stored(app)) == 1


async def test_replay_protection_spans_the_installations_permits(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient, clock: FixedClock
) -> None:
    other_task = await jira.permit(project="AUTH", task="AUTH-129")
    await client.post(URL, headers=_auth(permit), json={"events": [_event(clock, "req-1")]})

    response = await client.post(URL, headers=_auth(other_task), json={"events": [_event(clock, "req-1")]})

    assert response.json()["results"] == [{"requestId": "req-1", "status": "replayed"}]


async def test_another_installation_may_use_the_same_request_id(
    client: httpx.AsyncClient, permit: str, forge: Any, clock: FixedClock, app: FastAPI
) -> None:
    other = JiraAppClient(
        client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B, "site_url": SITE_B}
    )
    other_permit = await other.permit(project="AUTH", task="AUTH-128")
    await client.post(URL, headers=_auth(permit), json={"events": [_event(clock, "req-1")]})

    response = await client.post(
        URL, headers=_auth(other_permit), json={"events": [_event(clock, "req-1", cloudId=CLOUD_B)]}
    )

    assert response.json()["accepted"] == 1
    assert {e.installation_id for e in await _stored(app)} == {INSTALLATION_A, INSTALLATION_B}


async def test_an_event_for_another_site_refuses_the_whole_batch(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI
) -> None:
    response = await client.post(
        URL, headers=_auth(permit), json={"events": [_event(clock), _event(clock, cloudId=CLOUD_B)]}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "cloud_id_mismatch"
    assert await _stored(app) == []


async def test_events_without_a_permit_are_401(client: httpx.AsyncClient, clock: FixedClock) -> None:
    response = await client.post(URL, json={"events": [_event(clock)]})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_permit"


async def test_rate_limit_per_permit_answers_429_with_retry_after(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient, clock: FixedClock, app: FastAPI
) -> None:
    statuses = [
        (await client.post(URL, headers=_auth(permit), json={"events": [_event(clock)]})).status_code
        for _ in range(5)
    ]
    refused = await client.post(URL, headers=_auth(permit), json={"events": [_event(clock, "late")]})
    other_permit = await jira.permit(project="AUTH", task="AUTH-129")
    unaffected = await client.post(URL, headers=_auth(other_permit), json={"events": [_event(clock)]})

    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "late" not in {e.request_id for e in await _stored(app)}
    assert unaffected.status_code == 200


@pytest.mark.parametrize(
    "events",
    [
        [],
        "not a list",
        [{"eventType": "ai.usage"}],
        [
            {
                "eventType": "ai usage",
                "cloudId": CLOUD_A,
                "requestId": "r",
                "timestamp": "2026-11-01T00:00:00Z",
            }
        ],
        [
            {
                "eventType": "ai.usage",
                "cloudId": CLOUD_A,
                "requestId": "r" * 129,
                "timestamp": "2026-11-01T00:00:00Z",
            }
        ],
        [
            {
                "eventType": "ai.usage",
                "cloudId": CLOUD_A,
                "requestId": "r/1",
                "timestamp": "2026-11-01T00:00:00Z",
            }
        ],
        [{"eventType": "ai.usage", "cloudId": CLOUD_A, "requestId": "r", "timestamp": "not a time"}],
        [{"eventType": "ai.usage", "cloudId": CLOUD_A, "requestId": "r", "timestamp": "2026-11-01T00:00:00"}],
        [
            {
                "eventType": "ai.usage",
                "cloudId": "c" * 256,
                "requestId": "r",
                "timestamp": "2026-11-01T00:00:00Z",
            }
        ],
        [
            {
                "eventType": "ai.usage",
                "cloudId": CLOUD_A,
                "requestId": "r",
                "timestamp": "2026-11-01T00:00:00Z",
                "x": 1,
            }
        ],
    ],
)
async def test_malformed_batch_is_422(
    client: httpx.AsyncClient, permit: str, app: FastAPI, events: object
) -> None:
    response = await client.post(URL, headers=_auth(permit), json={"events": events})

    assert response.status_code == 422, response.text
    assert response.json()["fields"]
    assert await _stored(app) == []


async def test_oversized_batch_is_422(client: httpx.AsyncClient, permit: str, clock: FixedClock) -> None:
    response = await client.post(
        URL, headers=_auth(permit), json={"events": [_event(clock) for _ in range(101)]}
    )

    assert response.status_code == 422


@pytest.mark.parametrize("offset", [timedelta(days=-8), timedelta(minutes=10)])
async def test_events_too_old_or_from_the_future_are_422(
    client: httpx.AsyncClient, permit: str, clock: FixedClock, app: FastAPI, offset: timedelta
) -> None:
    event = _event(clock, timestamp=(clock.utcnow() + offset).isoformat())

    response = await client.post(URL, headers=_auth(permit), json={"events": [event]})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert await _stored(app) == []


async def test_accepted_events_feed_the_vscode_fallback(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient, clock: FixedClock
) -> None:
    await client.post(URL, headers=_auth(permit), json={"events": [_event(clock) for _ in range(3)]})

    board = await jira.call("GET", "/v1/jira/team-competition")

    assert board.status_code == 200, board.text
    assert board.json()["sourceSummary"]["vscodeFallbackItems"] == 3
    [task] = board.json()["taskSummaries"]
    assert (task["taskId"], task["source"], task["rawEffortUnits"]) == ("AUTH-128", "vscode_fallback", 12)


class TestRedisBackedRateLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        except redis.RedisError as error:
            tier_unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
        return {
            "telemetry_ingestion_enabled": True,
            "telemetry_rate_limit": "2/minute",
            "redis_url": REDIS_URL,
        }

    async def test_the_limit_is_counted_in_redis(
        self, client: httpx.AsyncClient, permit: str, clock: FixedClock, settings: Any
    ) -> None:
        statuses = [
            (await client.post(URL, headers=_auth(permit), json={"events": [_event(clock)]})).status_code
            for _ in range(3)
        ]
        keys = redis.Redis.from_url(REDIS_URL).keys("LIMITS*telemetry-events*")

        assert statuses == [200, 200, 429]
        assert keys, "the moving window lives in Redis, not in the process"


class TestUnreachableRedis:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"telemetry_ingestion_enabled": True, "redis_url": "redis://127.0.0.1:1/0"}

    async def test_rate_limit_store_outage_is_503_not_500(
        self, client: httpx.AsyncClient, permit: str, clock: FixedClock
    ) -> None:
        response = await client.post(URL, headers=_auth(permit), json={"events": [_event(clock)]})

        assert response.status_code == 503
        assert response.json()["error"] == "service_unavailable"
        assert response.headers["Retry-After"]
