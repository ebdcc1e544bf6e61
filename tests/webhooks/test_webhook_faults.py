"""Webhook deliveries across process failures, with real processes: a PostgreSQL fleet (one API
process that only enqueues, one `seecodes worker` that delivers) and a receiver in a process of its
own, each killed with SIGKILL mid-back-off.

Every request the receiver logs is verified with the `standardwebhooks` library.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.stack import Stack, StackClient
from tests.support.webhook_receiver import Received, read_log, verify

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
PROGRESS = {"ready": ["a"], "left": ["b"], "progress": "10%", "confidence": "Low", "risks": [], "logs": []}
WAIT_SECONDS = 2.0


@pytest.fixture(scope="module")
def stack(fake_openai_server: FakeOpenAI) -> Iterator[Stack]:
    with Stack(
        backend="postgres",
        model_base_url=fake_openai_server.base_url,
        run_workers=1,
        settings={
            "SEECODES_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "SEECODES_WEBHOOK_RETRY_SECONDS": ",".join([str(WAIT_SECONDS)] * 6),
        },
    ) as running:
        yield running


class ReceiverProcess:
    def __init__(self, directory: Path, statuses: str = "") -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = directory / f"receiver-{self.port}.jsonl"
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.process: subprocess.Popen[bytes] | None = None
        self.start(statuses)

    def start(self, statuses: str = "") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.webhook_receiver", str(self.port), str(self.log), statuses],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().startswith(b"listening")

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def wait_for(self, count: int, within: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(received := read_log(self.log)) < count:
            assert time.monotonic() < deadline, f"{len(received)} of {count} requests arrived"
            time.sleep(0.05)
        return received


def _register(client: StackClient, url: str) -> dict[str, Any]:
    answer = client.jira("POST", "/v1/jira/webhooks", json={"url": url, "events": ["progress.saved"]})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _deliveries(client: StackClient, webhook_id: str) -> list[dict[str, Any]]:
    answer = client.jira("GET", f"/v1/jira/webhooks/{webhook_id}/deliveries")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _progress(client: StackClient, permit: str) -> None:
    saved = client.http.post(
        "/v1/tasks/AUTH-128/progress", headers={"Authorization": f"Bearer {permit}"}, json=PROGRESS
    )
    assert saved.status_code == 200, saved.text


def test_a_receiver_killed_and_restarted_mid_back_off_still_gets_the_event(stack: Stack) -> None:
    client = stack.client()
    receiver = ReceiverProcess(stack.directory, statuses="500")
    try:
        permit = client.permit()
        created = _register(client, receiver.url)

        _progress(client, permit)
        [first] = receiver.wait_for(1)  # answered 500: the delivery now waits to try again
        receiver.kill()
        deadline = time.monotonic() + 30
        while (log := _deliveries(client, created["id"]))[0]["attempts"] < 2:
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        receiver.start()
        [_, last] = receiver.wait_for(2)
    finally:
        receiver.close()
        client.close()

    assert (first.status, last.status) == (500, 200)
    assert first.webhook_id == last.webhook_id
    assert verify(created["secret"], last)["type"] == "progress.saved"
    assert log[0]["lastStatusCode"] is None  # the attempt while it was down: no answer at all
    deadline = time.monotonic() + 10
    while (final := _deliveries(stack.client(), created["id"])[0])["status"] != "delivered":
        assert time.monotonic() < deadline, final
        time.sleep(0.1)
    assert final["attempts"] == 3


def test_a_worker_killed_mid_back_off_delivers_once_it_is_back(stack: Stack) -> None:
    client = stack.client()
    receiver = ReceiverProcess(stack.directory, statuses="500")
    try:
        permit = client.permit()
        created = _register(client, receiver.url)

        _progress(client, permit)
        [first] = receiver.wait_for(1)
        stack.kill_worker(stack.workers[0])  # while its delivery workflow sleeps
        time.sleep(WAIT_SECONDS + 0.5)  # past the wait: nobody is there to try again
        nothing_more = len(read_log(receiver.log))
        stack.start_worker(stack.workers[0])
        [_, last] = receiver.wait_for(2, within=90)
    finally:
        receiver.close()
        client.close()

    assert nothing_more == 1
    assert (first.status, last.status) == (500, 200)
    assert first.webhook_id == last.webhook_id
    assert verify(created["secret"], last)["data"]["progress"] == "10%"
