"""The Jira App's side: a Forge invocation token per call and one request-key chain per session.

Every call sends the chain's current key and takes its successor from the answer, errors
included. Calls on one session are serialised (a lock), so two threads or tasks never race on a
key. A chain the server revoked or let expire is started again once, and the call sent once more
(it was refused before it did anything); a second refusal is raised as `ChainLost`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx

from seecodes_client import models
from seecodes_client._protocol import BOOTSTRAP_PATH, Chain, checked, json_or_none

FitSource = Callable[[], str]


def _link_body(
    project_id: str,
    task_id: str,
    user_account_id: str | None,
    jira_context: dict[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {"projectId": project_id, "taskId": task_id, **extra}
    if user_account_id is not None:
        body["userAccountId"] = user_account_id
    if jira_context is not None:
        body["jiraContext"] = jira_context
    return body


class JiraApp:
    """Synchronous Jira App session. `fit` returns a fresh FIT each time it is called."""

    def __init__(
        self, base_url: str, fit: FitSource, *, timeout: float = 30.0, http: httpx.Client | None = None
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout)
        self._chain = Chain(fit)
        self._lock = threading.Lock()

    def __enter__(self) -> JiraApp:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        """Any Jira App operation by method and path; raises `SeecodesError` on a refusal."""
        with self._lock:
            for attempt in (0, 1):
                if self._chain.key is None:
                    self._chain.started(
                        self._http.post(BOOTSTRAP_PATH, headers=self._chain.bearer(), json={})
                    )
                try:
                    response = self._http.request(
                        method, path, headers=self._chain.headers(), json=json_or_none(json), params=params
                    )
                except httpx.TransportError:
                    self._chain.lost()
                    raise
                if not self._chain.observe(response, first_attempt=attempt == 0):
                    return checked(response)
            raise AssertionError("unreachable: the second attempt never asks for a third")

    def instance(self) -> models.InstanceResponse:
        return models.InstanceResponse.model_validate(self.call("GET", "/v1/instances/me").json())

    def launch_link(
        self,
        project_id: str,
        task_id: str,
        *,
        user_account_id: str | None = None,
        jira_context: dict[str, Any] | None = None,
        **extra: Any,
    ) -> models.VscodeLinkResponse:
        """A one-time launch code for one task and the URLs that carry it (hand one to the IDE)."""
        body = _link_body(project_id, task_id, user_account_id, jira_context, extra)
        return models.VscodeLinkResponse.model_validate(
            self.call("POST", "/v1/security/vscode-link", json=body).json()
        )

    def progress(self, project_id: str, task_id: str) -> models.ProgressResponse:
        answer = self.call("GET", f"/v1/tasks/{task_id}/progress", params={"projectId": project_id})
        return models.ProgressResponse.model_validate(answer.json())

    def usage(self) -> models.UsageResponse:
        return models.UsageResponse.model_validate(self.call("GET", "/v1/jira/usage").json())

    def budgets(self) -> models.BudgetsResponse:
        return models.BudgetsResponse.model_validate(self.call("GET", "/v1/jira/budgets").json())

    def set_budgets(self, document: models.BudgetSettings | dict[str, Any]) -> models.BudgetsResponse:
        """Replaces the whole budget document (fields left out take their defaults)."""
        return models.BudgetsResponse.model_validate(
            self.call("PUT", "/v1/jira/budgets", json=document).json()
        )

    def approvals(self, *, limit: int = 20, cursor: str | None = None) -> models.ApprovalListResponse:
        answer = self.call("GET", "/v1/jira/approvals", params=_page(limit, cursor))
        return models.ApprovalListResponse.model_validate(answer.json())

    def decide(
        self, run_id: str, decision: str, reason: str | None = None
    ) -> models.ApprovalDecisionResponse:
        answer = self.call("POST", f"/v1/jira/approvals/{run_id}", json=_decision(decision, reason))
        return models.ApprovalDecisionResponse.model_validate(answer.json())

    def runs(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> models.RunListResponse:
        answer = self.call("GET", "/v1/jira/runs", params=_runs_query(project_id, task_id, limit, cursor))
        return models.RunListResponse.model_validate(answer.json())

    def cancel(self, run_id: str) -> models.CancelRunResponse:
        return models.CancelRunResponse.model_validate(
            self.call("POST", f"/v1/jira/runs/{run_id}/cancel").json()
        )

    def create_webhook(self, url: str, events: list[str]) -> models.WebhookCreated:
        """Registers an endpoint; the answer's `secret` (whsec_…) is shown this once."""
        answer = self.call("POST", "/v1/jira/webhooks", json={"url": url, "events": events})
        return models.WebhookCreated.model_validate(answer.json())

    def webhooks(self) -> models.WebhookListResponse:
        return models.WebhookListResponse.model_validate(self.call("GET", "/v1/jira/webhooks").json())

    def delete_webhook(self, webhook_id: str) -> models.WebhookRemoved:
        return models.WebhookRemoved.model_validate(
            self.call("DELETE", f"/v1/jira/webhooks/{webhook_id}").json()
        )

    def enable_webhook(self, webhook_id: str) -> models.WebhookResponse:
        return models.WebhookResponse.model_validate(
            self.call("POST", f"/v1/jira/webhooks/{webhook_id}/enable").json()
        )

    def webhook_deliveries(
        self, webhook_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> models.DeliveryListResponse:
        answer = self.call("GET", f"/v1/jira/webhooks/{webhook_id}/deliveries", params=_page(limit, cursor))
        return models.DeliveryListResponse.model_validate(answer.json())


class AsyncJiraApp:
    """The same session for asyncio."""

    def __init__(
        self, base_url: str, fit: FitSource, *, timeout: float = 30.0, http: httpx.AsyncClient | None = None
    ) -> None:
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._chain = Chain(fit)
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> AsyncJiraApp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        async with self._lock:
            for attempt in (0, 1):
                if self._chain.key is None:
                    started = await self._http.post(BOOTSTRAP_PATH, headers=self._chain.bearer(), json={})
                    self._chain.started(started)
                try:
                    response = await self._http.request(
                        method, path, headers=self._chain.headers(), json=json_or_none(json), params=params
                    )
                except httpx.TransportError:
                    self._chain.lost()
                    raise
                if not self._chain.observe(response, first_attempt=attempt == 0):
                    return checked(response)
            raise AssertionError("unreachable: the second attempt never asks for a third")

    async def instance(self) -> models.InstanceResponse:
        return models.InstanceResponse.model_validate((await self.call("GET", "/v1/instances/me")).json())

    async def launch_link(
        self,
        project_id: str,
        task_id: str,
        *,
        user_account_id: str | None = None,
        jira_context: dict[str, Any] | None = None,
        **extra: Any,
    ) -> models.VscodeLinkResponse:
        body = _link_body(project_id, task_id, user_account_id, jira_context, extra)
        answer = await self.call("POST", "/v1/security/vscode-link", json=body)
        return models.VscodeLinkResponse.model_validate(answer.json())

    async def progress(self, project_id: str, task_id: str) -> models.ProgressResponse:
        answer = await self.call("GET", f"/v1/tasks/{task_id}/progress", params={"projectId": project_id})
        return models.ProgressResponse.model_validate(answer.json())

    async def usage(self) -> models.UsageResponse:
        return models.UsageResponse.model_validate((await self.call("GET", "/v1/jira/usage")).json())

    async def budgets(self) -> models.BudgetsResponse:
        return models.BudgetsResponse.model_validate((await self.call("GET", "/v1/jira/budgets")).json())

    async def set_budgets(self, document: models.BudgetSettings | dict[str, Any]) -> models.BudgetsResponse:
        answer = await self.call("PUT", "/v1/jira/budgets", json=document)
        return models.BudgetsResponse.model_validate(answer.json())

    async def approvals(self, *, limit: int = 20, cursor: str | None = None) -> models.ApprovalListResponse:
        answer = await self.call("GET", "/v1/jira/approvals", params=_page(limit, cursor))
        return models.ApprovalListResponse.model_validate(answer.json())

    async def decide(
        self, run_id: str, decision: str, reason: str | None = None
    ) -> models.ApprovalDecisionResponse:
        answer = await self.call("POST", f"/v1/jira/approvals/{run_id}", json=_decision(decision, reason))
        return models.ApprovalDecisionResponse.model_validate(answer.json())

    async def runs(
        self,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> models.RunListResponse:
        answer = await self.call(
            "GET", "/v1/jira/runs", params=_runs_query(project_id, task_id, limit, cursor)
        )
        return models.RunListResponse.model_validate(answer.json())

    async def cancel(self, run_id: str) -> models.CancelRunResponse:
        answer = await self.call("POST", f"/v1/jira/runs/{run_id}/cancel")
        return models.CancelRunResponse.model_validate(answer.json())

    async def create_webhook(self, url: str, events: list[str]) -> models.WebhookCreated:
        answer = await self.call("POST", "/v1/jira/webhooks", json={"url": url, "events": events})
        return models.WebhookCreated.model_validate(answer.json())

    async def webhooks(self) -> models.WebhookListResponse:
        return models.WebhookListResponse.model_validate((await self.call("GET", "/v1/jira/webhooks")).json())

    async def delete_webhook(self, webhook_id: str) -> models.WebhookRemoved:
        answer = await self.call("DELETE", f"/v1/jira/webhooks/{webhook_id}")
        return models.WebhookRemoved.model_validate(answer.json())

    async def enable_webhook(self, webhook_id: str) -> models.WebhookResponse:
        answer = await self.call("POST", f"/v1/jira/webhooks/{webhook_id}/enable")
        return models.WebhookResponse.model_validate(answer.json())

    async def webhook_deliveries(
        self, webhook_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> models.DeliveryListResponse:
        answer = await self.call(
            "GET", f"/v1/jira/webhooks/{webhook_id}/deliveries", params=_page(limit, cursor)
        )
        return models.DeliveryListResponse.model_validate(answer.json())


def _page(limit: int, cursor: str | None) -> dict[str, Any]:
    return {"limit": limit, **({"cursor": cursor} if cursor else {})}


def _runs_query(
    project_id: str | None, task_id: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    query = _page(limit, cursor)
    if project_id is not None:
        query["projectId"] = project_id
    if task_id is not None:
        query["taskId"] = task_id
    return query


def _decision(decision: str, reason: str | None) -> dict[str, Any]:
    return {"decision": decision, **({"reason": reason} if reason is not None else {})}
