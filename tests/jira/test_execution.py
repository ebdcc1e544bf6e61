"""Execution tickets: generate (checklist, run output, model), push with priority mapping, sync."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from seecodes.config import Settings
from seecodes.jira.execution import generator
from seecodes.models import ExecutionTicket, Run
from seecodes.runs.catalog import Catalog, ModelSpec
from seecodes.runs.layout import output_key
from seecodes.runs.providers.base import StreamEvent, TextDelta, Usage
from tests.support.app import runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_atlassian import FakeAtlassian
from tests.support.forge import CLOUD_A, INSTALLATION_A, JiraAppClient

PLAN = """# Release plan
- [ ] [P0] Block the release on the token rotation fix #security
  Rotate refresh tokens under a lock.
- [ ] [P1] Add the status page #web
- [ ] P2 Write the migration notes
- [ ] P3 - Polish the docs
- [ ] Tidy the changelog
"""


async def _generate(jira: JiraAppClient, **body: Any) -> list[dict[str, Any]]:
    response = await jira.call("POST", "/v1/execution/generate", json=body)
    assert response.status_code == 200, response.text
    tickets: list[dict[str, Any]] = response.json()["tickets"]
    return tickets


async def _push(jira: JiraAppClient, ids: list[str], project: str = "AUTH") -> httpx.Response:
    return await jira.call("POST", "/v1/execution/push", json={"ticketIds": ids, "projectKey": project})


async def test_a_checklist_document_becomes_tickets(installed: JiraAppClient) -> None:
    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": PLAN})
    listed = await installed.call(
        "GET", "/v1/execution/tickets", params={"batchId": response.json()["batchId"]}
    )

    body = response.json()
    assert body["source"] == "checklist"
    assert [(t["title"], t["priority"], t["labels"]) for t in body["tickets"]] == [
        ("Block the release on the token rotation fix", "P0", ["security"]),
        ("Add the status page", "P1", ["web"]),
        ("Write the migration notes", "P2", []),
        ("Polish the docs", "P3", []),
        ("Tidy the changelog", None, []),
    ]
    assert body["tickets"][0]["description"] == "Rotate refresh tokens under a lock."
    assert [t["id"] for t in listed.json()["tickets"]] == [t["id"] for t in body["tickets"]]


async def test_a_runs_output_becomes_tickets(
    installed: JiraAppClient, app: FastAPI, clock: FixedClock
) -> None:
    runtime = runtime_of(app)
    now = clock.utcnow()
    run = Run(
        id="run_0123456789abcdef",
        installation_id=INSTALLATION_A,
        project_id="AUTH",
        task_id="AUTH-128",
        user_account_id="557058:aaaa-1111",
        model="test",
        files=[],
        storage_prefix="runs/run_0123456789abcdef/",
        status="succeeded",
        created_at=now,
        updated_at=now,
    )
    async with runtime.db.transaction() as session:
        session.add(run)
    await runtime.storage.write(output_key(run), PLAN.encode(), content_type="text/markdown")

    tickets = await _generate(installed, runId=run.id)
    other = await installed.call("POST", "/v1/execution/generate", json={"runId": "run_unknown"})

    assert len(tickets) == 5
    assert tickets[0]["runId"] == run.id
    assert other.status_code == 404
    assert other.json()["error"] == "run_not_found"


class _ScriptedModel:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.prompts: list[tuple[str, str]] = []

    async def stream(self, system: str, user: str, *, max_output_tokens: int) -> AsyncIterator[StreamEvent]:
        self.prompts.append((system, user))
        for start in range(0, len(self.answer), 7):
            yield TextDelta(self.answer[start : start + 7])
        yield Usage(input_tokens=10, output_tokens=10)

    async def close(self) -> None:
        return None


@pytest.fixture
def scripted_model(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> _ScriptedModel:
    model = _ScriptedModel("")
    spec = ModelSpec.model_validate(
        {
            "id": "planner",
            "max_context": 8192,
            "pricing": {"base": 0, "per_token": 0},
            "provider": {"kind": "openai", "model": "planner", "base_url": "http://127.0.0.1:9/v1"},
        }
    )
    runtime_of(app).catalog = Catalog([spec], source="test")

    def factory(_spec: ModelSpec, _settings: Settings) -> _ScriptedModel:
        return model

    monkeypatch.setattr(generator, "build_provider", factory)
    return model


async def test_prose_is_drafted_by_the_model_and_validated(
    installed: JiraAppClient, scripted_model: _ScriptedModel, engine: None
) -> None:
    scripted_model.answer = json.dumps(
        {
            "tickets": [
                {
                    "title": "Rotate tokens",
                    "description": "Under a lock.",
                    "priority": "P0",
                    "labels": ["auth"],
                }
            ]
        }
    )

    response = await installed.call(
        "POST", "/v1/execution/generate", json={"markdown": "We must rotate tokens."}
    )

    assert response.status_code == 200
    assert response.json()["source"] == "ai"
    assert [(t["title"], t["priority"]) for t in response.json()["tickets"]] == [("Rotate tokens", "P0")]
    system, user = scripted_model.prompts[0]
    assert system == generator.SYSTEM_PROMPT
    assert user.endswith("We must rotate tokens.")


async def test_an_invalid_model_answer_stores_nothing(
    installed: JiraAppClient, scripted_model: _ScriptedModel, app: FastAPI, engine: None
) -> None:
    scripted_model.answer = '{"tickets": [{"title": "", "priority": "urgent"}]}'

    response = await installed.call("POST", "/v1/execution/generate", json={"markdown": "Some prose."})

    assert response.status_code == 502
    assert response.json()["error"] == "ticket_generation_failed"
    async with runtime_of(app).db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ExecutionTicket)) == 0


async def test_push_creates_one_issue_per_ticket_with_mapped_priorities(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    tickets = await _generate(connected, markdown=PLAN)

    response = await _push(connected, [t["id"] for t in tickets])

    results = response.json()["results"]
    assert response.status_code == 200
    assert [r["outcome"] for r in results] == ["created"] * 5
    assert [r["priority"]["applied"] for r in results] == ["Highest", "High", "Medium", "Low", "Medium"]
    assert not any(r["priority"]["fallback"] for r in results)
    first = atlassian.issue(CLOUD_A, results[0]["issueKey"])
    assert first.id == results[0]["issueId"]
    assert results[0]["url"] == f"https://tenant-a.atlassian.net/browse/{first.key}"
    assert first.summary == "Block the release on the token rotation fix"
    assert first.labels == ["security"]
    assert first.description["type"] == "doc"
    assert first.priority == {"id": "1", "name": "Highest"}


async def test_pushing_a_pushed_ticket_again_creates_nothing(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    tickets = await _generate(connected, markdown=PLAN)
    ids = [t["id"] for t in tickets[:2]]
    first = await _push(connected, ids)

    again = await _push(connected, ids)

    assert [r["outcome"] for r in again.json()["results"]] == ["already_pushed", "already_pushed"]
    assert [r["issueKey"] for r in again.json()["results"]] == [
        r["issueKey"] for r in first.json()["results"]
    ]
    assert atlassian.count("POST", r"/rest/api/3/issue$") == 2


async def test_concurrent_pushes_of_one_ticket_create_one_issue(
    connected: JiraAppClient, atlassian: FakeAtlassian, client: httpx.AsyncClient, operator: str
) -> None:
    (ticket,) = [t for t in await _generate(connected, markdown="- [ ] Only one") if t]
    body = {"ticketIds": [ticket["id"]], "projectKey": "AUTH"}
    headers = {"Authorization": f"Bearer {operator}"}

    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/execution/push", params={"installationId": INSTALLATION_A}, json=body, headers=headers
            )
            for _ in range(3)
        )
    )

    outcomes = sorted(r.json()["results"][0]["outcome"] for r in responses)
    assert outcomes.count("created") == 1
    assert set(outcomes) <= {"created", "already_pushed", "in_progress"}
    assert atlassian.count("POST", r"/rest/api/3/issue$") == 1


async def test_a_scheme_without_highest_falls_back_and_says_so(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    (urgent,) = await _generate(connected, markdown="- [ ] [P0] Page the on-call")

    response = await _push(connected, [urgent["id"]], project="OPS")

    (result,) = response.json()["results"]
    assert result["outcome"] == "created"
    assert result["priority"] == {
        "requested": "Highest",
        "applied": "High",
        "fallback": True,
        "note": result["priority"]["note"],
    }
    assert "no 'Highest'" in result["priority"]["note"]
    assert atlassian.issue(CLOUD_A, result["issueKey"]).priority == {"id": "2", "name": "High"}
    # Read from the create metadata (read:jira-work), never the deprecated /priority/search.
    assert atlassian.count("GET", r"/issue/createmeta/\d+/issuetypes/10001$") == 1
    assert atlassian.count("GET", r"/priority/search") == 0


async def test_a_create_screen_without_priority_creates_without_one_and_says_so(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    atlassian.add_project(CLOUD_A, "BARE", "No priorities", priorities=[])
    (ticket,) = await _generate(connected, markdown="- [ ] [P1] Anything")

    response = await _push(connected, [ticket["id"]], project="BARE")

    (result,) = response.json()["results"]
    assert result["outcome"] == "created"
    assert result["priority"]["applied"] is None
    assert "no priority" in result["priority"]["note"]
    assert atlassian.issue(CLOUD_A, result["issueKey"]).priority == {
        "id": "3",
        "name": "Medium",
    }  # its default


async def test_sync_reads_status_and_follows_a_moved_issue_by_id(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    (ticket,) = await _generate(connected, markdown="- [ ] [P1] Move me #web")
    (pushed,) = (await _push(connected, [ticket["id"]])).json()["results"]
    issue = atlassian.issue(CLOUD_A, pushed["issueKey"])
    new_key = atlassian.move_issue(CLOUD_A, issue.id, "WEB")
    issue.status, issue.category, issue.labels = "In Progress", "indeterminate", ["web", "moved"]

    response = await connected.call("POST", "/v1/execution/sync", json={"ticketIds": [ticket["id"]]})

    (result,) = response.json()["results"]
    assert result["outcome"] == "moved"
    jira = result["ticket"]["jira"]
    assert jira["issueId"] == issue.id
    assert jira["issueKey"] == new_key
    assert jira["projectKey"] == "WEB"
    assert jira["url"] == f"https://tenant-a.atlassian.net/browse/{new_key}"
    assert (jira["status"], jira["statusCategory"]) == ("In Progress", "indeterminate")
    assert jira["priority"] == "High"
    assert jira["labels"] == ["web", "moved"]
    assert atlassian.count("GET", rf"/rest/api/3/issue/{issue.id}$") == 1  # by id, not by the old key


async def test_without_a_connection_push_is_404_no_active_integration(installed: JiraAppClient) -> None:
    (ticket,) = await _generate(installed, markdown="- [ ] Something")

    response = await _push(installed, [ticket["id"]])

    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert response.json()["error"] == "no_active_integration"


async def test_unknown_tickets_are_404(connected: JiraAppClient) -> None:
    response = await _push(connected, ["tkt_unknown"])

    assert response.status_code == 404
    assert response.json()["error"] == "ticket_not_found"


async def test_a_long_rate_limit_answers_503_with_retry_after(
    connected: JiraAppClient, atlassian: FakeAtlassian
) -> None:
    (ticket,) = await _generate(connected, markdown="- [ ] Something")
    atlassian.rate_limit("/rest/api/3/project/", times=1, retry_after=120)

    response = await _push(connected, [ticket["id"]])

    assert response.status_code == 503
    assert response.json()["error"] == "jira_rate_limited"
    assert response.headers["retry-after"] == "120"


async def test_a_short_rate_limit_is_waited_out(connected: JiraAppClient, atlassian: FakeAtlassian) -> None:
    (ticket,) = await _generate(connected, markdown="- [ ] Something")
    atlassian.rate_limit("/rest/api/3/issue$", times=1, retry_after=0.2)  # the create itself

    response = await _push(connected, [ticket["id"]])

    assert response.json()["results"][0]["outcome"] == "created"
    assert atlassian.count("POST", r"/rest/api/3/issue$") == 2


async def test_an_unknown_project_is_422(connected: JiraAppClient) -> None:
    (ticket,) = await _generate(connected, markdown="- [ ] Something")

    response = await _push(connected, [ticket["id"]], project="NOPE")

    assert response.status_code == 422
    assert "NOPE" in response.json()["detail"]


async def test_after_a_disconnect_sync_is_404_no_active_integration(connected: JiraAppClient) -> None:
    (ticket,) = await _generate(connected, markdown="- [ ] Something")
    await _push(connected, [ticket["id"]])
    await connected.call("POST", "/v1/integrations/jira/disconnect")

    response = await connected.call("POST", "/v1/execution/sync", json={"ticketIds": [ticket["id"]]})

    assert response.status_code == 404
    assert response.json() == {
        "ok": False,
        "error": "no_active_integration",
        "detail": response.json()["detail"],
    }
