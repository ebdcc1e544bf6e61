"""Telemetry ingestion is off by default: 410 with the contract's sentence, for everyone."""

from __future__ import annotations

import httpx
import pytest

from tests.support.forge import CLOUD_A, JiraAppClient

URL = "/v1/jira/telemetry/events"
CONTRACT_SENTENCE = (
    "Direct VS Code telemetry ingestion is disabled until an authenticated sender contract with "
    "replay protection and rate limits is finalized."
)
BATCH = {
    "events": [
        {
            "eventType": "ai.usage",
            "cloudId": CLOUD_A,
            "requestId": "1f0d7e2e-0000-4000-8000-000000000001",
            "timestamp": "2026-04-04T12:34:56Z",
        }
    ]
}


def _assert_disabled(response: httpx.Response) -> None:
    assert response.status_code == 410
    assert response.json() == {
        "ok": False,
        "error": "telemetry_ingestion_disabled",
        "detail": CONTRACT_SENTENCE,
    }


async def test_disabled_route_answers_410_with_the_contract_sentence(client: httpx.AsyncClient) -> None:
    _assert_disabled(await client.post(URL, json=BATCH))


async def test_disabled_route_answers_410_to_a_permit_holder_too(
    client: httpx.AsyncClient, jira: JiraAppClient
) -> None:
    permit = await jira.permit()

    _assert_disabled(await client.post(URL, json=BATCH, headers={"Authorization": f"Bearer {permit}"}))


@pytest.mark.parametrize("body", [{}, {"events": "nope"}, {"events": [{}] * 500}])
async def test_disabled_route_answers_410_whatever_the_body(client: httpx.AsyncClient, body: object) -> None:
    _assert_disabled(await client.post(URL, json=body))
