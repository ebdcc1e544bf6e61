"""Wire format of activity snapshots: the contract's example fields, each bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from seecodes.kit.schemas import JiraId, RequestBody, ResponseBody

MAX_WINDOW = timedelta(hours=6)
MAX_LISTED_FILES = 500
MAX_PATH_CHARS = 1024
MAX_LOC = 1_000_000
MAX_FILES_COUNT = 100_000
MAX_TASK_AGE_MINUTES = 10 * 366 * 24 * 60
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100

# A file path as the editor shows it; control characters never belong in one.
ChangedPath = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PATH_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Count = Annotated[int, Field(strict=True, ge=0)]


class ActivitySnapshotIn(RequestBody):
    """One short window of human work on the permit's task."""

    windowStartedAt: AwareDatetime = Field(examples=["2026-04-04T10:00:00.000Z"])
    windowEndedAt: AwareDatetime = Field(
        examples=["2026-04-04T10:15:00.000Z"],
        description=f"After windowStartedAt, at most {int(MAX_WINDOW.total_seconds() // 3600)} hours later, "
        "and not in the future.",
    )
    taskStartedAt: AwareDatetime | None = Field(default=None, examples=["2026-04-04T08:30:00.000Z"])
    taskAgeMinutes: Annotated[Count, Field(le=MAX_TASK_AGE_MINUTES)] | None = Field(
        default=None, examples=[105]
    )
    humanActiveMs: Count = Field(examples=[420000], description="At most the window's length.")
    locAdded: Annotated[Count, Field(le=MAX_LOC)] = Field(examples=[28])
    locRemoved: Annotated[Count, Field(le=MAX_LOC)] = Field(examples=[11])
    locTotal: Annotated[Count, Field(le=2 * MAX_LOC)] | None = Field(
        default=None, examples=[39], description="locAdded + locRemoved; computed when omitted."
    )
    changedFiles: Annotated[list[ChangedPath], Field(max_length=MAX_LISTED_FILES)] = Field(
        default_factory=list, examples=[["src/auth.ts", "src/routes.tsx"]]
    )
    changedFilesCount: Annotated[Count, Field(le=MAX_FILES_COUNT)] | None = Field(
        default=None,
        examples=[2],
        description="At least the number of distinct changedFiles (the list may be cut short); "
        "that number when omitted.",
    )
    architectureChange: bool = Field(default=False, strict=True)
    logicChange: bool = Field(default=False, strict=True)
    specificationUiChange: bool = Field(default=False, strict=True)
    projectId: JiraId | None = Field(
        default=None, description="Optional; when sent it must be the permit's project."
    )
    taskId: JiraId | None = Field(
        default=None, description="Optional; when sent it must be the permit's task."
    )

    @field_validator("windowStartedAt", "windowEndedAt", "taskStartedAt")
    @classmethod
    def _plausible_year(cls, value: datetime | None) -> datetime | None:
        # Bounded both ways: converting a year-1 or year-9999 time to UTC can overflow.
        if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValueError(f"must lie between {EARLIEST_YEAR} and {LATEST_YEAR}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ActivitySnapshotIn:
        window = self.windowEndedAt - self.windowStartedAt
        if window <= timedelta(0):
            raise ValueError("windowEndedAt must be after windowStartedAt")
        if window > MAX_WINDOW:
            raise ValueError(f"a window may be at most {MAX_WINDOW} long")
        if self.humanActiveMs > window / timedelta(milliseconds=1):
            raise ValueError("humanActiveMs cannot exceed the window's length")
        if self.taskStartedAt is not None and self.taskStartedAt > self.windowEndedAt:
            raise ValueError("taskStartedAt cannot be after windowEndedAt")
        loc_changed = self.locAdded + self.locRemoved
        if self.locTotal is not None and self.locTotal != loc_changed:
            raise ValueError("locTotal must equal locAdded + locRemoved")
        listed = len(set(self.changedFiles))
        if self.changedFilesCount is not None and self.changedFilesCount < listed:
            raise ValueError("changedFilesCount cannot be less than the number of distinct changedFiles")
        return self

    @property
    def loc_total(self) -> int:
        return self.locAdded + self.locRemoved

    @property
    def files_count(self) -> int:
        return self.changedFilesCount if self.changedFilesCount is not None else len(set(self.changedFiles))


class ActivitySnapshotResponse(ResponseBody):
    ok: Literal[True] = True
    stored: bool = Field(
        description="false when this task, user and window were stored before (a retry); "
        "timestamp and effortUnits are then the stored snapshot's."
    )
    timestamp: str = Field(
        examples=["2026-04-04T10:15:00.000000Z"], description="The snapshot's windowEndedAt, UTC."
    )
    effortUnits: int = Field(
        examples=[40], description="By the v1 formula (see GET /v1/jira/team-competition)."
    )


def iso_utc_micro(value: datetime) -> str:
    """The contract's snapshot timestamp: ISO 8601, microseconds, Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
