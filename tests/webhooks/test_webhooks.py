"""Signed outbound webhooks (issue 15 §3): registration, events, signatures, retries, the address
guard, disabling. The receiver is a real HTTP server on loopback; every request it gets is verified
with the `standardwebhooks` library."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from seecodes.kit.clock import iso_utc
from seecodes.models import WebhookDelivery, WebhookEndpoint
from seecodes.models.webhooks import WebhookEvent
from seecodes.retention.service import Windows, sweep
from seecodes.webhooks import service
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI
from tests.support.forge import CLOUD_B, INSTALLATION_A, INSTALLATION_B, FakeForge, JiraAppClient
from tests.support.runs import (
    auth,
    fake_model_settings,
    grant,
    init_and_upload,
    settle,
    start_engine,
    task_permit,
)
from tests.support.webhook_receiver import Receiver, verify

PROGRESS = {
    "ready": ["Protected-route wrapper is live"],
    "left": ["Callback validation"],
    "progress": "40%",
    "confidence": "Medium",
    "risks": [],
    "logs": [],
}


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    return {
        **fake_model_settings(tmp_path, fake_openai_server, monkeypatch),
        "webhook_allowed_hosts": ["127.0.0.1"],
        "webhook_retry_seconds": [0.2, 0.2, 0.2],
        "webhook_disable_after_failures": 6,
    }


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await task_permit(jira)  # AUTH / AUTH-128


async def _register(jira: JiraAppClient, url: str, events: list[str]) -> dict[str, Any]:
    answer = await jira.call("POST", "/v1/jira/webhooks", json={"url": url, "events": events})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _progress(client: httpx.AsyncClient, permit: str) -> None:
    saved = await client.post("/v1/tasks/AUTH-128/progress", headers=auth(permit), json=PROGRESS)
    assert saved.status_code == 200, saved.text


async def _deliveries(jira: JiraAppClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = await jira.call("GET", f"/v1/jira/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _settled_deliveries(jira: JiraAppClient, webhook_id: str, count: int) -> list[dict[str, Any]]:
    import asyncio

    for _ in range(300):
        items = await _deliveries(jira, webhook_id)
        if len(items) >= count and all(item["status"] != "pending" for item in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still pending: {items}")


async def test_a_registered_endpoint_gets_its_secret_once_and_the_server_keeps_only_its_hash(
    app: FastAPI, jira: JiraAppClient, receiver: Receiver
) -> None:
    created = await _register(jira, receiver.url, ["run.succeeded", "run.succeeded", "progress.saved"])
    listed = (await jira.call("GET", "/v1/jira/webhooks")).json()

    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) >= 6 + 43
    assert created["events"] == ["progress.saved", "run.succeeded"]
    assert created["secret"] not in str(listed)
    assert listed["items"][0]["id"] == created["id"]
    assert listed["items"][0]["enabled"] is True
    async with runtime_of(app).db.reading() as session:
        dumped = str((await session.execute(text("SELECT * FROM webhook_endpoints"))).all())
    assert created["secret"] not in dumped
    assert created["secret"].removeprefix("whsec_") not in dumped


async def test_a_run_and_a_progress_report_arrive_signed_in_order(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str, receiver: Receiver
) -> None:
    await start_engine(app)
    await grant(app, 1000)
    created = await _register(
        jira, receiver.url, ["run.queued", "run.started", "run.succeeded", "progress.saved"]
    )
    run = await init_and_upload(client, permit)

    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, run["runId"])
    await _progress(client, permit)
    arrived = await receiver.wait_for(1, event="progress.saved")

    payloads = [verify(created["secret"], request) for request in arrived]
    run_events = [p for p in payloads if p["type"].startswith("run.")]
    assert started.status_code == 200
    assert sorted(p["type"] for p in run_events) == ["run.queued", "run.started", "run.succeeded"]
    succeeded = next(p for p in run_events if p["type"] == "run.succeeded")
    assert succeeded["data"]["runId"] == run["runId"]
    assert succeeded["data"]["installationId"] == INSTALLATION_A
    assert (succeeded["data"]["projectId"], succeeded["data"]["taskId"]) == ("AUTH", "AUTH-128")
    assert succeeded["data"]["status"] == "succeeded"
    assert succeeded["data"]["creditsCharged"] is not None
    progress = next(p for p in payloads if p["type"] == "progress.saved")
    assert progress["data"]["progress"] == "40%"
    assert progress["data"]["ready"] == PROGRESS["ready"]
    assert len({request.webhook_id for request in arrived}) == len(arrived)
    assert all(request.headers["content-type"] == "application/json" for request in arrived)


async def test_an_endpoint_gets_only_the_events_it_took(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str, receiver: Receiver
) -> None:
    await start_engine(app)
    await _register(jira, receiver.url, ["progress.saved"])
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    await settle(client, permit, run["runId"])

    await _progress(client, permit)
    await receiver.wait_for(1)

    assert receiver.types() == ["progress.saved"]


async def test_a_receiver_that_fails_twice_gets_the_same_message_on_the_third_attempt(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str
) -> None:
    await start_engine(app)
    with Receiver(statuses=[500, 503]) as flaky:
        created = await _register(jira, flaky.url, ["progress.saved"])

        await _progress(client, permit)
        attempts = await flaky.wait_for(3)
        log = await _settled_deliveries(jira, created["id"], 1)

    assert [request.status for request in attempts] == [500, 503, 200]
    assert len({request.webhook_id for request in attempts}) == 1
    assert len({request.body for request in attempts}) == 1
    for request in attempts:
        verify(created["secret"], request)
    assert log[0]["id"] == attempts[0].webhook_id
    assert (log[0]["status"], log[0]["attempts"], log[0]["lastStatusCode"]) == ("delivered", 3, 200)
    listed = (await jira.call("GET", "/v1/jira/webhooks")).json()["items"][0]
    assert listed["consecutiveFailures"] == 0


async def test_a_delivery_whose_attempts_all_fail_is_logged_failed(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str
) -> None:
    await start_engine(app)
    with Receiver(statuses=[500] * 10) as broken:
        created = await _register(jira, broken.url, ["progress.saved"])

        await _progress(client, permit)
        log = await _settled_deliveries(jira, created["id"], 1)

    # One attempt more than there are waits (three).
    assert (log[0]["status"], log[0]["attempts"], log[0]["lastStatusCode"]) == ("failed", 4, 500)
    assert log[0]["lastError"] == "answered 500"


async def test_an_endpoint_is_disabled_after_a_run_of_failures_and_enabled_again_by_its_owner(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str
) -> None:
    await start_engine(app)
    with Receiver(statuses=[500] * 8) as broken:
        created = await _register(jira, broken.url, ["progress.saved"])
        await _progress(client, permit)
        await _progress(client, permit)
        await _settled_deliveries(jira, created["id"], 2)
        disabled = (await jira.call("GET", "/v1/jira/webhooks")).json()["items"][0]
        await _progress(client, permit)  # while disabled: not recorded for it
        skipped = await _deliveries(jira, created["id"])

        enabled = await jira.call("POST", f"/v1/jira/webhooks/{created['id']}/enable")
        await _progress(client, permit)
        after = await _settled_deliveries(jira, created["id"], 3)

    assert disabled["enabled"] is False
    assert "6 failed attempts in a row" in disabled["disabledReason"]
    assert len(skipped) == 2
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["webhook"]["enabled"] is True
    assert enabled.json()["webhook"]["consecutiveFailures"] == 0
    [new] = [item for item in after if item["id"] not in {old["id"] for old in skipped}]
    assert new["status"] == "delivered"  # the receiver's script ran out: it answers 200 now


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:9/hooks", "https://"),
        ("https://127.0.0.1/hooks", "127.0.0.1"),
        ("https://localhost/hooks", "loopback"),
        ("https://10.1.2.3/hooks", "10.1.2.3"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://[::1]/hooks", "::1"),
        ("https://[::ffff:127.0.0.1]/hooks", "loopback"),
        ("https://user:pw@hooks.example.com/x", "user name"),
        ("ftp://hooks.example.com/x", "https://"),
    ],
)
async def test_an_endpoint_on_a_private_address_is_refused_without_the_allow_list(
    app: FastAPI, jira: JiraAppClient, url: str, why: str
) -> None:
    runtime = runtime_of(app)
    runtime.settings = runtime.settings.model_copy(update={"webhook_allowed_hosts": []})

    answer = await jira.call("POST", "/v1/jira/webhooks", json={"url": url, "events": ["run.failed"]})

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "webhook_address_refused"
    assert why in answer.json()["detail"]
    async with runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_an_address_allowed_at_registration_is_checked_again_before_each_attempt(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str, receiver: Receiver
) -> None:
    """What a DNS rebinding does: the name that passed now leads somewhere it may not."""
    runtime = runtime_of(app)
    created = await _register(jira, receiver.url, ["progress.saved"])
    runtime.settings = runtime.settings.model_copy(update={"webhook_allowed_hosts": []})
    await start_engine(app)

    await _progress(client, permit)
    log = await _settled_deliveries(jira, created["id"], 1)

    assert log[0]["status"] == "failed"
    assert log[0]["lastError"].startswith("refused: ")
    assert receiver.received == []


async def test_nothing_is_announced_for_a_change_that_rolls_back(
    app: FastAPI, jira: JiraAppClient, receiver: Receiver
) -> None:
    runtime = runtime_of(app)
    await _register(jira, receiver.url, ["progress.saved"])
    await start_engine(app)

    async def change_that_fails() -> None:
        async with runtime.db.transaction() as session:
            now = runtime.clock.utcnow()
            await service.emit(
                session, now, INSTALLATION_A, WebhookEvent.PROGRESS_SAVED, {"at": iso_utc(now)}
            )
            raise RuntimeError("the change fails after the event was recorded")

    with pytest.raises(RuntimeError):
        await change_that_fails()

    async with runtime.db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert receiver.received == []


async def test_another_installations_endpoint_is_not_found(
    client: httpx.AsyncClient, jira: JiraAppClient, forge: FakeForge, receiver: Receiver
) -> None:
    created = await _register(jira, receiver.url, ["progress.saved"])
    other = JiraAppClient(client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B})

    removed = await other.call("DELETE", f"/v1/jira/webhooks/{created['id']}")
    enabled = await other.call("POST", f"/v1/jira/webhooks/{created['id']}/enable")
    log = await other.call("GET", f"/v1/jira/webhooks/{created['id']}/deliveries")
    listed = (await other.call("GET", "/v1/jira/webhooks")).json()

    assert (removed.status_code, enabled.status_code, log.status_code) == (404, 404, 404)
    assert removed.json()["error"] == "webhook_not_found"
    assert listed["items"] == []
    assert len((await jira.call("GET", "/v1/jira/webhooks")).json()["items"]) == 1


async def test_a_removed_endpoint_gets_nothing_more(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str, receiver: Receiver
) -> None:
    await start_engine(app)
    created = await _register(jira, receiver.url, ["progress.saved"])

    removed = await jira.call("DELETE", f"/v1/jira/webhooks/{created['id']}")
    await _progress(client, permit)

    assert removed.status_code == 200
    assert removed.json() == {"ok": True, "id": created["id"]}
    assert (await jira.call("GET", "/v1/jira/webhooks")).json()["items"] == []
    async with runtime_of(app).db.reading() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


async def test_approvals_and_budget_thresholds_are_announced(
    app: FastAPI, client: httpx.AsyncClient, jira: JiraAppClient, permit: str, receiver: Receiver
) -> None:
    await start_engine(app)
    await grant(app, 1000)
    created = await _register(
        jira,
        receiver.url,
        ["approval.requested", "approval.decided", "run.awaiting_approval", "budget.threshold"],
    )
    gate = await jira.call(
        "PUT", "/v1/jira/budgets", json={"approvalThreshold": 0, "monthlyCredits": 1, "alertThresholds": [1]}
    )
    assert gate.status_code == 200, gate.text
    run = await init_and_upload(client, permit)

    await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    decided = await jira.call("POST", f"/v1/jira/approvals/{run['runId']}", json={"decision": "approved"})
    await settle(client, permit, run["runId"])
    arrived = await receiver.wait_for(1, event="budget.threshold")

    assert decided.status_code == 200, decided.text
    payloads = {p["type"]: p for p in (verify(created["secret"], request) for request in arrived)}
    assert set(payloads) == {
        "approval.requested",
        "approval.decided",
        "run.awaiting_approval",
        "budget.threshold",
    }
    assert payloads["approval.decided"]["data"]["decision"] == "approved"
    assert payloads["approval.requested"]["data"]["estimatedCredits"] is not None
    threshold = payloads["budget.threshold"]["data"]
    assert (threshold["projectId"], threshold["threshold"], threshold["monthlyCredits"]) == (None, 1, 1)


async def test_an_installation_has_at_most_twenty_endpoints(jira: JiraAppClient, receiver: Receiver) -> None:
    for _ in range(service.MAX_ENDPOINTS):
        await _register(jira, receiver.url, ["run.failed"])

    answer = await jira.call(
        "POST", "/v1/jira/webhooks", json={"url": receiver.url, "events": ["run.failed"]}
    )

    assert answer.status_code == 409
    assert answer.json()["error"] == "too_many_webhooks"


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://hooks.example.com/x", "events": []},
        {"url": "https://hooks.example.com/x", "events": ["run.exploded"]},
        {"url": "https://hooks.example.com/x"},
        {"url": "x" * 3000, "events": ["run.failed"]},
        {"url": "https://hooks.example.com/x", "events": ["run.failed"], "secret": "mine"},
    ],
)
async def test_a_malformed_registration_is_422(jira: JiraAppClient, body: dict[str, Any]) -> None:
    answer = await jira.call("POST", "/v1/jira/webhooks", json=body)

    assert answer.status_code == 422, answer.text
    assert answer.json()["ok"] is False


async def test_settled_deliveries_go_after_their_retention_and_a_pending_one_stays(
    app: FastAPI, jira: JiraAppClient, receiver: Receiver, clock: FixedClock
) -> None:
    runtime = runtime_of(app)
    created = await _register(jira, receiver.url, ["progress.saved"])
    old = clock.utcnow()
    async with runtime.db.transaction() as session:
        for delivery_id, status in (("msg_old_delivered", "delivered"), ("msg_old_pending", "pending")):
            session.add(_delivery(delivery_id, created["id"], status, old))
    clock.advance(31 * 86400)
    async with runtime.db.transaction() as session:
        session.add(_delivery("msg_new_delivered", created["id"], "delivered", clock.utcnow()))
    windows = Windows(
        expired_credentials=timedelta(days=30),
        telemetry=timedelta(days=400),
        telemetry_max_event_age=timedelta(days=7),
        webhook_deliveries=timedelta(days=30),
    )

    deleted = await sweep(runtime.db, runtime.clock, windows)

    assert deleted["webhook_deliveries"] == 1
    async with runtime.db.reading() as session:
        kept = set((await session.execute(select(WebhookDelivery.id))).scalars().all())
    assert kept == {"msg_old_pending", "msg_new_delivered"}


def _delivery(delivery_id: str, endpoint_id: str, status: str, at: datetime) -> WebhookDelivery:
    return WebhookDelivery(
        id=delivery_id,
        endpoint_id=endpoint_id,
        installation_id=INSTALLATION_A,
        event_type="progress.saved",
        body="{}",
        status=status,
        attempts=1,
        created_at=at,
        next_attempt_at=at + timedelta(days=365),  # not the stranded sweep's
    )
