"""/metrics as an operator scrapes it: bounded labels after runs, credits and Jira writes; a worker's
own endpoint; a fleet of API processes (multiprocess mode) and a worker, each showing its part."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from seecodes.app import create_app
from seecodes.errors import SeecodesError
from seecodes.jira.writeback import Status as WritebackStatus
from seecodes.models.run import RunStatus
from seecodes.runs.providers import ProviderKind
from seecodes.runtime import MetricsEndpointUnavailable
from tests.jira.conftest import atlassian, atlassian_server, connected, installed  # noqa: F401 - fixtures
from tests.support.app import make_settings, runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import CLIENT_ID, CLIENT_SECRET
from tests.support.fake_openai import Fail, FakeOpenAI, Reply
from tests.support.forge import INSTALLATION_A, FakeForge, JiraAppClient
from tests.support.live_server import free_port
from tests.support.metrics import Scrape, scrape
from tests.support.runs import auth, fake_model_settings, grant, init_and_upload, settle, task_permit
from tests.support.stack import Stack

# Every label a seecodes metric may carry, and where its values come from.
LABELS = {"method", "route", "status", "code", "model", "outcome", "provider", "scope", "le"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
PROVIDER_ERROR_KINDS = {"timeout", "connection", "stream", "no_key", "unavailable", "context", "error"}
HTTP_STATUS = re.compile(r"^[1-5][0-9]{2}$")


def _error_codes() -> set[str]:
    found: set[str] = set()
    pending: list[type[SeecodesError]] = [SeecodesError]
    while pending:
        kind = pending.pop()
        found.add(kind.code)
        pending.extend(kind.__subclasses__())
    return found


def _route_templates(routes: list[Any], prefix: str = "") -> Iterator[str]:
    """Every route's template, through included routers (FastAPI includes them lazily)."""
    for route in routes:
        path = getattr(route, "path", None)
        if path is not None:
            yield prefix + path
        included = getattr(route, "include_context", None)
        if included is not None:
            yield from _route_templates(included.included_router.routes, prefix + included.prefix)


def _bounded(app: FastAPI, models: set[str]) -> dict[str, set[str]]:
    return {
        "method": HTTP_METHODS,
        "route": set(_route_templates(app.routes)) | {"unmatched"},
        "code": _error_codes(),
        "model": models,
        "outcome": {status.value for status in RunStatus} | set(WritebackStatus.__args__),
        "provider": {kind.value for kind in ProviderKind},
        "scope": {"installation", "project"},  # which budget (installations.budgets)
    }


def _problems(scraped: Scrape, app: FastAPI, models: set[str], secrets: list[str]) -> list[str]:
    bounded = _bounded(app, models)
    statuses = {status.value for status in RunStatus} | PROVIDER_ERROR_KINDS
    found = []
    for name, labels, _value in scraped.samples():
        if not name.startswith("seecodes_"):
            continue
        for label, value in labels.items():
            allowed = bounded.get(label)
            if label not in LABELS:
                found.append(f"{name}: label {label!r} is not in the allowed set")
            elif label == "le":
                if value != "+Inf" and not re.fullmatch(r"[0-9.e+-]+", value):
                    found.append(f"{name}: le={value!r}")
            elif label == "status":
                if not (HTTP_STATUS.match(value) or value in statuses):
                    found.append(f"{name}: status={value!r} is neither an HTTP status nor a known state")
            elif isinstance(allowed, set) and value not in allowed:
                found.append(f"{name}: {label}={value!r} is not one of the bounded values")
            if any(secret in value for secret in secrets):
                found.append(f"{name}: {label}={value!r} carries an id or a credential")
    return found


@pytest.fixture
def settings_overrides(
    tmp_path: Path,
    fake_openai_server: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> dict[str, Any]:
    fake = request.getfixturevalue("atlassian")
    return {
        **fake_model_settings(tmp_path, fake_openai_server, monkeypatch),
        "jira_client_id": CLIENT_ID,
        "jira_client_secret": CLIENT_SECRET,
        "jira_auth_base_url": fake.url,
        "jira_api_base_url": fake.url,
        "jira_debounce_seconds": 0.3,
    }


@pytest.fixture
async def engine(app: FastAPI) -> AsyncIterator[None]:
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)
    yield
    await runtime.engine.stop()


async def _run(client: httpx.AsyncClient, permit: str) -> dict[str, Any]:
    run = await init_and_upload(client, permit)
    started = await client.post(f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={})
    assert started.status_code == 200, started.text
    return await settle(client, permit, run["runId"]) | {"runId": run["runId"]}


@pytest.mark.usefixtures("connected", "engine")
async def test_labels_after_runs_credits_and_jira_writes_come_from_bounded_sets(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: FixedClock,
    jira: JiraAppClient,
    fake_openai: FakeOpenAI,
) -> None:
    # Earlier tests in this process counted under their own catalogs (the registry is the
    # process's): the models they left are bounded by those catalogs, and are allowed as such.
    earlier = {labels["model"] for _n, labels, _v in (await scrape(client)).samples() if "model" in labels}
    fake_openai.script("fake-light", Reply("done"), Fail(400, message="refused"))
    await grant(app, 1000)
    permit = await task_permit(jira)
    succeeded = await _run(client, permit)
    failed = await _run(client, permit)
    initialized = await init_and_upload(client, permit)
    cancelled = await client.post(f"/v1/tasks/{initialized['runId']}/cancel", headers=auth(permit))
    progress = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers=auth(permit),
        json={"ready": [], "left": [], "progress": "10%", "confidence": "Low", "risks": [], "logs": []},
    )
    for _ in range(200):  # until the write-back is counted
        if (await scrape(client)).count("seecodes_jira_writeback_attempts_total", outcome="synced"):
            break
        await asyncio.sleep(0.05)
    await client.get("/v1/tasks/AUTH-1/progress")  # a credential refused
    await client.get("/not-a-route")

    scraped = await scrape(client, clock)

    assert (succeeded["status"], failed["status"], cancelled.status_code, progress.status_code) == (
        "succeeded",
        "failed",
        200,
        200,
    )
    models = {spec.id for spec in runtime_of(app).catalog} | earlier
    secrets = [permit, INSTALLATION_A, INSTALLATION_A.rsplit("/", 1)[-1], "AUTH-128", "run_", "batch_"]
    assert _problems(scraped, app, models, secrets) == []
    # The scrape holds what was exercised, so the check above had something to look at.
    assert (
        scraped.count("seecodes_run_duration_seconds_count", model="strict light", outcome="succeeded") >= 1
    )
    assert scraped.count(
        "seecodes_provider_errors_total", model="strict light", provider="openai", status="400"
    )
    assert scraped.count("seecodes_credits_reserved_total", model="strict light") > 0
    assert scraped.count("seecodes_credential_refusals_total", code="invalid_permit") >= 1
    assert scraped.count("seecodes_jira_writeback_attempts_total", outcome="synced") >= 1
    assert scraped.value("seecodes_runs", model="strict light", status="queued") == 0
    assert scraped.count("seecodes_http_requests_total", method="GET", route="unmatched", status="404") >= 1


def test_the_label_check_finds_an_unbounded_label() -> None:
    bare = FastAPI()
    scraped = Scrape.parse(
        "# TYPE seecodes_runs gauge\n"
        'seecodes_runs{model="strict light",status="queued",task="AUTH-128"} 1.0\n'
        'seecodes_runs{model="someone-else",status="queued"} 1.0\n'
    )

    found = _problems(scraped, bare, {"strict light"}, ["AUTH-128"])

    assert any("label 'task'" in problem for problem in found)
    assert any("carries an id" in problem for problem in found)
    assert any("model='someone-else'" in problem for problem in found)


# -- a worker's own endpoint -------------------------------------------------------------------
@pytest.fixture
def worker_port() -> int:
    return free_port()


@pytest.fixture
def worker_settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, worker_port: int
) -> dict[str, Any]:
    return {
        **fake_model_settings(tmp_path, fake_openai_server, monkeypatch),
        "run_execution": "workers",
        "worker_id": "worker-metrics",
        "worker_metrics_port": worker_port,
    }


@pytest.fixture
async def worker_app(
    forge: FakeForge,
    tmp_path: Path,
    database_url: str,
    worker_settings_overrides: dict[str, Any],
    clock: FixedClock,
) -> AsyncIterator[FastAPI]:
    application = create_app(
        make_settings(forge, tmp_path, database_url, **worker_settings_overrides), clock=clock
    )
    yield application
    await runtime_of(application).close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_a_worker_serves_the_metrics_of_the_runs_it_executes_on_its_own_port(
    worker_app: FastAPI, worker_port: int, forge: FakeForge, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply("done"))
    transport = httpx.ASGITransport(app=worker_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await runtime_of(worker_app).start(execute_runs=True)  # as `seecodes worker` starts it
        opened = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{worker_port}/metrics")
        before = Scrape.parse(opened.text)
        permit = await task_permit(JiraAppClient(client, forge))
        await grant(worker_app, 1000)
        status = await _run(client, permit)
        endpoint = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{worker_port}/metrics")
    await runtime_of(worker_app).close()

    assert status["status"] == "succeeded"
    assert endpoint.status_code == 200
    after = Scrape.parse(endpoint.text)
    labels = {"model": "strict light", "outcome": "succeeded"}
    assert (
        after.count("seecodes_run_duration_seconds_count", **labels)
        - before.count("seecodes_run_duration_seconds_count", **labels)
        == 1
    )
    assert "seecodes_run_queue_depth" not in after.names()  # shared state is the API's to show
    assert not _listening(worker_port)  # closed with the runtime


async def test_an_api_process_in_the_workers_shape_opens_no_worker_endpoint(
    worker_app: FastAPI, worker_port: int
) -> None:
    await runtime_of(worker_app).start(execute_runs=False)  # as `seecodes serve` starts it

    assert runtime_of(worker_app).metrics_endpoint is None
    assert not _listening(worker_port)


async def test_a_worker_whose_metrics_port_is_taken_does_not_start(
    worker_app: FastAPI, worker_port: int
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", worker_port))
        holder.listen()

        with pytest.raises(MetricsEndpointUnavailable, match=f"SEECODES_WORKER_METRICS_PORT={worker_port}"):
            await runtime_of(worker_app).start(execute_runs=True)

    assert not runtime_of(worker_app).engine.executing


# -- a fleet: two API processes (multiprocess mode) and a worker --------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_a_fleet_shows_requests_and_queues_on_the_api_and_runs_on_the_worker(
    fake_openai_server: FakeOpenAI, postgres_template: str
) -> None:
    port = free_port()
    fake_openai_server.reset()
    fake_openai_server.script("fake-light", Reply("done"))
    with Stack(
        backend="postgres",
        model_base_url=fake_openai_server.base_url,
        api_processes=2,
        run_workers=1,
        settings={"SEECODES_WORKER_METRICS_PORT": str(port)},
    ) as stack:
        client = stack.client()
        permit = client.permit()
        stack.grant(1000)
        status = client.wait_for(permit, client.start_run(permit))
        worker = Scrape.parse(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        stack.stop_worker(stack.workers[0])
        client.start_run(permit)  # no worker any more: it waits in the queue
        # A request is counted once its answer has gone out, so a scrape that another process
        # answers at once may come before the count: scrape until both starts are in.
        deadline = time.monotonic() + 30
        while True:
            api = Scrape.parse(client.http.get("/metrics").text)
            counted = api.count(
                "seecodes_http_requests_total", method="POST", route="/v1/tasks/{runId}/start", status="200"
            )
            if counted >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        client.close()

    assert status["status"] == "succeeded"
    succeeded = {"model": "strict light", "outcome": "succeeded"}
    assert worker.count("seecodes_run_duration_seconds_count", **succeeded) == 1
    assert (
        worker.count(
            "seecodes_provider_request_duration_seconds_count", model="strict light", provider="openai"
        )
        == 1
    )
    assert worker.count("seecodes_credits_settled_total", model="strict light") > 0
    assert "seecodes_run_queue_depth" not in worker.names()
    assert api.value("seecodes_shared_state_up") == 1
    assert api.value("seecodes_run_queue_depth", model="strict light") == 1
    assert api.value("seecodes_runs", model="strict light", status="queued") == 1
    # Counted by whichever API process answered, summed over both by the multiprocess collector.
    assert (
        api.count(
            "seecodes_http_requests_total", method="POST", route="/v1/tasks/{runId}/start", status="200"
        )
        == 2
    )
    assert api.count("seecodes_credits_reserved_total", model="strict light") > 0
    assert api.count("seecodes_run_duration_seconds_count", **succeeded) == 0  # API processes execute nothing
