"""Jira tokens at rest: encrypted under the first configured key, readable under any listed key,
re-encrypted by a rotation, and a key that is gone is a clear 503, not a crash."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from seecodes.jira import tokens
from seecodes.jira.crypto import TokenUnreadable, cipher_for
from seecodes.models import JiraConnection, JiraForgeToken
from tests.support.app import runtime_of
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import CLOUD_A, JiraAppClient

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "jira_encryption_keys": OLD_KEY}


async def _ciphertexts(app: FastAPI) -> list[str]:
    async with runtime_of(app).db.transaction() as session:
        connection = (await session.execute(select(JiraConnection))).scalar_one()
        forge = (await session.execute(select(JiraForgeToken))).scalar_one()
    return [
        connection.access_token_encrypted or "",
        connection.refresh_token_encrypted or "",
        forge.token_encrypted,
    ]


def _with_keys(app: FastAPI, *keys: str) -> None:
    runtime = runtime_of(app)
    runtime.settings = runtime.settings.model_copy(
        update={"jira_encryption_keys": [SecretStr(key) for key in keys]}
    )


async def test_a_rotation_reencrypts_every_token_under_the_new_key(
    connected: JiraAppClient, atlassian: FakeAtlassian, app: FastAPI
) -> None:
    system_token = atlassian.issue_forge_token(CLOUD_A)
    await connected.call("GET", "/v1/instances/me", headers={"x-forge-oauth-system": system_token})
    before = await _ciphertexts(app)
    plaintexts = [cipher_for(runtime_of(app).settings).decrypt(value) for value in before]
    _with_keys(app, NEW_KEY, OLD_KEY)  # step 1: the new key first, the old one still listed

    async with runtime_of(app).db.transaction() as session:
        rewritten = await tokens.rotate_keys(session, runtime_of(app).settings)
    _with_keys(app, NEW_KEY)  # step 2: the old key dropped
    after = await _ciphertexts(app)
    projects = await connected.call("GET", "/v1/integrations/jira/projects")

    assert rewritten == 3
    assert system_token in plaintexts
    assert [cipher_for(runtime_of(app).settings).decrypt(value) for value in after] == plaintexts
    with pytest.raises(TokenUnreadable):
        cipher_for(
            runtime_of(app).settings.model_copy(update={"jira_encryption_keys": [SecretStr(OLD_KEY)]})
        ).decrypt(after[0])
    assert projects.status_code == 200


async def test_tokens_written_under_a_key_no_longer_listed_answer_503(
    connected: JiraAppClient, app: FastAPI
) -> None:
    _with_keys(app, NEW_KEY)  # the old key dropped without a rotation

    response = await connected.call("GET", "/v1/integrations/jira/projects")

    assert response.status_code == 503
    assert response.json()["error"] == "jira_not_configured"
    assert "SEECODES_JIRA_ENCRYPTION_KEYS" in response.json()["detail"]
