"""Wire format of the team-competition board."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from seecodes.kit.schemas import Hint, JiraId, ResponseBody
from seecodes.tasks.effort import FORMULA_VERSION, WEIGHTS

MAX_PERIOD_DAYS = 366
MAX_ITEMS = 500
MAX_TASK_SUMMARIES = 1000
MAX_CONTRIBUTORS = 1000
MAX_TASK_CONTRIBUTORS = 50
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_or_none(value: object) -> object:
    # A date picker with nothing chosen sends `startDate=`; that means "not given".
    if value is None or value == "":
        return None
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


# The schema says what the validator accepts: a date, or empty for "not given" (without the empty
# alternative, clients generated from /openapi.json could not send what date pickers send).
Day = Annotated[
    date | None,
    BeforeValidator(_day_or_none),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "maxLength": 0, "description": "empty: not given"},
                {"type": "null"},
            ]
        }
    ),
]


class TeamCompetitionQuery(BaseModel):
    """Query parameters. Without dates the board covers the current month (UTC)."""

    model_config = ConfigDict(extra="ignore")

    projectId: JiraId | None = Field(
        default=None, description="Only this project; all projects when omitted."
    )
    startDate: Day = Field(
        default=None,
        description="First day (UTC), YYYY-MM-DD. Omitted: the first day of endDate's month, or of the current month.",
    )
    endDate: Day = Field(
        default=None,
        description="Last day (UTC, inclusive), YYYY-MM-DD. Omitted: the last day of startDate's month, "
        f"or of the current month. At most {MAX_PERIOD_DAYS} days after startDate.",
    )
    cloudIdHint: Hint | None = None
    siteUrlHint: Hint | None = None

    @model_validator(mode="after")
    def _sensible_period(self) -> TeamCompetitionQuery:
        for day in (self.startDate, self.endDate):
            if day is not None and not EARLIEST_YEAR <= day.year < LATEST_YEAR:
                raise ValueError(f"dates must lie between {EARLIEST_YEAR} and {LATEST_YEAR - 1}")
        if self.startDate and self.endDate:
            if self.startDate > self.endDate:
                raise ValueError("startDate must not be after endDate")
            if self.endDate - self.startDate >= timedelta(days=MAX_PERIOD_DAYS):
                raise ValueError(f"a period may cover at most {MAX_PERIOD_DAYS} days")
        return self


class Signals(ResponseBody):
    architecture: int = Field(description="Items with an architecture change.")
    logic: int = Field(description="Items with a logic change.")
    specificationUi: int = Field(description="Items with a specification/UI change.")


Source = Literal["snapshot", "task_run", "vscode"]


class BoardItem(ResponseBody):
    source: Source = Field(
        description="snapshot: an activity snapshot; task_run: a settled run of a task without "
        "snapshots (run fallback); vscode: an accepted telemetry event of a task with neither."
    )
    projectId: str
    taskId: str
    userAccountId: str
    timestamp: str = Field(description="When the item ended (ISO 8601, UTC).")
    windowStartedAt: str
    windowEndedAt: str
    humanActiveMs: int
    locAdded: int
    locRemoved: int
    locTotal: int
    changedFiles: list[str]
    changedFilesCount: int
    architectureChange: bool
    logicChange: bool
    specificationUiChange: bool
    effortUnits: int
    runId: str | None = Field(default=None, description="task_run items: the run.")
    eventType: str | None = Field(default=None, description="vscode items: the event's type.")


class TaskSummary(ResponseBody):
    projectId: str
    taskId: str
    source: Literal["snapshots", "task_run_fallback", "vscode_fallback"]
    itemCount: int
    activeMinutes: float
    locChanged: int
    filesChanged: int
    signals: Signals
    rawEffortUnits: int
    relativeEffort: float | None = Field(
        description="rawEffortUnits / monthBaseline.medianEffortUnits × 100 (100 = a typical task of "
        "the month); null without a baseline."
    )
    contributors: list[str] = Field(
        description=f"userAccountIds, most effort first; at most {MAX_TASK_CONTRIBUTORS}."
    )
    solved: bool = Field(description="The task's newest progress document (as of endDate) says 100%.")
    firstActivityAt: str
    lastActivityAt: str


class Contributor(ResponseBody):
    userAccountId: str
    rawEffortUnits: int
    relativeEffort: float | None = Field(description="rawEffortUnits / medianEffortUnits × 100.")
    teamShare: float = Field(description="Percent of the period's effort, 0–100, one decimal.")
    contributedTasks: int
    solvedTasks: int = Field(description="Contributed tasks that are solved (see TaskSummary.solved).")
    activeMinutes: float
    signals: Signals


class MonthBaseline(ResponseBody):
    month: str = Field(examples=["2026-04"], description="endDate's month.")
    taskCount: int = Field(examples=[18], description="Tasks with any activity in that month.")
    medianEffortUnits: int | None = Field(
        examples=[72], description="Median raw effort of those tasks (half up); null when there are none."
    )


class Weights(ResponseBody):
    activeMinute: float = WEIGHTS["activeMinute"]
    locChanged: float = WEIGHTS["locChanged"]
    changedFile: int = int(WEIGHTS["changedFile"])
    architectureBonus: int = int(WEIGHTS["architectureBonus"])
    logicBonus: int = int(WEIGHTS["logicBonus"])
    specificationUiBonus: int = int(WEIGHTS["specificationUiBonus"])


class Formula(ResponseBody):
    """effortUnits = round(activeMinutes × activeMinute + locChanged × locChanged + filesChanged ×
    changedFile + architectureBonus·architecture + logicBonus·logic + specificationUiBonus·specificationUi),
    half up, per item."""

    version: Literal["v1"] = FORMULA_VERSION
    weights: Weights = Field(default_factory=Weights)


class SourceSummary(ResponseBody):
    snapshotItems: int
    taskRunFallbackItems: int
    vscodeFallbackItems: int
    fallbackTaskCount: int


class TeamCompetitionResponse(ResponseBody):
    ok: Literal[True] = True
    startDate: str = Field(examples=["2026-04-01"])
    endDate: str = Field(examples=["2026-04-30"])
    items: list[BoardItem] = Field(description=f"The newest {MAX_ITEMS} items of the period.")
    itemsTruncated: bool
    taskSummaries: list[TaskSummary] = Field(description=f"Most effort first; at most {MAX_TASK_SUMMARIES}.")
    taskSummariesTruncated: bool
    contributors: list[Contributor] = Field(description=f"Most effort first; at most {MAX_CONTRIBUTORS}.")
    contributorsTruncated: bool
    monthBaseline: MonthBaseline
    formula: Formula
    sourceSummary: SourceSummary
