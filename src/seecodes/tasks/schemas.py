from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import RequestBody, ResponseBody
from seecodes.models import ProgressReport

MAX_PROGRESS_ITEMS = 200
MAX_PROGRESS_ITEM_CHARS = 2000

ProgressItem = Annotated[str, StringConstraints(max_length=MAX_PROGRESS_ITEM_CHARS)]
ProgressItems = Annotated[list[ProgressItem], Field(max_length=MAX_PROGRESS_ITEMS)]
Confidence = Literal["Low", "Medium", "High"]
Percentage = Annotated[str, StringConstraints(pattern=r"^(100|[1-9]?[0-9])%$")]


class ProgressDocument(RequestBody):
    ready: ProgressItems = Field(default_factory=list, examples=[["Protected-route wrapper is live"]])
    left: ProgressItems = Field(default_factory=list, examples=[["Callback validation still needs coverage"]])
    progress: Percentage = Field(examples=["67%"], description='A whole percentage, "0%" to "100%".')
    confidence: Confidence = Field(examples=["Medium"])
    risks: ProgressItems = Field(
        default_factory=list, examples=[["Identity provider payload may still change"]]
    )
    logs: ProgressItems = Field(default_factory=list, examples=[["Recent activity summary line"]])

    @field_validator("confidence", mode="before")
    @classmethod
    def _capitalised(cls, value: object) -> object:
        # Extensions have sent "medium" and "MEDIUM"; the stored value is always "Medium".
        return value.strip().capitalize() if isinstance(value, str) else value


class OkResponse(ResponseBody):
    ok: Literal[True] = True


class StoredProgress(ResponseBody):
    updatedAt: str = Field(examples=["2026-04-04T12:34:56Z"])
    ready: list[str]
    left: list[str]
    progress: str
    confidence: Confidence
    risks: list[str]
    logs: list[str]

    @classmethod
    def of(cls, report: ProgressReport) -> StoredProgress:
        return cls(
            updatedAt=iso_utc(report.created_at),
            ready=report.ready,
            left=report.left,
            progress=report.progress,
            confidence=report.confidence,
            risks=report.risks,
            logs=report.logs,
        )


class JiraSyncState(ResponseBody):
    """Where the progress document stands in the Jira issue. Absent (null) when the installation
    has no way to write to Jira (no OAuth connection and no Forge system token)."""

    state: Literal["synced", "pending", "failed"]
    at: str | None = Field(description="When it was written (synced) or given up on (failed).")
    reason: str | None = Field(default=None, description="Why it failed; a newer report is tried again.")


class ProgressResponse(ResponseBody):
    ok: Literal[True] = True
    progress: StoredProgress | None = Field(
        description="null until the IDE has reported progress for the task."
    )
    jiraSync: JiraSyncState | None = Field(
        default=None,
        # Left out, not null, when there is nothing to report: the contract's body stays as it was.
        exclude_if=lambda value: value is None,
        description="The write-back into the Jira issue; absent when the installation has no Jira connection.",
    )


class TaskContextResponse(ResponseBody):
    ok: Literal[True] = True
    context: dict[str, Any] = Field(
        examples=[{"title": "Implement auth flow", "descriptionMd": "…", "attachments": [], "images": []}]
    )
    initialTai: dict[str, Any] | None = Field(examples=[{"version": 1, "task": {}}])
