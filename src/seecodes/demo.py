"""`seecodes demo`: the whole product flow against a running server, as the Jira App and the IDE
drive it, one visible step at a time.

Jira App side: a FIT signed by the local dev key → request key → vscode-link (the launch code).
IDE side: launch exchange (code → task permit) → context → init → upload `list.md` → start →
follow the run until it settles → output and credits.

It talks to the server over HTTP only, through the Python client library (clients/python); the dev key and (when the installation
has no credits) the operator's credit grant come from this machine's settings, which is why the
demo refuses to run in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from seecodes.models.run import SETTLED, RunStatus
from seecodes_client import Ide, JiraApp, SeecodesError
from seecodes_client.models import RunStatusDocument

DEMO_INSTALLATION = "0a3a7799-0000-4000-8000-00000000de40"
DEMO_CLOUD_ID = "d0d52620-3203-4cfa-8db5-f2587155f0dd"
DEMO_SITE_URL = "https://demo.atlassian.net"
DEMO_PRINCIPAL = "557058:seecodes-demo"
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
    try:
        with JiraApp(base_url, fit=mint_fit) as jira:
            return _flow(
                jira, base_url, grant_credits, console, DemoTask(project, task, model, prompt, timeout)
            )
    except SeecodesError as refused:
        raise DemoFailed(
            f"the server answered {refused.status} {refused.code}: {refused.detail}"
        ) from refused


@dataclass(frozen=True)
class DemoTask:
    project: str
    task: str
    model: str | None
    prompt: str
    timeout: float


def _flow(
    jira: JiraApp, base_url: str, grant_credits: Callable[[int], int], console: Console, job: DemoTask
) -> DemoResult:
    project, task, model, prompt, timeout = job.project, job.task, job.model, job.prompt, job.timeout
    jira.instance()
    console.print("[bold]Jira App[/bold]  FIT signed by the dev key → request key")
    link = jira.launch_link(
        project,
        task,
        user_account_id=DEMO_PRINCIPAL,
        jira_context={"title": f"{task}: prepare the release notes", "descriptionMd": DEMO_LIST},
    )
    # The code is spent a moment later, but a terminal is no place for credentials either.
    launcher = link.httpsUrl.replace(link.launchCode, "sc_launch_…")
    console.print(f"[bold]Jira App[/bold]  one-time launch link minted: {launcher}", soft_wrap=True)

    with Ide.exchange(base_url, link.httpsUrl) as ide:
        console.print(f"[bold]IDE[/bold]       launch code exchanged for a task permit on {project}/{task}")
        context = ide.context().context or {}
        console.print(f"[bold]IDE[/bold]       context: {context.get('title', '(untitled)')}")

        available = jira.usage().availableCredits
        if available < 50:
            # A fresh installation starts at zero: top it up the way an operator would.
            available = grant_credits(200)
            console.print(f"[bold]operator[/bold]  granted 200 demo credits (balance {available})")

        run_id = ide.create_run({"list.md": DEMO_LIST.encode()}, model=model)
        console.print(f"[bold]IDE[/bold]       run {run_id} created, list.md uploaded")
        started = ide.start(run_id, prompt=prompt)
        console.print(
            f"[bold]IDE[/bold]       started: {started.estimatedInputTokens} input tokens estimated, "
            f"{started.estimatedCredits} credits reserved"
        )
        status = _follow(ide, run_id, console, timeout)
        succeeded = status.status == RunStatus.SUCCEEDED.value
        output = ide.output(run_id) if succeeded else ""
        telemetry = ide.call("GET", f"/v1/tasks/{run_id}/telemetry").json()
        return DemoResult(
            run_id=run_id,
            status=status.status,
            error=status.error,
            output=output,
            credits_charged=telemetry.get("creditsCharged"),
            available_credits=jira.usage().availableCredits,
        )


def _follow(ide: Ide, run_id: str, console: Console, timeout: float) -> RunStatusDocument:
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task("queued", total=len(STAGES) - 1)

        def show(status: RunStatusDocument) -> None:
            state = status.status
            step = len(STAGES) - 1 if state in SETTLED else STAGES.index(state)
            progress.update(bar, completed=step, description=state)

        try:
            return ide.wait(run_id, on_status=show, poll=0.2, timeout=timeout)
        except TimeoutError as late:
            raise DemoFailed(f"{late} (it keeps running)") from late
