"""`seecodes demo`: the whole product flow against a running server, as the Jira App and the IDE
drive it, one visible step at a time.

Jira App side: a FIT signed by the local dev key → request key → vscode-link (the launch code).
IDE side: launch exchange (code → task permit) → context → init → upload `list.md` → start →
follow the run until it settles → output and credits.

It talks to the server over HTTP only, like a real client; the dev key and (when the installation
has no credits) the operator's credit grant come from this machine's settings, which is why the
demo refuses to run in production.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seecodes.models.run import SETTLED, RunStatus

DEMO_INSTALLATION = "0a3a7799-0000-4000-8000-00000000de40"
DEMO_CLOUD_ID = "d0d52620-3203-4cfa-8db5-f2587155f0dd"
DEMO_SITE_URL = "https://demo.atlassian.net"
DEMO_PRINCIPAL = "557058:seecodes-demo"
REQUEST_KEY_HEADER = "X-SeeCodes-Jira-Request-Key"
NEXT_KEY_HEADER = "X-SeeCodes-Next-Request-Key"
DEMO_LIST = """# Release checklist

- [ ] Summarise what changed in the login flow for the changelog
- [ ] List two risks of shipping it on a Friday
"""
# Where a run is on its way to settling; the bar advances one step per state.
STAGES = (*(status.value for status in RunStatus if status not in SETTLED), "settled")


class DemoFailed(Exception):
    """A step answered something other than what the flow needs; the message says which."""


@dataclass(frozen=True)
class DemoResult:
    run_id: str
    status: str
    error: str | None
    output: str
    credits_charged: int | None
    available_credits: int


@dataclass
class DemoClient:
    http: httpx.Client
    mint_fit: Callable[[], str]
    request_key: str | None = None

    def jira(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A Jira App call: a fresh FIT and the current request key, rotated on every answer."""
        headers = {"Authorization": f"Bearer {self.mint_fit()}"}
        if self.request_key is not None:
            headers[REQUEST_KEY_HEADER] = self.request_key
        response = self.http.request(method, path, headers=headers, **kwargs)
        self.request_key = response.headers.get(NEXT_KEY_HEADER, self.request_key)
        return _body(response, f"{method} {path}")

    def ide(self, method: str, path: str, permit: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {permit}"}, **kwargs)
        _body(response, f"{method} {path}", json_body=False)
        return response


def _body(response: httpx.Response, step: str, *, json_body: bool = True) -> dict[str, Any]:
    if response.is_success:
        return response.json() if json_body else {}
    try:
        detail = response.json()
    except ValueError:
        detail = response.text[:300]
    raise DemoFailed(f"{step} answered {response.status_code}: {detail}")


def run_demo(
    *,
    base_url: str,
    mint_fit: Callable[[], str],
    grant_credits: Callable[[int], int],
    console: Console,
    project: str,
    task: str,
    model: str | None,
    prompt: str,
    timeout: float,
) -> DemoResult:
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        client = DemoClient(http, mint_fit)

        client.request_key = client.jira("POST", "/v1/jira/request-key")["requestKey"]
        console.print("[bold]Jira App[/bold]  FIT signed by the dev key → request key")
        link = client.jira(
            "POST",
            "/v1/security/vscode-link",
            json={
                "projectId": project,
                "taskId": task,
                "userAccountId": DEMO_PRINCIPAL,
                "jiraContext": {"title": f"{task}: prepare the release notes", "descriptionMd": DEMO_LIST},
            },
        )
        # The code is spent a moment later, but a terminal is no place for credentials either.
        launcher = str(link["httpsUrl"]).replace(str(link["launchCode"]), "sc_launch_…")
        console.print(f"[bold]Jira App[/bold]  one-time launch link minted: {launcher}", soft_wrap=True)

        exchanged = _body(
            http.post(
                "/v1/security/launch-exchange",
                json={"code": link["launchCode"], "projectId": project, "taskId": task},
            ),
            "POST /v1/security/launch-exchange",
        )
        permit = str(exchanged["permit"])
        console.print(f"[bold]IDE[/bold]       launch code exchanged for a task permit on {project}/{task}")
        context = client.ide("GET", "/v1/tasks/context", permit).json()
        console.print(f"[bold]IDE[/bold]       context: {context['context'].get('title', '(untitled)')}")

        available = _available_credits(client)
        if available < 50:
            # A fresh installation starts at zero: top it up the way an operator would.
            available = grant_credits(200)
            console.print(f"[bold]operator[/bold]  granted 200 demo credits (balance {available})")

        init_body: dict[str, Any] = {"files": ["list.md"]}
        if model is not None:
            init_body["model"] = model
        created = client.ide("POST", "/v1/tasks/init", permit, json=init_body).json()
        run_id = str(created["runId"])
        upload = httpx.URL(created["uploads"]["list.md"])
        _body(http.put(upload, content=DEMO_LIST.encode()), "PUT list.md", json_body=False)
        console.print(f"[bold]IDE[/bold]       run {run_id} created, list.md uploaded")
        started = client.ide("POST", f"/v1/tasks/{run_id}/start", permit, json={"userPrompt": prompt}).json()
        console.print(
            f"[bold]IDE[/bold]       started: {started['estimatedInputTokens']} input tokens estimated, "
            f"{started['estimatedCredits']} credits reserved"
        )

        status = _follow(client, permit, run_id, console, timeout)
        succeeded = status["status"] == RunStatus.SUCCEEDED
        output = client.ide("GET", f"/v1/tasks/{run_id}/output", permit).text if succeeded else ""
        telemetry = client.ide("GET", f"/v1/tasks/{run_id}/telemetry", permit).json()
        return DemoResult(
            run_id=run_id,
            status=status["status"],
            error=status.get("error"),
            output=output,
            credits_charged=telemetry.get("creditsCharged"),
            available_credits=_available_credits(client),
        )


def _available_credits(client: DemoClient) -> int:
    return int(client.jira("GET", "/v1/jira/usage")["availableCredits"])


def _follow(client: DemoClient, permit: str, run_id: str, console: Console, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("queued", total=len(STAGES) - 1)
        while True:
            status: dict[str, Any] = client.ide("GET", f"/v1/tasks/{run_id}", permit).json()["status"]
            state = str(status["status"])
            step = len(STAGES) - 1 if state in SETTLED else STAGES.index(state)
            progress.update(bar, completed=step, description=state)
            if state in SETTLED:
                return status
            if time.monotonic() > deadline:
                raise DemoFailed(f"run {run_id} still {state} after {timeout:.0f} s (it keeps running)")
            time.sleep(0.2)
