"""/metrics after runs settle: durations by outcome, queue wait, provider latency and errors, credits
moved, and the queue read from the database (depth, age of the oldest queued run)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.clock import FixedClock
from tests.support.fake_openai import Fail, FakeOpenAI, Reply
from tests.support.forge import JiraAppClient
from tests.support.metrics import Scrape, delta, scrape
from tests.support.runs import (
    auth,
    fake_model_settings,
    grant,
    init_and_upload,
    settle,
    start_engine,
    task_permit,
)

MODEL = {"model": "strict light"}
PROVIDER = {"model": "strict light", "provider": "openai"}


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return {**fake_model_settings(tmp_path, fake_openai_server, monkeypatch), "storage_quota_bytes": 4096}


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)


async def _start(
    client: httpx.AsyncClient, permit: str, files: dict[str, str] | None = None
) -> dict[str, Any]:
    run = await init_and_upload(client, permit, files)
    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    return body


async def _wait_until(client: httpx.AsyncClient, permit: str, run_id: str, status: str) -> None:
    for _ in range(400):
        polled = (await client.get(f"/v1/tasks/{run_id}", headers=auth(permit))).json()["status"]["status"]
        if polled == status:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the run never became {status}")


async def test_a_succeeded_run_counts_its_duration_queue_wait_provider_latency_and_credits(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("done", first_delay=0.5, prompt_tokens=40, completion_tokens=12))
    await grant(app, 1000)
    await start_engine(app)
    before = await scrape(client, clock)

    started = await _start(client, permit)
    await _wait_until(client, permit, started["runId"], "processing_remote")
    clock.advance(7)  # the model is answering: the run's duration is 7 s by the app's clock
    status = await settle(client, permit, started["runId"])
    after = await scrape(client)

    assert status["status"] == "succeeded"
    succeeded = {**MODEL, "outcome": "succeeded"}
    assert delta(before, after, "seecodes_run_duration_seconds_count", **succeeded) == 1
    assert delta(before, after, "seecodes_run_duration_seconds_sum", **succeeded) == pytest.approx(7)
    assert delta(before, after, "seecodes_run_duration_seconds_bucket", **succeeded, le="5.0") == 0
    assert delta(before, after, "seecodes_run_duration_seconds_bucket", **succeeded, le="10.0") == 1
    assert delta(before, after, "seecodes_run_queue_wait_seconds_count", **MODEL) == 1
    assert delta(before, after, "seecodes_provider_request_duration_seconds_count", **PROVIDER) == 1
    assert delta(before, after, "seecodes_provider_request_duration_seconds_sum", **PROVIDER) >= 0.5
    assert delta(before, after, "seecodes_provider_first_token_seconds_count", **PROVIDER) == 1
    assert delta(before, after, "seecodes_credits_reserved_total", **MODEL) == started["estimatedCredits"]
    assert delta(before, after, "seecodes_credits_settled_total", **MODEL) == math.ceil(10 + 0.001 * 52)
    assert delta(before, after, "seecodes_credits_released_total", **MODEL) == 0


async def test_a_failed_run_counts_the_provider_status_and_releases_its_credits(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock, permit: str, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Fail(429, message="slow down", retry_after=0.05))
    await grant(app, 1000)
    await start_engine(app)
    before = await scrape(client, clock)

    started = await _start(client, permit)
    status = await settle(client, permit, started["runId"])
    after = await scrape(client)

    assert status["status"] == "failed"
    failed = {**MODEL, "outcome": "failed"}
    assert delta(before, after, "seecodes_run_duration_seconds_count", **failed) == 1
    assert delta(before, after, "seecodes_run_duration_seconds_count", **MODEL, outcome="succeeded") == 0
    assert delta(before, after, "seecodes_provider_errors_total", **PROVIDER, status="429") == 1
    assert delta(before, after, "seecodes_provider_request_duration_seconds_count", **PROVIDER) == 0
    assert delta(before, after, "seecodes_credits_released_total", **MODEL) == started["estimatedCredits"]
    assert delta(before, after, "seecodes_credits_settled_total", **MODEL) == 0


async def test_the_queue_depth_counts_a_queued_run_and_the_age_of_the_oldest_grows(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock, permit: str
) -> None:
    await grant(app, 1000)  # no engine: what is started stays queued
    empty = await scrape(client, clock)
    initialized = await init_and_upload(client, permit)
    started = await _start(client, permit)

    queued = await scrape(client, clock)
    clock.advance(30)
    later = await scrape(client)

    assert empty.value("seecodes_shared_state_up") == 1
    assert empty.value("seecodes_run_queue_depth", **MODEL) == 0
    assert empty.value("seecodes_run_queue_oldest_age_seconds", **MODEL) == 0
    assert queued.value("seecodes_run_queue_depth", **MODEL) == 1
    assert queued.value("seecodes_runs", **MODEL, status="queued") == 1
    assert queued.value("seecodes_runs", **MODEL, status="initialized") == 1
    assert queued.value("seecodes_runs", **MODEL, status="in_process") == 0
    assert queued.value("seecodes_run_queue_oldest_age_seconds", **MODEL) == pytest.approx(3)
    assert later.value("seecodes_run_queue_oldest_age_seconds", **MODEL) == pytest.approx(33)
    assert initialized["runId"] != started["runId"]


async def test_a_cancelled_queued_run_leaves_the_queue_and_counts_as_cancelled(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock, permit: str
) -> None:
    await grant(app, 1000)
    before = await scrape(client, clock)
    started = await _start(client, permit)
    clock.advance(12)

    cancelled = await client.post(f"/v1/tasks/{started['runId']}/cancel", headers=auth(permit))
    after = await scrape(client, clock)

    assert cancelled.status_code == 200, cancelled.text
    outcome = {**MODEL, "outcome": "cancelled"}
    assert delta(before, after, "seecodes_run_duration_seconds_count", **outcome) == 1
    assert delta(before, after, "seecodes_run_duration_seconds_sum", **outcome) == pytest.approx(12)
    assert delta(before, after, "seecodes_credits_released_total", **MODEL) == started["estimatedCredits"]
    assert after.value("seecodes_run_queue_depth", **MODEL) == 0
    assert after.value("seecodes_runs", **MODEL, status="queued") == 0


async def test_a_start_refused_after_its_reservation_counts_no_credits(
    app: FastAPI, client: httpx.AsyncClient, clock: FixedClock, permit: str
) -> None:
    await grant(app, 1000)
    before = await scrape(client, clock)
    run = await init_and_upload(client, permit, {"big.md": "x" * 5000})  # past the 4096-byte quota

    refused = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    after = await scrape(client, clock)

    # The reservation was written, then rolled back with the refusal: it never happened.
    assert refused.status_code == 413, refused.text
    assert delta(before, after, "seecodes_credits_reserved_total", **MODEL) == 0
    assert after.value("seecodes_runs", **MODEL, status="queued") == 0


def test_scrape_reads_counters_as_prometheus_does() -> None:
    text = (
        "# HELP seecodes_credits_reserved_total Credits\n"
        "# TYPE seecodes_credits_reserved_total counter\n"
        'seecodes_credits_reserved_total{model="strict light"} 12.0\n'
    )

    parsed = Scrape.parse(text)

    assert parsed.count("seecodes_credits_reserved_total", **MODEL) == 12
    assert parsed.count("seecodes_credits_reserved_total", model="other") == 0
    assert "seecodes_credits_reserved_total" in parsed.names()
