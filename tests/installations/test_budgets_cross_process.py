"""A stop budget holds when starts race in two API processes on PostgreSQL: the budget check runs
under the installation's row lock that the reservation takes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from seecodes.db import Database
from seecodes.installations import service as installations
from seecodes.models import CreditLedgerEntry
from tests.support.app import TEST_SECRET
from tests.support.clock import FixedClock
from tests.support.forge import INSTALLATION_A, FakeForge, JiraAppClient
from tests.support.live_server import LiveServer, server_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
STARTS = 16
ROOM_FOR = 5


async def _init_and_upload(http: httpx.AsyncClient, permit: str) -> str:
    headers = {"Authorization": f"Bearer {permit}"}
    created = await http.post("/v1/tasks/init", headers=headers, json={"files": ["list.md"]})
    assert created.status_code == 200, created.text
    body: dict[str, Any] = created.json()
    uploaded = await http.put(body["uploads"]["list.md"], content=b"- [ ] write the changelog\n")
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    return str(body["runId"])


async def test_concurrent_starts_in_two_processes_never_pass_a_stop_budget(
    postgres_url: str, forge: FakeForge, tmp_path: Path
) -> None:
    env = server_env(
        forge,
        database_url=postgres_url,
        var_dir=tmp_path / "var",
        secret=TEST_SECRET,
        # The API processes only enqueue: reservations stay open, which is what the budget counts.
        SEECODES_RUN_EXECUTION="workers",
    )
    database = Database(postgres_url)
    with LiveServer(env, workers=2, log_path=tmp_path / "server.log") as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=60.0) as http:
            jira = JiraAppClient(http, forge)
            permit = await jira.permit(project="AUTH", task="AUTH-128")
            runs = [await _init_and_upload(http, permit) for _ in range(STARTS + 1)]
            try:
                async with database.transaction() as session:
                    await installations.grant_credits(
                        session, FixedClock(), installation_id=INSTALLATION_A, amount=100_000
                    )
                first = await http.post(
                    f"/v1/tasks/{runs[0]}/start", headers={"Authorization": f"Bearer {permit}"}, json={}
                )
                cost = first.json()["estimatedCredits"]
                limit = cost * (ROOM_FOR + 1)  # the first run's reservation, then room for five
                budget = await jira.call(
                    "PUT",
                    "/v1/jira/budgets",
                    json={"projects": {"AUTH": {"monthlyCredits": limit, "mode": "stop"}}},
                )
                assert budget.status_code == 200, budget.text

                answers = await asyncio.gather(
                    *(
                        http.post(
                            f"/v1/tasks/{run}/start", headers={"Authorization": f"Bearer {permit}"}, json={}
                        )
                        for run in runs[1:]
                    )
                )

                async with database.transaction() as session:
                    reserved = await session.scalar(
                        select(func.coalesce(func.sum(-CreditLedgerEntry.delta), 0)).where(
                            CreditLedgerEntry.kind == "reserve"
                        )
                    )
            finally:
                await database.dispose()

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * ROOM_FOR + [402] * (STARTS - ROOM_FOR), [a.text for a in answers]
    assert {answer.json()["error"] for answer in answers if answer.status_code == 402} == {"budget_exceeded"}
    assert reserved == limit
