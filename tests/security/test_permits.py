"""DESIGN.md §4 rules 6 and 8: permits are bound to one task, revocable, expiring, and distinct."""

from __future__ import annotations

from dataclasses import replace

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import TaskPermit
from seecodes.security.permits import PermitCodec, revoke_permits
from tests.support.app import TEST_SECRET, runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import CLOUD_A, FakeForge, JiraAppClient

PROGRESS = {"ready": ["a"], "left": ["b"], "progress": "45%", "confidence": "Medium", "risks": [], "logs": []}


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def test_direct_permit_has_the_contract_shape(jira: JiraAppClient, clock: FixedClock) -> None:
    response = await jira.call(
        "POST", "/v1/security/task-permit", json={"projectId": "AUTH", "taskId": "AUTH-128"}
    )

    body = response.json()
    assert response.status_code == 200
    assert set(body) >= {"ok", "cloudId", "projectId", "taskId", "permit", "expiresAt"}
    assert body["cloudId"] == CLOUD_A
    assert body["expiresAt"] == int(clock.now()) + 86400
    header = jwt.get_unverified_header(body["permit"])
    assert header["typ"] == "sc-permit+jwt"


async def test_permit_for_another_task_is_403(jira: JiraAppClient, client: httpx.AsyncClient) -> None:
    permit = await jira.permit(task="AUTH-128")

    response = await client.post("/v1/tasks/AUTH-129/progress", headers=_auth(permit), json=PROGRESS)

    assert response.status_code == 403
    assert response.json()["error"] == "permit_scope_mismatch"


async def test_progress_read_with_another_project_is_403(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    permit = await jira.permit(project="AUTH", task="AUTH-128")

    response = await client.get("/v1/tasks/AUTH-128/progress?projectId=OTHER", headers=_auth(permit))

    assert response.status_code == 403


async def test_task_binding_is_case_sensitive(jira: JiraAppClient, client: httpx.AsyncClient) -> None:
    permit = await jira.permit(task="AUTH-128")

    response = await client.post("/v1/tasks/auth-128/progress", headers=_auth(permit), json=PROGRESS)

    assert response.status_code == 403


async def test_revoked_permit_is_401(jira: JiraAppClient, client: httpx.AsyncClient, app: FastAPI) -> None:
    permit = await jira.permit()
    # Accepted once first: the process now keeps its verified signature, which must not delay this.
    assert (
        await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)
    ).status_code == 200
    assert (await client.get("/v1/tasks/runs", headers=_auth(permit))).status_code == 200
    jti = jwt.decode(permit, options={"verify_signature": False})["jti"]
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        await revoke_permits(session, runtime.clock, reason="test", jti=jti)

    response = await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)
    read = await client.get("/v1/tasks/runs", headers=_auth(permit))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_permit"
    assert read.status_code == 401


async def test_expired_permit_is_401(
    jira: JiraAppClient, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    permit = await jira.permit()
    assert (
        await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)
    ).status_code == 200
    clock.advance(86400 + 1)

    response = await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)

    assert response.status_code == 401


async def test_tampered_permit_is_401(jira: JiraAppClient, client: httpx.AsyncClient) -> None:
    permit = await jira.permit(task="AUTH-128")
    assert (
        await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)
    ).status_code == 200
    claims = jwt.decode(permit, options={"verify_signature": False})
    claims["tid"] = "AUTH-999"
    header, _, signature = permit.split(".")
    forged_payload = jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1]

    response = await client.post(
        "/v1/tasks/AUTH-999/progress", headers=_auth(f"{header}.{forged_payload}.{signature}"), json=PROGRESS
    )

    assert response.status_code == 401


async def test_a_fit_is_not_a_permit(client: httpx.AsyncClient, forge: FakeForge) -> None:
    response = await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(forge.fit()), json=PROGRESS)

    assert response.status_code == 401


async def test_a_permit_is_not_a_fit(jira: JiraAppClient, client: httpx.AsyncClient) -> None:
    permit = await jira.permit()

    response = await client.post("/v1/jira/request-key", headers=_auth(permit))

    assert response.status_code == 401


async def test_permit_signed_with_another_secret_is_401(
    jira: JiraAppClient, client: httpx.AsyncClient, app: FastAPI
) -> None:
    permit = await jira.permit()
    runtime = runtime_of(app)
    scope = runtime.permits.decode(permit)
    forged = PermitCodec([b"another-secret-another-secret-another"], runtime.clock).encode(
        scope, issued_at=int(runtime.clock.now()), expires_at=int(runtime.clock.now()) + 60
    )

    response = await client.post("/v1/tasks/AUTH-128/progress", headers=_auth(forged), json=PROGRESS)

    assert response.status_code == 401


async def test_permits_signed_before_a_secret_rotation_still_verify(
    jira: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    permit = await jira.permit()
    rotated = PermitCodec([b"the-new-secret-the-new-secret-the-new-secret", TEST_SECRET.encode()], clock)
    retired = PermitCodec([b"the-new-secret-the-new-secret-the-new-secret"], clock)

    assert rotated.decode(permit).task_id == "AUTH-128"
    with pytest.raises(Exception, match="permit"):
        retired.decode(permit)


async def test_permits_are_listed_by_jti_without_the_token(jira: JiraAppClient, app: FastAPI) -> None:
    permit = await jira.permit()

    async with runtime_of(app).db.transaction() as session:
        rows = (await session.execute(select(TaskPermit))).scalars().all()

    assert len(rows) == 1
    assert rows[0].jti == jwt.decode(permit, options={"verify_signature": False})["jti"]
    assert permit not in str(vars(rows[0]))


async def test_a_real_jti_with_another_task_user_or_project_is_401(
    jira: JiraAppClient, client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A leaked signing secret plus one real jti must not open the installation's other tasks."""
    permit = await jira.permit(project="AUTH", task="AUTH-128")
    runtime = runtime_of(app)
    scope = runtime.permits.decode(permit)
    now = int(runtime.clock.now())
    answers = []
    for change in ({"task_id": "AUTH-129"}, {"project_id": "OTHER"}, {"user_account_id": "someone-else"}):
        forged = runtime.permits.encode(replace(scope, **change), issued_at=now, expires_at=now + 60)
        answers.append(await client.get("/v1/tasks/context", headers=_auth(forged)))

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert (await client.get("/v1/tasks/context", headers=_auth(permit))).status_code in (200, 404)


@pytest.mark.parametrize("route", ["/v1/security/task-permit", "/v1/security/vscode-link"])
async def test_a_response_that_hands_out_a_credential_is_never_cached(
    jira: JiraAppClient, route: str
) -> None:
    response = await jira.call("POST", route, json={"projectId": "AUTH", "taskId": "AUTH-128"})

    assert response.status_code == 200, response.text
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers["pragma"] == "no-cache"


async def test_the_launch_exchange_answer_is_never_cached(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    link = (
        await jira.call("POST", "/v1/security/vscode-link", json={"projectId": "AUTH", "taskId": "AUTH-128"})
    ).json()

    exchanged = await client.post(
        "/v1/security/launch-exchange",
        json={"code": link["launchCode"], "projectId": "AUTH", "taskId": "AUTH-128"},
    )

    assert exchanged.status_code == 200
    assert exchanged.headers["cache-control"] == "no-store"
