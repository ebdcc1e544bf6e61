"""kill -9 the process executing a run, restart it, and the run completes with credits settled once.

Two deployment shapes, each with real processes on loopback (tests.support.stack):

- embedded: one `seecodes serve` on SQLite executes runs itself; the whole server is killed.
- at scale: `seecodes serve` only enqueues on PostgreSQL; a `seecodes worker` executes and is killed
  while the API keeps answering.

The model streams slowly the first time so the kill lands mid-answer; after the restart DBOS resumes
the workflow at its unfinished step, the provider is called again and answers at once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.stack import Stack, StackClient

pytestmark = pytest.mark.slow

FIRST_ANSWER = "An answer that never finishes. " * 20
RECOVERED_ANSWER = "## Changelog\n- recovered after the crash"


@pytest.fixture(
    scope="module",
    params=[pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"],
    ids=["postgres-worker-killed", "sqlite-server-killed"],
)
def stack(request: pytest.FixtureRequest, fake_openai_server: FakeOpenAI) -> Iterator[Stack]:
    backend = request.param
    with Stack(
        backend=backend,
        model_base_url=fake_openai_server.base_url,
        run_workers=1 if backend == "postgres" else 0,
    ) as running:
        client = running.client()
        client.permit()  # the installation exists from its first Jira App call on
        running.grant(1000)
        client.close()
        yield running


def _crash_executor(stack: Stack) -> None:
    if stack.workers:
        stack.kill_worker(stack.workers[0])
        stack.start_worker(stack.workers[0])
    else:
        stack.kill_api()
        stack.restart_api()


def test_a_run_killed_mid_answer_completes_after_restart_and_settles_once(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    # Streams for ~6 s unless killed; the retry answers at once.
    fake_openai.script(
        "fake-light", Reply(FIRST_ANSWER, chunk_chars=10, chunk_delay=0.1), Reply(RECOVERED_ANSWER)
    )
    client: StackClient = stack.client()
    permit = client.permit()
    available_before = client.jira("GET", "/v1/jira/usage").json()["availableCredits"]
    run_id = client.start_run(permit)
    client.wait_for(permit, run_id, frozenset({"processing_remote"}))
    logs_before = client.http.get(f"/v1/tasks/{run_id}/logs", headers={"Authorization": f"Bearer {permit}"})
    while "first token" not in logs_before.text:
        logs_before = client.http.get(
            f"/v1/tasks/{run_id}/logs", headers={"Authorization": f"Bearer {permit}"}
        )

    _crash_executor(stack)
    if stack.workers:
        # The API never went away: it still reports the interrupted run, unsettled.
        assert client.status(permit, run_id)["status"] == "processing_remote"
    status = client.wait_for(permit, run_id, within=90)

    auth = {"Authorization": f"Bearer {permit}"}
    assert status["status"] == "succeeded", stack.tail(stack.workers[0] if stack.workers else None)
    assert client.http.get(f"/v1/tasks/{run_id}/output", headers=auth).text == RECOVERED_ANSWER
    assert len(fake_openai.requests_for("fake-light")) == 2
    logs = client.http.get(f"/v1/tasks/{run_id}/logs", headers=auth).text
    assert "the previous provider call was interrupted" in logs
    assert logs.count("finished:") == 1
    movements = [(kind, reference) for kind, reference, _delta in stack.ledger() if kind != "grant"]
    assert Counter(movements) == Counter({("reserve", run_id): 1, ("settle", run_id): 1})
    charged = -sum(delta for _kind, reference, delta in stack.ledger() if reference == run_id)
    usage = client.jira("GET", "/v1/jira/usage").json()
    assert usage["availableCredits"] == available_before - charged
    # One usage row for the run, however many times the provider was called.
    assert [row["credits"] for row in usage["items"] if row["runId"] == run_id] == [charged]


def test_a_run_killed_before_the_model_answered_anything_still_completes(
    stack: Stack, fake_openai: FakeOpenAI
) -> None:
    # The provider holds the first request for 30 s before its first token.
    fake_openai.script("fake-light", Reply(FIRST_ANSWER, first_delay=30), Reply(RECOVERED_ANSWER))
    client = stack.client()
    permit = client.permit()
    run_id = client.start_run(permit)
    client.wait_for(permit, run_id, frozenset({"processing_remote"}))
    # The state changes just before the HTTP call: kill once the provider really holds the request.
    while not fake_openai.requests_for("fake-light"):
        time.sleep(0.02)

    _crash_executor(stack)
    status = client.wait_for(permit, run_id, within=90)

    assert status["status"] == "succeeded"
    assert client.http.get(
        f"/v1/tasks/{run_id}/output", headers={"Authorization": f"Bearer {permit}"}
    ).text == (RECOVERED_ANSWER)
    kinds = Counter(kind for kind, reference, _delta in stack.ledger() if reference == run_id)
    assert kinds == Counter({"reserve": 1, "settle": 1})
