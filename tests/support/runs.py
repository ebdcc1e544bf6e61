"""What run tests share: an app whose model is the fake OpenAI server, credits, and a run driven
through the API as the IDE drives it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seecodes.installations import service as installations
from seecodes.installations.repository import credit_balance
from seecodes.models import Run
from seecodes.models.run import SETTLED as RUN_SETTLED
from tests.support.app import runtime_of
from tests.support.fake_openai import FakeOpenAI, write_models_file
from tests.support.forge import INSTALLATION_A, JiraAppClient

PROVIDER_KEY = "sk-test-provider-key-do-not-log"
BASE_URL = "https://seecodes.example.com"
SETTLED = {status.value for status in RUN_SETTLED}


def run_row(run_id: str, installation_id: str, status: str, now: datetime, **columns: Any) -> Run:
    """A run written straight to the database, for tests that need one in a given state."""
    values: dict[str, Any] = {
        "project_id": "AUTH",
        "task_id": "AUTH-1",
        "user_account_id": "user",
        "model": "strict light",
        "files": [],
        "storage_prefix": f"runs/{run_id}/",
        **columns,
    }
    return Run(
        id=run_id, installation_id=installation_id, status=status, created_at=now, updated_at=now, **values
    )


def fake_model_settings(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Settings whose default model (`strict light`) is the fake server's `fake-light`."""
    monkeypatch.setenv("SEECODES_TEST_PROVIDER_KEY", PROVIDER_KEY)
    models = write_models_file(
        tmp_path / "models.toml",
        fake_openai_server.base_url,
        {"strict light": "fake-light"},
        api_key_env="SEECODES_TEST_PROVIDER_KEY",
    )
    return {"models_file": models, "provider_max_retries": 2, "run_timeout_seconds": 20}


async def start_engine(app: FastAPI) -> None:
    """The in-process engine; the app fixture's teardown stops it."""
    await runtime_of(app).start(execute_runs=True)


async def task_permit(jira: JiraAppClient) -> str:
    return await jira.permit(project="AUTH", task="AUTH-128")


async def grant(app: FastAPI, amount: int) -> None:
    runtime = runtime_of(app)
    async with runtime.db.transaction() as session:
        await installations.grant_credits(
            session, runtime.clock, installation_id=INSTALLATION_A, amount=amount
        )


async def balance(app: FastAPI) -> int:
    async with runtime_of(app).db.transaction() as session:
        return await credit_balance(session, INSTALLATION_A)


def auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def init_and_upload(
    client: httpx.AsyncClient, permit: str, files: dict[str, str] | None = None
) -> dict[str, Any]:
    files = files if files is not None else {"list.md": "- [ ] write the changelog\n"}
    created = await client.post("/v1/tasks/init", headers=auth(permit), json={"files": list(files)})
    assert created.status_code == 200, created.text
    body: dict[str, Any] = created.json()
    for name, content in files.items():
        uploaded = await client.put(body["uploads"][name].removeprefix(BASE_URL), content=content.encode())
        assert uploaded.status_code in (200, 201, 204), uploaded.text
    return body


async def settle(client: httpx.AsyncClient, permit: str, run_id: str, within: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        polled = await client.get(f"/v1/tasks/{run_id}", headers=auth(permit))
        status: dict[str, Any] = polled.json()["status"]
        if status["status"] in SETTLED:
            return status
        assert asyncio.get_running_loop().time() < deadline, f"run still {status['status']}"
        await asyncio.sleep(0.05)
