"""clients/python (seecodes_client) against a live server on loopback (SQLite, one process that
also executes runs): the Jira App → IDE → run flow, and the protocol's hard parts: two calls
racing on one chain, a chain revoked by the server, a launch code exchanged twice, an event
stream cut mid-run and resumed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from seecodes_client import (
    AsyncIde,
    AsyncJiraApp,
    ChainLost,
    Ide,
    JiraApp,
    Launch,
    LaunchCodeRefused,
    SeecodesError,
)
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import REQUEST_KEY_HEADER
from tests.support.stack import Stack
from tests.support.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.slow
CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as model:
        yield model


@pytest.fixture(scope="module")
def stack(fake_model: FakeOpenAI) -> Iterator[Stack]:
    with Stack(
        backend="sqlite",
        model_base_url=fake_model.base_url,
        settings={"SEECODES_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "SEECODES_WEBHOOK_RETRY_SECONDS": "0.2"},
    ) as stack:
        yield stack


@pytest.fixture
def jira(stack: Stack) -> Iterator[JiraApp]:
    with JiraApp(stack.base_url, fit=lambda: stack.forge.fit(lifetime=120)) as session:
        session.instance()  # the installation exists from here on
        stack.grant(10_000)
        yield session


def _ide(stack: Stack, jira: JiraApp, task: str = "AUTH-128") -> Ide:
    link = jira.launch_link("AUTH", task, jira_context={"title": f"{task}: the release notes"})
    return Ide.exchange(stack.base_url, link.httpsUrl)


def test_the_models_are_generated_from_the_current_document() -> None:
    checked = subprocess.run(
        [sys.executable, str(CLIENT / "generate.py"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stderr


def test_the_jira_app_to_ide_to_run_flow(stack: Stack, jira: JiraApp, fake_model: FakeOpenAI) -> None:
    fake_model.script("fake-light", Reply("1. Done the list."))
    with _ide(stack, jira) as ide:
        assert ide.context().context["title"] == "AUTH-128: the release notes"
        started = ide.run({"list.md": b"- [ ] the release notes"}, prompt="do the list")
        heard: list[str] = []
        settled = ide.wait(started.runId, on_status=lambda status: heard.append(status.status), poll=0.1)
        assert settled.status == "succeeded"
        assert heard[-1] == "succeeded"
        assert ide.output(started.runId) == "1. Done the list."
        kinds = [event.kind for event in ide.follow(started.runId)]
        assert kinds[-1] == "end"
        assert "output" in kinds
        ide.save_progress({"progress": "50%", "confidence": "medium", "ready": ["the notes"]})
        assert jira.progress("AUTH", "AUTH-128").progress is not None
        assert ide.runs().items[0].runId == started.runId


def test_two_calls_racing_on_one_chain_are_serialised_and_neither_is_refused(jira: JiraApp) -> None:
    failures: list[BaseException] = []

    def call() -> None:
        try:
            for _ in range(5):
                jira.instance()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []


def test_a_chain_the_server_revoked_is_started_again_once(stack: Stack, jira: JiraApp) -> None:
    jira.instance()
    spent = jira._chain.key
    assert spent is not None
    # Someone else spends the session's key: the session's next call presents a spent key, the
    # server refuses it and revokes the chain, and the session starts a new chain once.
    with httpx.Client(base_url=stack.base_url) as other:
        other.get(
            "/v1/instances/me",
            headers={"Authorization": f"Bearer {stack.forge.fit()}", REQUEST_KEY_HEADER: spent},
        ).raise_for_status()
    assert jira.instance().status == "active"
    assert jira._chain.key != spent


def test_a_chain_refused_again_after_its_restart_is_raised(stack: Stack) -> None:
    other = httpx.Client(base_url=stack.base_url)

    def spend_first(request: httpx.Request) -> None:
        # Every key this session presents was already spent by someone else.
        key = request.headers.get(REQUEST_KEY_HEADER)
        if key:
            other.get(
                "/v1/instances/me",
                headers={"Authorization": f"Bearer {stack.forge.fit()}", REQUEST_KEY_HEADER: key},
            )

    http = httpx.Client(base_url=stack.base_url, event_hooks={"request": [spend_first]})
    with JiraApp(stack.base_url, fit=stack.forge.fit, http=http) as session, pytest.raises(ChainLost) as lost:
        session.instance()
    other.close()
    assert lost.value.code == "request_key_replayed"


def test_a_launch_code_exchanged_twice_is_refused_and_says_why(stack: Stack, jira: JiraApp) -> None:
    link = jira.launch_link("AUTH", "AUTH-129")
    first = Ide.exchange(stack.base_url, link.vscodeUrl)
    assert Launch.parse(link.vscodeUrl) == Launch.parse(link.httpsUrl)
    with pytest.raises(LaunchCodeRefused) as refused:
        Ide.exchange(stack.base_url, link.httpsUrl)
    assert refused.value.code == "launch_code_replayed"
    assert "permit is now revoked" in refused.value.detail
    # As the contract says: the replay revoked the permit the first exchange minted.
    with pytest.raises(SeecodesError) as revoked:
        first.context()
    assert revoked.value.status == 401
    first.close()


class _CutOnce(httpx.BaseTransport):
    """Cuts the first event stream after `after` bytes, as a dropped connection would."""

    def __init__(self, after: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._after = after
        self.cut = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if request.url.path.endswith("/events") and not self.cut:
            self.cut = True
            stream, after = response.stream, self._after

            class Cut(httpx.SyncByteStream):
                def __iter__(self) -> Iterator[bytes]:
                    sent = 0
                    for chunk in stream:  # type: ignore[union-attr]
                        if sent + len(chunk) > after:
                            yield chunk[: max(0, after - sent)]
                            raise httpx.ReadError("connection cut")
                        sent += len(chunk)
                        yield chunk

                def close(self) -> None:
                    stream.close()  # type: ignore[union-attr]

            response.stream = Cut()
        return response

    def close(self) -> None:
        self._inner.close()


def test_an_event_stream_cut_mid_run_resumes_without_a_duplicate_or_a_gap(
    stack: Stack, jira: JiraApp, fake_model: FakeOpenAI
) -> None:
    fake_model.script("fake-light", Reply("word " * 40, chunk_chars=5, chunk_delay=0.05))
    with _ide(stack, jira, task="AUTH-130") as ide:
        run = ide.run({"list.md": b"- [ ] cut me"}, prompt="slowly")
        transport = _CutOnce(after=2048 + 600)  # past the proxy padding, into the events
        http = httpx.Client(base_url=stack.base_url, transport=transport)
        with Ide(stack.base_url, ide.permit, http=http) as cut:
            resumed = list(cut.follow(run.runId))
        assert transport.cut
        whole = list(ide.follow(run.runId))
    assert [event.id for event in resumed] == [event.id for event in whole]
    numbered = [event.id for event in resumed if event.id is not None]
    assert len(set(numbered)) == len(numbered) == len(resumed) - 1  # all but `end`
    assert "".join(event.text for event in resumed if event.kind == "output") == "word " * 40


def test_the_async_sessions_run_the_same_flow(stack: Stack, fake_model: FakeOpenAI) -> None:
    fake_model.script("fake-light", Reply("async answer"))

    async def flow() -> tuple[str, list[Any]]:
        async with AsyncJiraApp(stack.base_url, fit=stack.forge.fit) as jira:
            results = await asyncio.gather(*(jira.instance() for _ in range(3)))  # one chain, serialised
            link = await jira.launch_link("AUTH", "AUTH-131")
        ide = await AsyncIde.exchange(stack.base_url, link.httpsUrl)
        async with ide:
            run_id = await ide.create_run({"list.md": b"- [ ] async"})
            await ide.start(run_id, prompt="go")
            assert (await ide.wait(run_id, poll=0.1)).status == "succeeded"
            kinds = [event.kind async for event in ide.follow(run_id)]
            assert kinds[-1] == "end"
            return await ide.output(run_id), results

    output, results = asyncio.run(flow())
    assert output == "async answer"
    assert len(results) == 3


def test_budgets_approvals_follow_ups_and_share_links_through_the_library(
    stack: Stack, jira: JiraApp, fake_model: FakeOpenAI
) -> None:
    fake_model.script("fake-light", Reply("first"), Reply("second"))
    jira.set_budgets({"approvalThreshold": 0, "projects": {"AUTH": {"monthlyCredits": 10_000}}})
    with _ide(stack, jira) as ide:
        waiting = ide.run({"list.md": b"- [ ] gated"}, prompt="go")
        assert waiting.status == "awaiting_approval"
        assert [item.runId for item in jira.approvals().items] == [waiting.runId]
        assert jira.decide(waiting.runId, "approved", "fine").status == "queued"
        assert ide.wait(waiting.runId, poll=0.1).status == "succeeded"
        jira.set_budgets({})
        follow = ide.follow_up(waiting.runId, "now shorter")
        assert ide.wait(follow.runId, poll=0.1).status == "succeeded"
        link = ide.share(follow.runId)
        assert "/v1/share/sc_share_" in link.url
        assert ide.revoke_shares(follow.runId) == 1
        listed = jira.runs(project_id="AUTH", task_id="AUTH-128")
        assert {item.runId for item in listed.items} >= {waiting.runId, follow.runId}
        assert next(item for item in listed.items if item.runId == follow.runId).parentRunId == waiting.runId
    budgets = jira.budgets()
    assert budgets.projects == {}
    assert budgets.spent > 0


def test_webhooks_through_the_library(stack: Stack, jira: JiraApp) -> None:
    with Receiver(statuses=[500]) as receiver:
        created = jira.create_webhook(receiver.url, ["progress.saved"])
        with _ide(stack, jira) as ide:
            ide.save_progress(
                {"ready": [], "left": ["x"], "progress": "5%", "confidence": "Low", "risks": [], "logs": []}
            )
        arrived = asyncio.run(receiver.wait_for(2))
        deliveries = jira.webhook_deliveries(created.id)
        listed = jira.webhooks()
        disabled_not = jira.enable_webhook(created.id)
        removed = jira.delete_webhook(created.id)

    assert created.secret.startswith("whsec_")
    assert [request.status for request in arrived] == [500, 200]
    assert verify(created.secret, arrived[-1])["type"] == "progress.saved"
    assert deliveries.items[0].id == arrived[-1].webhook_id
    assert [item.id for item in listed.items] == [created.id]
    assert disabled_not.webhook.enabled is True
    assert removed.id == created.id
    with pytest.raises(SeecodesError) as refused:
        jira.create_webhook("https://10.0.0.1/hooks", ["run.failed"])
    assert refused.value.code == "webhook_address_refused"
