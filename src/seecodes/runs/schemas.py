from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from seecodes.installations.budgets_schemas import BudgetUsage
from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import RequestBody, ResponseBody
from seecodes.models import Run, UsageItem
from seecodes.models.run import RunStatus

MAX_FILES = 20
MAX_FILE_NAME_CHARS = 128
MAX_PROMPT_CHARS = 100_000

# A plain file name: no separators, no "..", no control characters; it becomes a storage key.
FileName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_FILE_NAME_CHARS, pattern=r"^[A-Za-z0-9._ -]+$"),
]
ModelAlias = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class InitRunRequest(RequestBody):
    model: ModelAlias | None = Field(default=None, examples=["strict light"])
    files: list[FileName] = Field(
        default_factory=lambda: ["list.md"],
        min_length=1,
        max_length=MAX_FILES,
        description=f"Plain file names (no path separators, no `..`); at most {MAX_FILES}.",
    )

    @field_validator("files")
    @classmethod
    def _unique(cls, files: list[str]) -> list[str]:
        if any(set(name) == {"."} for name in files):
            raise ValueError("a file name cannot be only dots")
        if len(set(files)) != len(files):
            raise ValueError("file names must be unique")
        return files


class InitRunResponse(ResponseBody):
    ok: Literal[True] = True
    runId: str
    bucket: str
    prefix: str
    uploads: dict[str, str]


class StartRunRequest(RequestBody):
    model: ModelAlias | None = Field(default=None, examples=["strict light"])
    userPrompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, examples=["generate change log"]
    )


class FollowUpRequest(RequestBody):
    userPrompt: str = Field(
        min_length=1, max_length=MAX_PROMPT_CHARS, examples=["now add the migration notes"]
    )
    model: ModelAlias | None = Field(default=None, description="The parent's model when omitted.")


class StartRunResponse(ResponseBody):
    ok: Literal[True] = True
    runId: str
    status: RunStatus
    estimatedInputTokens: int
    estimatedCredits: int

    @classmethod
    def of(cls, run: Run) -> StartRunResponse:
        return cls(
            runId=run.id,
            status=run.status,
            estimatedInputTokens=run.estimated_input_tokens or 0,
            estimatedCredits=run.estimated_credits or 0,
        )


class RunStatusDocument(ResponseBody):
    status: RunStatus
    updatedAt: str
    error: str | None = None
    resultZipUrl: str | None = None


class RunStatusResponse(ResponseBody):
    ok: Literal[True] = True
    status: RunStatusDocument


class RunSummary(ResponseBody):
    runId: str
    status: RunStatus
    model: str
    files: list[str]
    createdAt: str
    updatedAt: str
    error: str | None
    rerunOf: str | None
    parentRunId: str | None = Field(description="The run a follow-up continues (`POST …/continue`).")
    estimatedCredits: int | None
    creditsCharged: int | None

    @classmethod
    def of(cls, run: Run) -> RunSummary:
        return cls(
            runId=run.id,
            status=run.status,
            model=run.model,
            files=run.files,
            createdAt=iso_utc(run.created_at),
            updatedAt=iso_utc(run.updated_at),
            error=run.error,
            rerunOf=run.rerun_of,
            parentRunId=run.parent_run_id,
            estimatedCredits=run.estimated_credits,
            creditsCharged=run.credits_charged,
        )


class RunListResponse(ResponseBody):
    ok: Literal[True] = True
    items: list[RunSummary]
    nextCursor: str | None


class CancelRunResponse(ResponseBody):
    ok: Literal[True] = True
    runId: str
    status: RunStatus


class RunTelemetry(ResponseBody):
    ok: Literal[True] = True
    runId: str
    status: RunStatus
    model: str
    inputTokens: int | None
    outputTokens: int | None
    estimatedInputTokens: int | None
    queueMs: int | None = Field(description="From start to claimed by an executor.")
    firstTokenMs: int | None = Field(description="From claimed to the model's first token.")
    totalMs: int | None = Field(description="From start to settled.")
    estimatedCredits: int | None
    creditsCharged: int | None

    @classmethod
    def of(cls, run: Run) -> RunTelemetry:
        def span(start: datetime | None, end: datetime | None) -> int | None:
            return round((end - start).total_seconds() * 1000) if start and end else None

        return cls(
            runId=run.id,
            status=run.status,
            model=run.model,
            inputTokens=run.input_tokens,
            outputTokens=run.output_tokens,
            estimatedInputTokens=run.estimated_input_tokens,
            queueMs=span(run.queued_at, run.claimed_at),
            firstTokenMs=span(run.claimed_at, run.first_token_at),
            totalMs=span(run.queued_at, run.finished_at),
            estimatedCredits=run.estimated_credits,
            creditsCharged=run.credits_charged,
        )


class UsageRow(ResponseBody):
    timestamp: str
    type: str
    taskId: str
    credits: int
    projectId: str
    runId: str
    model: str
    inputTokens: int
    outputTokens: int

    @classmethod
    def of(cls, item: UsageItem) -> UsageRow:
        return cls(
            timestamp=iso_utc(item.created_at),
            type=item.type,
            taskId=item.task_id,
            credits=item.credits,
            projectId=item.project_id,
            runId=item.run_id,
            model=item.model,
            inputTokens=item.input_tokens,
            outputTokens=item.output_tokens,
        )


class UsageResponse(ResponseBody):
    ok: Literal[True] = True
    items: list[UsageRow]
    availableCredits: int
    budgets: list[BudgetUsage] = Field(
        description="This month's budgets with a limit (`PUT /v1/jira/budgets`), the installation's first."
    )


class ApprovalItem(ResponseBody):
    """A run waiting for a decision (`POST /v1/jira/approvals/{runId}`)."""

    runId: str
    projectId: str
    taskId: str
    userAccountId: str = Field(description="Who started the run (the permit's Jira account).")
    model: str
    estimatedInputTokens: int
    estimatedCredits: int
    requestedAt: str
    expiresAt: str = Field(description="Undecided by then, the run is rejected.")

    @classmethod
    def of(cls, run: Run, expires_at: datetime | None) -> ApprovalItem:
        requested = run.approval_requested_at or run.updated_at
        return cls(
            runId=run.id,
            projectId=run.project_id,
            taskId=run.task_id,
            userAccountId=run.user_account_id,
            model=run.model,
            estimatedInputTokens=run.estimated_input_tokens or 0,
            estimatedCredits=run.estimated_credits or 0,
            requestedAt=iso_utc(requested),
            expiresAt=iso_utc(expires_at or requested),
        )


class ApprovalListResponse(ResponseBody):
    ok: Literal[True] = True
    items: list[ApprovalItem]
    nextCursor: str | None


class ApprovalDecisionRequest(RequestBody):
    decision: Literal["approved", "rejected"]
    reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Shown in the run's log; a rejection's reason is its error."
    )


class ApprovalDecisionResponse(ResponseBody):
    ok: Literal[True] = True
    runId: str
    status: RunStatus = Field(description="`queued` once approved, `rejected` once rejected.")


class ShareLinkResponse(ResponseBody):
    ok: Literal[True] = True
    url: str = Field(description="The link; its token is shown only here.")
    expiresAt: str


class RevokedShareLinks(ResponseBody):
    ok: Literal[True] = True
    revoked: int = Field(description="How many live links stopped opening the run.")


class SharedRun(ResponseBody):
    ok: Literal[True] = True
    runId: str
    projectId: str
    taskId: str
    status: RunStatus
    model: str
    createdAt: str
    updatedAt: str
    error: str | None
    output: str | None = Field(description="Once the run succeeded, unless retention purged it.")
    log: str | None = Field(description="The run's log lines; null once retention purged them.")
