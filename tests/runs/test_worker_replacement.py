"""A worker replaced under a new name loses no run; a worker id a live worker holds is refused.

Real processes on loopback (tests.support.stack): `seecodes serve` enqueues on PostgreSQL, two
`seecodes worker` processes execute. The long forms are bench/faults/replace_worker.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SLOW_ANSWER = "An answer that takes a while. " * 20


@pytest.fixture(scope="module")
def stack(fake_openai_server: FakeOpenAI) -> Iterator[Stack]:
    with Stack(
        backend="postgres",
        model_base_url=fake_openai_server.base_url,
        run_workers=2,
        settings={"SEECODES_WORKER_LIVENESS_TIMEOUT_SECONDS": "3"},
    ) as running:
        client = running.client()
        client.permit()
        running.grant(1000)
        client.close()
        yield running


def test_a_killed_worker_whose_id_never_returns_has_its_run_taken_over(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("fake-light", Reply(SLOW_ANSWER, chunk_chars=10, chunk_delay=0.1), Reply("## Done"))
    client = stack.client()
    permit = client.permit()
    run_id = client.start_run(permit)
    client.wait_for(permit, run_id, frozenset({"processing_remote"}))
    [owner] = stack.rows("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = ?", run_id)
    victim = next(worker for worker in stack.workers if worker.worker_id == owner[0])
    stack.kill_worker(victim)
    stack.add_worker("worker-replacement")

    status = client.wait_for(permit, run_id, within=60)

    assert status["status"] == "succeeded", stack.tail(victim)
    movements = Counter((kind, ref) for kind, ref, _delta in stack.ledger() if ref == run_id)
    assert movements == Counter({("reserve", run_id): 1, ("settle", run_id): 1})
    [(taker,)] = stack.rows("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = ?", run_id)
    assert taker != victim.worker_id
    [(state, taken_by)] = stack.rows(
        "SELECT state, taken_over_by FROM dbos.seecodes_executors WHERE executor_id = ?", victim.worker_id
    )
    assert state == "taken_over"
    assert taken_by != victim.worker_id
    client.close()


def test_a_second_worker_with_an_id_in_use_is_refused(stack: Stack) -> None:
    live = next(worker for worker in stack.workers if worker.alive())
    started = subprocess.run(
        [sys.executable, "-m", "seecodes", "worker"],
        env={**os.environ, **stack.env, "SEECODES_WORKER_ID": live.worker_id},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 2, started.stdout + started.stderr
    assert f"executor id '{live.worker_id}' is held by a live worker" in started.stdout + started.stderr
    assert live.alive()


def test_the_operator_sees_every_worker_and_its_state(stack: Stack) -> None:
    listed = stack.cli("admin", "workers", "list")
    for worker in stack.workers:
        assert worker.worker_id in listed
    assert "live" in listed
    assert "taken_over" in listed  # the worker the first test killed


def test_readiness_is_degraded_while_runs_wait_with_no_live_worker(stack: Stack) -> None:
    """Last in this module: it stops every worker, then starts one again."""
    client = stack.client()
    permit = client.permit()
    assert client.http.get("/readyz").json() == {"ok": True}
    for worker in stack.workers:
        stack.stop_worker(worker)
    run_id = client.start_run(permit)
    deadline = time.monotonic() + 60
    while "degraded" not in (ready := client.http.get("/readyz")).json() and time.monotonic() < deadline:
        time.sleep(0.5)

    # Still ready (taking every API process out of rotation would stop every other route too),
    # and it says which model waits.
    assert ready.status_code == 200
    assert ready.json()["degraded"] == ["model 'strict light': runs are waiting and no live worker serves it"]

    stack.add_worker("worker-after-outage")
    assert client.wait_for(permit, run_id, within=60)["status"] == "succeeded"
    assert client.http.get("/readyz").json() == {"ok": True}
    client.close()
