"""Seed 000's bridge: off by default; when on, enrollment is operator-gated and keys are hashed."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.models import Installation
from seecodes.security import legacy
from tests.support.app import runtime_of
from tests.support.forge import CLOUD_A, CLOUD_B, JiraAppClient

LINK = {"projectId": "AUTH", "taskId": "AUTH-128", "userAccountId": "557058:legacy-user"}


async def _enrollment_token(app: FastAPI, cloud_id: str = CLOUD_A) -> str:
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        issued = await legacy.create_enrollment_token(
            session, runtime.clock, cloud_id=cloud_id, ttl_seconds=3600
        )
    return issued.token


class TestBridgeOff:
    async def test_connect_is_404(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        token = await _enrollment_token(app)

        response = await client.post("/public/connect", json={"cloudId": CLOUD_A, "enrollmentToken": token})

        assert response.status_code == 404
        assert response.json()["error"] == "not_found"

    @pytest.mark.parametrize("body", [{}, {"cloudId": "not-a-uuid"}, None, "[1, 2"])
    async def test_connect_is_404_whatever_the_body(self, client: httpx.AsyncClient, body: object) -> None:
        # A disabled route is not there: it does not validate a body first (which would be a 422).
        if isinstance(body, str):
            response = await client.post(
                "/public/connect", content=body, headers={"Content-Type": "application/json"}
            )
        else:
            response = await client.post("/public/connect", json=body)

        assert response.status_code == 404
        assert response.json()["error"] == "not_found"

    async def test_instance_key_headers_are_not_a_credential(self, client: httpx.AsyncClient) -> None:
        headers = {"X-Cloud-Id": CLOUD_A, "X-Instance-Key": "av_inst_" + "x" * 43}

        response = await client.post("/v1/security/vscode-link", headers=headers, json=LINK)

        assert response.status_code == 401


class TestBridgeOn:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"legacy_bridge_enabled": True}

    async def _connect(self, client: httpx.AsyncClient, app: FastAPI) -> dict[str, Any]:
        token = await _enrollment_token(app)
        response = await client.post("/public/connect", json={"cloudId": CLOUD_A, "enrollmentToken": token})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def test_connect_without_an_enrollment_token_is_refused(self, client: httpx.AsyncClient) -> None:
        missing = await client.post("/public/connect", json={"cloudId": CLOUD_A})
        unknown = await client.post(
            "/public/connect", json={"cloudId": CLOUD_A, "enrollmentToken": "sc_enroll_nope"}
        )

        assert missing.status_code == 422
        assert unknown.status_code == 403
        assert unknown.json()["error"] == "enrollment_token_invalid"

    async def test_enrollment_token_is_bound_to_its_site_and_single_use(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        token = await _enrollment_token(app, CLOUD_A)

        other_site = await client.post("/public/connect", json={"cloudId": CLOUD_B, "enrollmentToken": token})
        first = await client.post("/public/connect", json={"cloudId": CLOUD_A, "enrollmentToken": token})
        second = await client.post("/public/connect", json={"cloudId": CLOUD_A, "enrollmentToken": token})

        assert other_site.status_code == 403
        assert first.status_code == 200
        assert second.status_code == 403

    async def test_connect_returns_the_keys_once_and_stores_only_hashes(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        body = await self._connect(client, app)

        assert body["ok"] is True
        assert body["apiKey"].startswith("av_inst_")
        assert body["linkSecret"].startswith("sc_link_")
        async with runtime_of(app).db.transaction() as session:
            row = (await session.execute(select(Installation))).scalar_one()
        assert row.instance_key_hash == hashlib.sha256(body["apiKey"].encode()).hexdigest()
        assert row.link_secret_hash == hashlib.sha256(body["linkSecret"].encode()).hexdigest()
        assert body["apiKey"] not in str(vars(row))
        assert body["linkSecret"] not in str(vars(row))

    async def test_instance_key_headers_mint_links_and_permits(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        body = await self._connect(client, app)
        headers = {"X-Cloud-Id": CLOUD_A, "X-Instance-Key": body["apiKey"]}

        link = await client.post("/v1/security/vscode-link", headers=headers, json=LINK)
        permit = await client.post("/v1/security/task-permit", headers=headers, json=LINK)
        no_user = await client.post(
            "/v1/security/task-permit", headers=headers, json={"projectId": "A", "taskId": "A-1"}
        )

        assert link.status_code == 200
        assert link.json()["launchCode"].startswith("sc_launch_")
        assert permit.status_code == 200
        assert no_user.status_code == 422

    async def test_wrong_instance_key_or_cloud_is_401(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        body = await self._connect(client, app)

        wrong_key = await client.post(
            "/v1/security/task-permit",
            headers={"X-Cloud-Id": CLOUD_A, "X-Instance-Key": "av_inst_" + "x" * 43},
            json=LINK,
        )
        wrong_cloud = await client.post(
            "/v1/security/task-permit",
            headers={"X-Cloud-Id": CLOUD_B, "X-Instance-Key": body["apiKey"]},
            json=LINK,
        )

        assert wrong_key.status_code == 401
        assert wrong_cloud.status_code == 401

    async def test_reconnect_rotates_the_instance_key(self, client: httpx.AsyncClient, app: FastAPI) -> None:
        old = await self._connect(client, app)
        await self._connect(client, app)

        response = await client.post(
            "/v1/security/task-permit",
            headers={"X-Cloud-Id": CLOUD_A, "X-Instance-Key": old["apiKey"]},
            json=LINK,
        )

        assert response.status_code == 401

    async def test_connect_attaches_to_the_forge_installation_of_the_site(
        self, client: httpx.AsyncClient, app: FastAPI, jira: JiraAppClient
    ) -> None:
        await jira.bootstrap()
        await self._connect(client, app)

        me = (await jira.call("GET", "/v1/instances/me")).json()

        assert me["apiKeyPrefix"].startswith("av_inst_")
