"""DESIGN.md §4 rule 7 and the contract's vscode-link / launch-exchange shapes."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import LaunchCode
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import CLOUD_A, INSTALLATION_A, USER_A, JiraAppClient

LINK = {"projectId": "AUTH", "taskId": "AUTH-128", "userAccountId": USER_A}


async def _link(jira: JiraAppClient, **body: object) -> dict[str, object]:
    response = await jira.call("POST", "/v1/security/vscode-link", json={**LINK, **body})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _exchange(
    client: httpx.AsyncClient, code: object, project: str = "AUTH", task: str = "AUTH-128"
) -> httpx.Response:
    return await client.post(
        "/v1/security/launch-exchange", json={"code": code, "projectId": project, "taskId": task}
    )


async def test_vscode_link_has_the_contract_shapes(jira: JiraAppClient, clock: FixedClock) -> None:
    body = await _link(jira)

    code = str(body["launchCode"])
    assert body["ok"] is True
    assert code.startswith("sc_launch_")
    assert (
        body["vscodeUrl"] == f"vscode://eprojac.seecodes-task-runner/project/AUTH/task/AUTH-128?code={code}"
    )
    https = urlparse(str(body["httpsUrl"]))
    assert (https.scheme, https.netloc, https.path) == ("https", "seecodes.example.com", "/v1/launch")
    assert parse_qs(https.query) == {"p": ["AUTH"], "t": ["AUTH-128"], "c": [code]}
    assert body["expiresAt"] == int(clock.now()) + 86400  # default lifetime: 1 day
    assert "permit" not in body


async def test_expiration_days_sets_the_lifetime(jira: JiraAppClient, clock: FixedClock) -> None:
    body = await _link(jira, expirationDays=14)

    assert body["expiresAt"] == int(clock.now()) + 14 * 86400


async def test_expiration_days_outside_1_to_14_is_422(jira: JiraAppClient) -> None:
    for days in (0, 15, -1):
        response = await jira.call("POST", "/v1/security/vscode-link", json={**LINK, "expirationDays": days})
        assert response.status_code == 422
        assert response.json()["fields"][0]["loc"] == ["body", "expirationDays"]


async def test_exchange_returns_a_permit_bound_to_the_task(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    code = (await _link(jira))["launchCode"]

    response = await _exchange(client, code)

    body = response.json()
    assert response.status_code == 200
    assert body["cloudId"] == CLOUD_A
    assert body["installationId"] == INSTALLATION_A
    assert (body["projectId"], body["taskId"]) == ("AUTH", "AUTH-128")
    progress = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {body['permit']}"},
        json={"progress": "10%", "confidence": "Low"},
    )
    assert progress.status_code == 200


async def test_exchange_for_another_task_is_refused_and_keeps_the_code(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    code = (await _link(jira))["launchCode"]

    wrong_task = await _exchange(client, code, task="AUTH-129")
    wrong_project = await _exchange(client, code, project="OTHER")
    right = await _exchange(client, code)

    assert wrong_task.status_code == 403
    assert wrong_task.json()["error"] == "launch_code_mismatch"
    assert wrong_project.status_code == 403
    assert right.status_code == 200


async def test_replayed_launch_code_is_refused_and_revokes_its_permit(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    code = (await _link(jira))["launchCode"]
    permit = (await _exchange(client, code)).json()["permit"]

    replay = await _exchange(client, code)
    after = await client.get("/v1/tasks/context", headers={"Authorization": f"Bearer {permit}"})

    assert replay.status_code == 403
    assert replay.json()["error"] == "launch_code_replayed"
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_permit"


async def test_expired_launch_code_is_refused(
    jira: JiraAppClient, client: httpx.AsyncClient, clock: FixedClock
) -> None:
    code = (await _link(jira))["launchCode"]
    clock.advance(86400 + 1)

    response = await _exchange(client, code)

    assert response.status_code == 403
    assert response.json()["error"] == "launch_code_expired"


async def test_unknown_launch_code_is_refused(client: httpx.AsyncClient) -> None:
    response = await _exchange(client, "sc_launch_" + "A" * 43)

    assert response.status_code == 403
    assert response.json()["error"] == "launch_code_invalid"


async def test_launch_codes_are_stored_only_as_hashes(jira: JiraAppClient, app: FastAPI) -> None:
    code = str((await _link(jira))["launchCode"])

    async with runtime_of(app).db.transaction() as session:
        row = (await session.execute(select(LaunchCode))).scalar_one()

    assert row.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in str(vars(row))


async def test_user_account_id_defaults_to_the_fit_principal(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    response = await jira.call(
        "POST", "/v1/security/vscode-link", json={"projectId": "AUTH", "taskId": "AUTH-128"}
    )

    assert response.status_code == 200


async def test_app_level_fit_must_name_the_user(jira: JiraAppClient) -> None:
    jira.fit_claims = {"principal": None}

    missing = await jira.call(
        "POST", "/v1/security/vscode-link", json={"projectId": "AUTH", "taskId": "AUTH-128"}
    )
    named = await jira.call("POST", "/v1/security/vscode-link", json=LINK)

    assert missing.status_code == 422
    assert named.status_code == 200


async def test_vscode_link_stores_task_context_for_the_ide(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    jira_context = {"title": "Implement auth flow", "descriptionMd": "…", "attachments": [], "images": []}
    initial = {"version": 1, "task": {"key": "AUTH-128"}}
    code = (await _link(jira, jiraContext=jira_context, initialTaiDoc=initial))["launchCode"]
    permit = (await _exchange(client, code)).json()["permit"]

    response = await client.get("/v1/tasks/context", headers={"Authorization": f"Bearer {permit}"})

    assert response.status_code == 200
    assert response.json() == {"ok": True, "context": jira_context, "initialTai": initial}


async def test_a_later_link_without_context_keeps_the_stored_context(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    await _link(jira, jiraContext={"title": "first"})
    code = (await _link(jira))["launchCode"]
    permit = (await _exchange(client, code)).json()["permit"]

    response = await client.get("/v1/tasks/context", headers={"Authorization": f"Bearer {permit}"})

    assert response.json()["context"] == {"title": "first"}


async def test_missing_task_context_is_404_context_not_found(
    jira: JiraAppClient, client: httpx.AsyncClient
) -> None:
    permit = await jira.permit()

    response = await client.get("/v1/tasks/context", headers={"Authorization": f"Bearer {permit}"})

    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert response.json()["error"] == "Context not found"


async def test_oversized_jira_context_is_422(jira: JiraAppClient) -> None:
    response = await jira.call(
        "POST", "/v1/security/vscode-link", json={**LINK, "jiraContext": {"descriptionMd": "x" * 300_000}}
    )

    assert response.status_code == 422
