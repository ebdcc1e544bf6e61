"""What each webhook event says, and where it is emitted from. Every function runs inside the
transaction that made the change it announces (`service.emit`).

The payload is Standard Webhooks' shape, `{"type", "timestamp", "data"}`; `data` names the
installation, and the project and task where the event has them, so one receiver can serve many.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.kit.clock import Clock, iso_utc
from seecodes.models import BudgetAlert, ProgressReport, Run
from seecodes.models.run import RunStatus
from seecodes.models.webhooks import WebhookEvent
from seecodes.webhooks.service import emit

# The run moves that are events. processing_remote (the model was called) is a step within
# "started"; rejected is announced as approval.decided.
RUN_EVENTS = {
    RunStatus.QUEUED: WebhookEvent.RUN_QUEUED,
    RunStatus.IN_PROCESS: WebhookEvent.RUN_STARTED,
    RunStatus.SUCCEEDED: WebhookEvent.RUN_SUCCEEDED,
    RunStatus.FAILED: WebhookEvent.RUN_FAILED,
    RunStatus.CANCELLED: WebhookEvent.RUN_CANCELLED,
    RunStatus.AWAITING_APPROVAL: WebhookEvent.RUN_AWAITING_APPROVAL,
}


def _run(run: Run) -> dict[str, Any]:
    return {
        "runId": run.id,
        "installationId": run.installation_id,
        "projectId": run.project_id,
        "taskId": run.task_id,
        "userAccountId": run.user_account_id,
        "model": run.model,
        "status": run.status,
        "estimatedCredits": run.estimated_credits,
        "creditsCharged": run.credits_charged,
        "error": run.error,
        "parentRunId": run.parent_run_id,
        "updatedAt": iso_utc(run.updated_at),
    }


async def run_moved(session: AsyncSession, run: Run, to: RunStatus, now: datetime) -> None:
    event = RUN_EVENTS.get(to)
    if event is not None:
        await emit(session, now, run.installation_id, event, _run(run))


async def approval_requested(session: AsyncSession, run: Run, now: datetime) -> None:
    await emit(session, now, run.installation_id, WebhookEvent.APPROVAL_REQUESTED, _run(run))


async def approval_decided(
    session: AsyncSession,
    run: Run,
    now: datetime,
    *,
    decision: str,
    decided_by: str | None,
    reason: str | None,
) -> None:
    data = {**_run(run), "decision": decision, "decidedBy": decided_by, "reason": reason}
    await emit(session, now, run.installation_id, WebhookEvent.APPROVAL_DECIDED, data)


async def progress_saved(session: AsyncSession, clock: Clock, report: ProgressReport) -> None:
    """A `tasks.service.ProgressListener`: the composition root hands it every saved report."""
    data = {
        "installationId": report.installation_id,
        "projectId": report.project_id,
        "taskId": report.task_id,
        "userAccountId": report.user_account_id,
        "progress": report.progress,
        "confidence": report.confidence,
        "ready": report.ready,
        "left": report.left,
        "risks": report.risks,
        "updatedAt": iso_utc(report.created_at),
    }
    await emit(session, report.created_at, report.installation_id, WebhookEvent.PROGRESS_SAVED, data)


async def budget_threshold(session: AsyncSession, alert: BudgetAlert) -> None:
    data = {
        "installationId": alert.installation_id,
        # null: the installation's own budget; else the Jira project's.
        "projectId": alert.project_id or None,
        "month": alert.month,
        "threshold": alert.threshold,
        "monthlyCredits": alert.monthly_credits,
        "spent": alert.spent,
        "crossedAt": iso_utc(alert.crossed_at),
    }
    await emit(session, alert.crossed_at, alert.installation_id, WebhookEvent.BUDGET_THRESHOLD, data)
