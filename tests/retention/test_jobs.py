"""The retention sweep as the run engine runs it: a scheduled workflow that prunes the tables and
DBOS's own finished workflows (those past the retention go; waiting ones stay, whatever their age)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dbos import DBOS
from fastapi import FastAPI

from seecodes.bootstrap import WORKFLOWS
from seecodes.kit.dispatch import Enqueue
from seecodes.kit.secrets import hash_secret
from seecodes.models import JiraOAuthState
from seecodes.retention import jobs as retention_jobs
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.forge import INSTALLATION_A, JiraAppClient

SWEEP = "seecodes.retention.sweep"
# A queue no executor of the test polls: what is enqueued there stays ENQUEUED.
IDLE_QUEUE = "retention-test-idle"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"run_engine_retention_days": 1}


async def _finished_sweep() -> str:
    handle = await DBOS.start_workflow_async(retention_jobs.sweep, datetime.now(UTC), None)
    await handle.get_result()
    return handle.workflow_id


async def _statuses(*workflow_ids: str) -> dict[str, str]:
    found = await DBOS.list_workflows_async(
        workflow_ids=list(workflow_ids), load_input=False, load_output=False
    )
    return {workflow.workflow_id: workflow.status for workflow in found}


def test_the_sweep_runs_every_minute() -> None:
    assert [(spec.name, spec.cron) for spec in WORKFLOWS.schedules if spec.name == SWEEP] == [
        (SWEEP, "* * * * *")
    ]


async def test_finished_workflows_past_the_retention_go_and_waiting_ones_stay(
    app: FastAPI, jira: JiraAppClient
) -> None:
    await jira.bootstrap()
    runtime = runtime_of(app)
    await runtime.start(execute_runs=True)  # stopped by the app fixture
    finished = await _finished_sweep()
    for workflow_id, delay in (("retention-delayed", 3600), ("retention-enqueued", 0)):
        await runtime.engine.enqueue(
            Enqueue(
                queue=IDLE_QUEUE,
                workflow=SWEEP,
                workflow_id=workflow_id,
                args=(datetime.now(UTC), None),
                delay_seconds=delay,
            )
        )

    recent = await runtime.engine.delete_finished_workflows(
        older_than=timedelta(hours=1), batch=10, max_batches=10
    )
    kept = await _statuses(finished)
    gone = await runtime.engine.delete_finished_workflows(older_than=timedelta(0), batch=2, max_batches=100)
    left = await _statuses(finished, "retention-delayed", "retention-enqueued")

    assert recent == 0
    assert kept == {finished: "SUCCESS"}
    assert gone >= 1
    assert left == {"retention-delayed": "DELAYED", "retention-enqueued": "ENQUEUED"}


async def test_the_scheduled_sweep_prunes_both_and_says_what_went(
    app: FastAPI,
    jira: JiraAppClient,
    clock: FixedClock,
    log_lines: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await jira.bootstrap()
    runtime = runtime_of(app)
    expired = clock.utcnow() - timedelta(hours=1)
    async with runtime.db.transaction() as session:
        session.add_all(
            JiraOAuthState(
                state_hash=hash_secret(f"state-{n}"),
                installation_id=INSTALLATION_A,
                actor="operator:1",
                created_at=expired - timedelta(minutes=10),
                expires_at=expired,
            )
            for n in range(2)
        )
    await runtime.start(execute_runs=True)
    first = await _finished_sweep()
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.model_copy(update={"run_engine_retention_days": 0.5 / 86400})
    )
    await asyncio.sleep(1)

    await _finished_sweep()

    swept = [
        line
        for line in map(json.loads, log_lines.getvalue().splitlines())
        if line["event"] == "retention_swept"
    ]
    assert swept[0]["jira_oauth_states"] == 2
    assert "jira_request_keys" not in swept[0]  # only what something went from is said
    assert swept[-1]["run_engine_workflows"] >= 1
    assert await _statuses(first) == {}
