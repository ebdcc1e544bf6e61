"""docs/upgrading.md, run: a fleet on the previous release is upgraded while runs are in flight, and
every run settles.

The previous release's code comes from git history (tests/support/releases.py: the code before the
newest migration) and runs with this checkout's interpreter; the new release is this checkout. Real
processes on loopback (tests.support.stack): PostgreSQL, one API process, two workers, and a fake
OpenAI-compatible model that holds every run in flight until the test lets it finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import INSTALLATION_A
from tests.support.postgres import POSTGRES_ADMIN_URL, admin_connection
from tests.support.releases import HistoryUnavailable, Release, newest_migration, previous_release
from tests.support.stack import SETTLED, Stack, StackClient
from tests.support.tiers import tier_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# While HELD is clear, every model call streams its first words and waits: runs stay in flight.
HELD = threading.Event()
ANSWER = Reply("The upgraded fleet did the list.", chunk_chars=4, hold=HELD)


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Release:
    try:
        return previous_release(tmp_path_factory.mktemp("previous-release"))
    except HistoryUnavailable as error:
        pytest.fail(f"the upgrade test needs the previous release from git history: {error}")


@pytest.fixture
def stack(previous: Release, fake_openai: FakeOpenAI) -> Iterator[Stack]:
    """The previous release's fleet: its API and two workers, on its own schema."""
    try:
        admin_connection().close()
    except psycopg.OperationalError as error:
        tier_unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    fleet = Stack(
        backend="postgres",
        model_base_url=fake_openai.base_url,
        run_workers=2,
        settings={"SEECODES_WORKER_LIVENESS_TIMEOUT_SECONDS": "5"},
    )
    fleet.api.env["PYTHONPATH"] = str(previous.source)
    for worker in fleet.workers:
        worker.env = {"PYTHONPATH": str(previous.source)}
    try:
        with fleet:
            yield fleet
    finally:
        HELD.set()  # no stream of the session's fake model stays held after this test


def previous_code(
    previous: Release, stack: Stack, *args: str, worker_id: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.env, "PYTHONPATH": str(previous.source)}
    if worker_id:
        env["SEECODES_WORKER_ID"] = worker_id
    return subprocess.run(
        [sys.executable, "-m", "seecodes", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def schema_revision(stack: Stack) -> str:
    [(revision,)] = stack.rows("SELECT version_num FROM alembic_version")
    return str(revision)


def eventually(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def statuses(client: StackClient, permit: str, run_ids: list[str]) -> dict[str, str]:
    return {run_id: client.status(permit, run_id)["status"] for run_id in run_ids}


def executor_of(stack: Stack, run_id: str) -> str:
    [(executor,)] = stack.rows("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = ?", run_id)
    return str(executor)


def test_a_fleet_on_the_previous_release_is_upgraded_while_runs_are_in_flight_and_every_run_settles(
    stack: Stack, previous: Release, fake_openai: FakeOpenAI
) -> None:
    new_head, _, _ = newest_migration()
    assert schema_revision(stack) == previous.schema_head
    old_workers = list(stack.workers)
    old_ids = {worker.worker_id for worker in old_workers}
    client = stack.client()
    permit = client.permit()
    granted = previous_code(previous, stack, "admin", "credits", "grant", INSTALLATION_A, "10000")
    assert granted.returncode == 0, granted.stdout + granted.stderr
    fake_openai.script("fake-light", ANSWER)
    HELD.clear()
    runs = [client.start_run(permit) for _ in range(6)]  # four execute at once, two wait in the queue
    assert eventually(lambda: calling(client, permit, runs) == 4, 30), "four runs calling the model"

    # 1. The new release's migrations, once, while those runs are in flight.
    stack.cli("migrate")
    assert schema_revision(stack) == new_head
    in_flight_at_migration = calling(client, permit, runs)
    assert in_flight_at_migration == 4

    # The previous release refuses to start on the newer schema, and says why.
    refused = previous_code(previous, stack, "worker", worker_id="worker-late")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    # On stdout from releases before the CLI wrote JSON lines outside dev, on stderr since.
    assert "a newer release has migrated it" in refused.stdout + refused.stderr

    # Its running workers go on executing on the new schema, and its API goes on queueing.
    HELD.set()
    for run_id in runs:
        assert client.wait_for(permit, run_id, within=30)["status"] == "succeeded", stack.tail(old_workers[0])
        assert executor_of(stack, run_id) in old_ids
    HELD.clear()
    runs += [client.start_run(permit) for _ in range(4)]
    assert eventually(lambda: calling(client, permit, runs) == 4, 30), "four more runs calling the model"
    held_by_old = {run_id: executor_of(stack, run_id) for run_id in runs[-4:]}

    # 2. Workers, one at a time: a new-release worker joins, then an old one gets SIGTERM and
    # hands back the runs it was executing.
    for number, old in enumerate(old_workers, start=1):
        stack.add_worker(f"worker-new-{number}")
        stack.stop_worker(old)
        runs.append(client.start_run(permit))

    # 3. The API process.
    stack.api.stop()
    stack.api.env.pop("PYTHONPATH")
    if "PYTHONPATH" in os.environ:
        stack.api.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    stack.restart_api()
    runs.append(client.start_run(permit))
    HELD.set()

    eventually(lambda: not set(statuses(client, permit, runs).values()) - SETTLED, 60)

    final = statuses(client, permit, runs)
    unsettled = [run_id for run_id, state in final.items() if state != "succeeded"]
    assert not unsettled, f"runs not succeeded: {final}; the engine holds {engine_rows(stack, unsettled)}"
    movements = Counter((kind, ref) for kind, ref, _delta in stack.ledger() if ref in runs)
    assert movements == Counter({**{("reserve", r): 1 for r in runs}, **{("settle", r): 1 for r in runs}})
    # The runs the old workers were executing when stopped were finished by the new ones.
    assert set(held_by_old.values()) <= old_ids
    assert {executor_of(stack, run_id) for run_id in held_by_old} <= {"worker-new-1", "worker-new-2"}
    client.close()


def engine_rows(stack: Stack, run_ids: list[str]) -> list[tuple[object, ...]]:
    """What the run engine holds of these runs: the first thing to read when one is stuck."""
    return stack.rows(
        "SELECT workflow_uuid, status, executor_id, application_version, queue_name FROM dbos.workflow_status"
        " WHERE workflow_uuid = ANY(?)",
        run_ids,
    )


def calling(client: StackClient, permit: str, run_ids: list[str]) -> int:
    """How many of the runs are calling the model now."""
    return list(statuses(client, permit, run_ids).values()).count("processing_remote")


def test_the_previous_release_is_the_code_before_the_newest_migration(previous: Release) -> None:
    _, down_revision, path = newest_migration()

    assert previous.schema_head == down_revision
    assert not (previous.source / "seecodes/migrations/versions" / path.name).exists()
    assert (previous.source / "seecodes/__init__.py").exists()
