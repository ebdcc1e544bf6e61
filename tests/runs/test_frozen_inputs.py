"""What `start` estimated is what the model gets and what the run may cost.

The finding this guards: an upload URL still valid after `start` let a client swap a 14-byte file
for 1.5 MB, so the executor sent 300,000 tokens on a 2-credit reservation and the ledger went
thousands of credits below zero.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from seecodes.app import create_app
from seecodes.config import StorageBackend
from seecodes.models import CreditLedgerEntry, UsageItem
from seecodes.runs import repository
from seecodes.runs.layout import started_key
from seecodes.runs.service import dispatch_key, execution_of
from tests.support.app import make_settings, runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI, Hang, Reply
from tests.support.forge import FakeForge, JiraAppClient
from tests.support.runs import (
    BASE_URL,
    auth,
    balance,
    fake_model_settings,
    grant,
    init_and_upload,
    settle,
    start_engine,
    task_permit,
)
from tests.support.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedS3

SMALL = "- [ ] write the changelog\n"
LARGE = "- [ ] " + "rewrite everything " * 20_000 + "\n"  # ~100k tokens, 380 KB


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return fake_model_settings(tmp_path, fake_openai_server, monkeypatch)


@pytest.fixture
async def engine(app: FastAPI) -> None:
    await start_engine(app)


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def _start(client: httpx.AsyncClient, permit: str, run_id: str) -> dict[str, Any]:
    started = await client.post(f"/v1/tasks/{run_id}/start", headers=auth(permit), json={})
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    return body


async def _ledger(app: FastAPI, run_id: str) -> list[tuple[str, int]]:
    async with runtime_of(app).db.transaction() as session:
        rows = await session.execute(
            select(CreditLedgerEntry.kind, CreditLedgerEntry.delta)
            .where(CreditLedgerEntry.reference == run_id)
            .order_by(CreditLedgerEntry.id)
        )
        return [(kind, delta) for kind, delta in rows]


async def test_an_upload_replaced_after_start_is_refused_and_the_model_gets_what_was_estimated(
    app: FastAPI, client: httpx.AsyncClient, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("done"))
    await grant(app, 1000)
    run = await init_and_upload(client, permit, {"list.md": SMALL})
    started = await _start(client, permit, run["runId"])

    replaced = await client.put(run["uploads"]["list.md"].removeprefix(BASE_URL), content=LARGE.encode())
    status = await settle(client, permit, run["runId"])

    assert replaced.status_code == 409
    assert replaced.json()["error"] == "run_inputs_frozen"
    assert status["status"] == "succeeded"
    sent = fake_openai.requests_for("fake-light")[-1].content("user")
    assert "write the changelog" in sent
    assert "rewrite everything" not in sent
    telemetry = (await client.get(f"/v1/tasks/{run['runId']}/telemetry", headers=auth(permit))).json()
    assert telemetry["inputTokens"] <= started["estimatedInputTokens"] + 50


@pytest.fixture
def s3_overrides(settings_overrides: dict[str, Any], seaweed: SeaweedS3) -> dict[str, Any]:
    return {
        **settings_overrides,
        "storage_backend": StorageBackend.S3,
        "storage_bucket": f"seecodes-frozen-{uuid.uuid4().hex[:10]}",
        "s3_endpoint_url": seaweed.endpoint_url,
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
    }


async def test_with_s3_an_upload_replaced_after_start_is_never_read(
    tmp_path: Path,
    s3_overrides: dict[str, Any],
    fake_openai: FakeOpenAI,
    forge: FakeForge,
    database_url: str,
    clock: FixedClock,
) -> None:
    fake_openai.script("fake-light", Reply("done"))
    s3_app = create_app(make_settings(forge, tmp_path, database_url, **s3_overrides), clock=clock)
    runtime = runtime_of(s3_app)
    try:
        await runtime.start(execute_runs=True)
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=s3_app), base_url="http://testserver"
            ) as client,
            httpx.AsyncClient(timeout=10) as s3,
        ):
            s3_permit = await JiraAppClient(client, forge).permit(project="AUTH", task="AUTH-128")
            await grant(s3_app, 1000)
            created = (
                await client.post("/v1/tasks/init", headers=auth(s3_permit), json={"files": ["list.md"]})
            ).json()
            url = created["uploads"]["list.md"]
            assert (await s3.put(url, content=SMALL.encode())).status_code == 200
            await _start(client, s3_permit, created["runId"])

            # A presigned S3 PUT cannot be revoked: the store takes it, and nothing reads it.
            replaced = await s3.put(url, content=LARGE.encode())
            status = await settle(client, s3_permit, created["runId"])
    finally:
        await runtime.close()

    assert replaced.status_code == 200
    assert status["status"] == "succeeded"
    sent = fake_openai.requests_for("fake-light")[-1].content("user")
    assert "write the changelog" in sent
    assert "rewrite everything" not in sent


async def test_inputs_that_differ_from_the_estimate_are_never_sent_and_the_reservation_is_released(
    app: FastAPI, client: httpx.AsyncClient, permit: str, fake_openai: FakeOpenAI
) -> None:
    runtime = runtime_of(app)
    await grant(app, 1000)
    run = await init_and_upload(client, permit, {"list.md": SMALL})
    await _start(client, permit, run["runId"])  # no engine yet: the run waits, queued
    async with runtime.db.transaction() as session:
        stored = await repository.get(session, run["runId"])
    assert stored is not None
    # Whoever could write the frozen copy (a storage operator, a bug) cannot make the run send it.
    await runtime.storage.write(started_key(stored, "list.md"), LARGE.encode(), content_type="text/plain")

    await runtime.start(execute_runs=True)
    await runtime.engine.enqueue(
        execution_of(stored.id, stored.model, dispatch_key(stored.installation_id, stored.dispatch_slot or 0))
    )
    status = await settle(client, permit, run["runId"])

    assert status["status"] == "failed"
    assert "not the ones start estimated" in (status["error"] or "")
    assert fake_openai.requests_for("fake-light") == []
    assert await balance(app) == 1000


async def test_a_charge_beyond_the_reservation_never_takes_the_balance_below_zero(
    app: FastAPI, client: httpx.AsyncClient, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("a long answer", completion_tokens=100_000))
    run = await init_and_upload(client, permit, {"list.md": SMALL})
    short = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    required = short.json()["requiredCredits"]
    await grant(app, required)  # exactly the estimate, nothing for the output

    started = await _start(client, permit, run["runId"])
    status = await settle(client, permit, run["runId"])
    telemetry = (await client.get(f"/v1/tasks/{run['runId']}/telemetry", headers=auth(permit))).json()
    logs = (await client.get(f"/v1/tasks/{run['runId']}/logs", headers=auth(permit))).text

    full_price = math.ceil(10 + 0.001 * (telemetry["inputTokens"] + 100_000))
    assert status["status"] == "succeeded"
    assert started["estimatedCredits"] == required
    assert telemetry["creditsCharged"] == required < full_price
    assert await balance(app) == 0
    assert f"{full_price - required} not covered by the balance" in logs
    assert await _ledger(app, run["runId"]) == [("reserve", -required), ("settle", 0)]


async def test_a_charge_beyond_the_reservation_is_taken_when_the_balance_covers_it(
    app: FastAPI, client: httpx.AsyncClient, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("a long answer", completion_tokens=100_000))
    await grant(app, 1000)
    run = await init_and_upload(client, permit, {"list.md": SMALL})

    started = await _start(client, permit, run["runId"])
    await settle(client, permit, run["runId"])
    telemetry = (await client.get(f"/v1/tasks/{run['runId']}/telemetry", headers=auth(permit))).json()

    full_price = math.ceil(10 + 0.001 * (telemetry["inputTokens"] + 100_000))
    assert telemetry["creditsCharged"] == full_price > started["estimatedCredits"]
    assert await balance(app) == 1000 - full_price


async def test_a_cancel_after_the_model_was_called_charges_the_input_and_records_its_usage(
    app: FastAPI, client: httpx.AsyncClient, engine: None, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Hang())
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    started = await _start(client, permit, run["runId"])
    for _ in range(200):
        polled = await client.get(f"/v1/tasks/{run['runId']}", headers=auth(permit))
        if polled.json()["status"]["status"] == "processing_remote":
            break
        await asyncio.sleep(0.05)

    cancelled = await client.post(f"/v1/tasks/{run['runId']}/cancel", headers=auth(permit))

    reserved = started["estimatedCredits"]
    assert cancelled.status_code == 200
    assert await balance(app) == 1000 - reserved
    assert await _ledger(app, run["runId"]) == [("reserve", -reserved), ("settle", 0)]
    async with runtime_of(app).db.transaction() as session:
        usage = (
            await session.execute(select(UsageItem).where(UsageItem.run_id == run["runId"]))
        ).scalar_one()
    assert usage.credits == reserved
    assert usage.output_tokens == 0


async def test_a_cancel_before_the_model_was_called_releases_the_reservation(
    app: FastAPI, client: httpx.AsyncClient, permit: str
) -> None:
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    started = await _start(client, permit, run["runId"])  # no engine: it stays queued

    cancelled = await client.post(f"/v1/tasks/{run['runId']}/cancel", headers=auth(permit))

    assert cancelled.status_code == 200
    assert await balance(app) == 1000
    reserved = started["estimatedCredits"]
    assert await _ledger(app, run["runId"]) == [("reserve", -reserved), ("release", reserved)]
