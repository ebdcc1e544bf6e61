"""DESIGN.md §4 rules 2-5: single-use request keys in chains bound to installation + principal."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import JiraRequestKey
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import (
    CLOUD_B,
    INSTALLATION_B,
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    USER_B,
    FakeForge,
    JiraAppClient,
)


def _headers(forge: FakeForge, key: str, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {forge.fit(**claims)}", REQUEST_KEY_HEADER: key}  # type: ignore[arg-type]


async def test_bootstrap_returns_a_prefixed_key_valid_for_five_minutes(
    jira: JiraAppClient, clock: FixedClock
) -> None:
    response = await jira.bootstrap()

    body = response.json()
    assert body["ok"] is True
    assert body["requestKey"].startswith("sc_jira_req_")
    assert len(body["requestKey"]) >= len("sc_jira_req_") + 43  # 256 bits, url-safe base64
    assert body["expiresAt"] == int(clock.now()) + 300
    assert response.headers[NEXT_KEY_HEADER] == body["requestKey"]


async def test_each_use_returns_a_new_key_and_the_chain_keeps_working(jira: JiraAppClient) -> None:
    await jira.bootstrap()
    seen = {jira.request_key}

    for _ in range(5):
        response = await jira.call("GET", "/v1/instances/me")
        assert response.status_code == 200
        seen.add(jira.request_key)

    assert len(seen) == 6


async def test_missing_request_key_is_403_without_a_successor(
    client: httpx.AsyncClient, forge: FakeForge
) -> None:
    response = await client.get("/v1/instances/me", headers={"Authorization": f"Bearer {forge.fit()}"})

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_missing"
    assert NEXT_KEY_HEADER not in response.headers


async def test_unknown_request_key_is_403(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await client.get("/v1/instances/me", headers=_headers(forge, "sc_jira_req_" + "x" * 43))

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_invalid"


async def test_replayed_request_key_revokes_the_chain(
    jira: JiraAppClient, client: httpx.AsyncClient, forge: FakeForge
) -> None:
    await jira.bootstrap()
    spent = str(jira.request_key)
    assert (await jira.call("GET", "/v1/instances/me")).status_code == 200
    successor = str(jira.request_key)

    replay = await client.get("/v1/instances/me", headers=_headers(forge, spent))
    after = await client.get("/v1/instances/me", headers=_headers(forge, successor))

    assert replay.status_code == 403
    assert replay.json()["error"] == "request_key_replayed"
    assert after.status_code == 403  # the successor was revoked with its chain
    assert after.json()["error"] == "request_key_replayed"


async def test_replay_does_not_touch_other_chains(
    jira: JiraAppClient, client: httpx.AsyncClient, forge: FakeForge
) -> None:
    other_tab = JiraAppClient(client, forge)
    await other_tab.bootstrap()
    await jira.bootstrap()
    spent = str(jira.request_key)
    await jira.call("GET", "/v1/instances/me")

    await client.get("/v1/instances/me", headers=_headers(forge, spent))

    assert (await other_tab.call("GET", "/v1/instances/me")).status_code == 200


async def test_key_of_another_installation_is_refused(
    jira: JiraAppClient, client: httpx.AsyncClient, forge: FakeForge
) -> None:
    await jira.bootstrap()

    response = await client.get(
        "/v1/instances/me",
        headers=_headers(forge, str(jira.request_key), installation=INSTALLATION_B, cloud_id=CLOUD_B),
    )

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_mismatch"
    assert NEXT_KEY_HEADER not in response.headers
    # The key leaked outside its binding, so its own chain is revoked too.
    assert (await jira.call("GET", "/v1/instances/me")).status_code == 403


async def test_key_of_another_principal_is_refused(
    jira: JiraAppClient, client: httpx.AsyncClient, forge: FakeForge
) -> None:
    await jira.bootstrap()

    response = await client.get(
        "/v1/instances/me", headers=_headers(forge, str(jira.request_key), principal=USER_B)
    )

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_mismatch"


async def test_expired_request_key_is_refused(jira: JiraAppClient, clock: FixedClock) -> None:
    await jira.bootstrap()
    clock.advance(301)

    response = await jira.call("GET", "/v1/instances/me")

    assert response.status_code == 403
    assert response.json()["error"] == "request_key_expired"


async def test_key_just_inside_its_lifetime_is_accepted(jira: JiraAppClient, clock: FixedClock) -> None:
    await jira.bootstrap()
    clock.advance(299)

    assert (await jira.call("GET", "/v1/instances/me")).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "error"),
    [
        (
            "POST",
            "/v1/security/vscode-link",
            {"projectId": "AUTH", "taskId": "AUTH-1", "expirationDays": 99},
            422,
            "validation_error",
        ),
        (
            "POST",
            "/v1/security/task-permit",
            {"projectId": "AUTH", "taskId": "AUTH-1", "cloudIdHint": CLOUD_B},
            403,
            "hint_mismatch",
        ),
        (
            "POST",
            "/v1/security/task-permit",
            {"projectId": "AUTH", "taskId": "AUTH-1", "userAccountId": USER_B},
            403,
            "principal_mismatch",
        ),
        ("GET", "/v1/instances/me?siteUrlHint=https://elsewhere.atlassian.net", None, 403, "hint_mismatch"),
        ("GET", "/v1/tasks/AUTH-1/progress", None, 422, "validation_error"),  # projectId missing
    ],
)
async def test_error_after_a_successful_key_check_still_carries_the_successor(
    jira: JiraAppClient, method: str, url: str, body: dict[str, object] | None, status: int, error: str
) -> None:
    await jira.bootstrap()
    spent = jira.request_key

    response = await jira.call(method, url, json=body)

    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers[NEXT_KEY_HEADER] != spent
    assert (await jira.call("GET", "/v1/instances/me")).status_code == 200


async def test_request_keys_are_stored_only_as_hashes(jira: JiraAppClient, app: FastAPI) -> None:
    await jira.bootstrap()
    first = str(jira.request_key)
    await jira.call("GET", "/v1/instances/me")
    second = str(jira.request_key)

    async with runtime_of(app).db.transaction() as session:
        rows = (await session.execute(select(JiraRequestKey))).scalars().all()

    stored = {row.key_hash for row in rows}
    assert stored == {hashlib.sha256(first.encode()).hexdigest(), hashlib.sha256(second.encode()).hexdigest()}
    assert all(first not in str(vars(row)) and second not in str(vars(row)) for row in rows)
