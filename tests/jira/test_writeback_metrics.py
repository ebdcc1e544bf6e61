"""/metrics on progress write-back: each attempt's outcome, write-backs given up on, and the backlog
read from the database (pending write-backs and how long the oldest has waited)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.support.clock import FixedClock
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import JiraAppClient
from tests.support.metrics import delta, scrape

DOCUMENT = {
    "ready": ["one"],
    "left": ["two"],
    "progress": "40%",
    "confidence": "Medium",
    "risks": [],
    "logs": [],
}
ATTEMPTS = "seecodes_jira_writeback_attempts_total"
GIVEN_UP = "seecodes_jira_writebacks_given_up_total"


@pytest.fixture
async def permit(connected: JiraAppClient) -> str:
    return await connected.permit(project="AUTH", task="AUTH-128")


async def _post(client: httpx.AsyncClient, permit: str, **change: Any) -> None:
    response = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {permit}"},
        json={**DOCUMENT, **change},
    )
    assert response.status_code == 200, response.text


async def _wait_for(client: httpx.AsyncClient, permit: str, state: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = (
            await client.get(
                "/v1/tasks/AUTH-128/progress?projectId=AUTH", headers={"Authorization": f"Bearer {permit}"}
            )
        ).json()
        if (body.get("jiraSync") or {}).get("state") == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the write-back never became {state!r}")


@pytest.mark.usefixtures("engine")
async def test_a_written_progress_report_is_counted_as_synced_and_leaves_no_backlog(
    client: httpx.AsyncClient, clock: FixedClock, permit: str
) -> None:
    before = await scrape(client, clock)

    await _post(client, permit)
    await _wait_for(client, permit, "synced")
    after = await scrape(client, clock)

    assert delta(before, after, ATTEMPTS, outcome="synced") == 1
    assert delta(before, after, ATTEMPTS, outcome="failed") == 0
    assert delta(before, after, GIVEN_UP) == 0
    assert after.value("seecodes_jira_writeback_backlog") == 0
    assert after.value("seecodes_jira_writeback_oldest_pending_age_seconds") == 0


@pytest.mark.usefixtures("engine")
async def test_a_rate_limited_attempt_is_counted_before_the_retry_that_writes(
    client: httpx.AsyncClient, clock: FixedClock, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.rate_limit("/properties/", times=1, retry_after=0.5)
    before = await scrape(client, clock)

    await _post(client, permit)
    await _wait_for(client, permit, "synced")
    after = await scrape(client, clock)

    assert delta(before, after, ATTEMPTS, outcome="rate_limited") == 1
    assert delta(before, after, ATTEMPTS, outcome="synced") == 1


@pytest.mark.usefixtures("engine")
async def test_a_refused_write_back_is_counted_as_failed_and_given_up(
    client: httpx.AsyncClient, clock: FixedClock, permit: str, atlassian: FakeAtlassian
) -> None:
    atlassian.refuse_properties = True
    before = await scrape(client, clock)

    await _post(client, permit)
    await _wait_for(client, permit, "failed")
    after = await scrape(client, clock)

    assert delta(before, after, ATTEMPTS, outcome="failed") == 1
    assert delta(before, after, GIVEN_UP) == 1
    assert after.value("seecodes_jira_writeback_backlog") == 0  # given up on: not waiting any more


async def test_a_report_not_written_yet_is_the_backlog_and_its_age_grows(
    client: httpx.AsyncClient, clock: FixedClock, permit: str
) -> None:
    empty = await scrape(client, clock)
    await _post(client, permit)  # the engine is not running: nothing is written

    pending = await scrape(client, clock)
    clock.advance(45)
    later = await scrape(client)

    assert empty.value("seecodes_jira_writeback_backlog") == 0
    assert pending.value("seecodes_jira_writeback_backlog") == 1
    assert pending.value("seecodes_jira_writeback_oldest_pending_age_seconds") == pytest.approx(3)
    assert later.value("seecodes_jira_writeback_oldest_pending_age_seconds") == pytest.approx(48)
