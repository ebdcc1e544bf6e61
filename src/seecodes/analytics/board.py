"""Assembles the team-competition board from aggregated rows: no SQL, no I/O.

The inputs are already one row per task × user × source (see repository.totals), so everything
here runs over a few thousand rows however many snapshots the period holds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from seecodes.analytics.repository import SNAPSHOT, TASK_RUN, VSCODE, Item, Source, Totals
from seecodes.analytics.schemas import (
    MAX_CONTRIBUTORS,
    MAX_ITEMS,
    MAX_TASK_CONTRIBUTORS,
    MAX_TASK_SUMMARIES,
    BoardItem,
    Contributor,
    Formula,
    MonthBaseline,
    Signals,
    SourceSummary,
    TaskSummary,
    TeamCompetitionResponse,
)
from seecodes.kit.clock import from_epoch, iso_utc
from seecodes.tasks.activity_schemas import iso_utc_micro

TaskSource = Literal["snapshots", "task_run_fallback", "vscode_fallback"]
TASK_SOURCES: dict[Source, TaskSource] = {
    SNAPSHOT: "snapshots",
    TASK_RUN: "task_run_fallback",
    VSCODE: "vscode_fallback",
}


@dataclass
class _Sum:
    items: int = 0
    effort: int = 0
    active_ms: int = 0
    loc: int = 0
    files: int = 0
    architecture: int = 0
    logic: int = 0
    specification_ui: int = 0
    first_at: float = math.inf
    last_at: float = -math.inf
    effort_by_user: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tasks: set[tuple[str, str]] = field(default_factory=set)
    source: Source = SNAPSHOT

    def add(self, row: Totals) -> None:
        self.items += row.items
        self.effort += row.effort_units
        self.active_ms += row.active_ms
        self.loc += row.loc_changed
        self.files += row.files_changed
        self.architecture += row.architecture
        self.logic += row.logic
        self.specification_ui += row.specification_ui
        self.first_at = min(self.first_at, row.first_at)
        self.last_at = max(self.last_at, row.last_at)
        self.effort_by_user[row.user_account_id] += row.effort_units
        self.tasks.add((row.project_id, row.task_id))
        self.source = row.source

    def signals(self) -> Signals:
        return Signals(
            architecture=self.architecture, logic=self.logic, specificationUi=self.specification_ui
        )


def median_half_up(values: Iterable[int]) -> int | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle] + 1) // 2


def relative(raw: int, baseline: int | None) -> float | None:
    """100 means a typical task of the month; no baseline (or a zero median) means no comparison."""
    if not baseline:
        return None
    return round(raw * 100 / baseline, 1)


def task_efforts(rows: Iterable[Totals]) -> dict[tuple[str, str], int]:
    efforts: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        efforts[(row.project_id, row.task_id)] += row.effort_units
    return efforts


def month_baseline(month: date, rows: Iterable[Totals]) -> MonthBaseline:
    efforts = task_efforts(rows)
    return MonthBaseline(
        month=month.strftime("%Y-%m"),
        taskCount=len(efforts),
        medianEffortUnits=median_half_up(efforts.values()),
    )


# Up to 2,500 nested rows are built from aggregates this module computed itself: they are constructed
# without validation (model_construct), which was a quarter of the board's time.
def assemble(
    *,
    start: date,
    end: date,
    rows: list[Totals],
    items: list[Item],
    baseline: MonthBaseline,
    solved: set[tuple[str, str]],
) -> TeamCompetitionResponse:
    median = baseline.medianEffortUnits
    tasks: dict[tuple[str, str], _Sum] = defaultdict(_Sum)
    users: dict[str, _Sum] = defaultdict(_Sum)
    for row in rows:
        tasks[(row.project_id, row.task_id)].add(row)
        users[row.user_account_id].add(row)
    team_effort = sum(task.effort for task in tasks.values())

    summaries = sorted(tasks.items(), key=lambda pair: (-pair[1].effort, pair[0]))
    contributors = sorted(users.items(), key=lambda pair: (-pair[1].effort, pair[0]))
    newest = sorted(items, key=lambda item: item.ended_at, reverse=True)
    item_counts: dict[str, int] = defaultdict(int)
    for row in rows:
        item_counts[row.source] += row.items

    return TeamCompetitionResponse(
        startDate=start.isoformat(),
        endDate=end.isoformat(),
        items=[_board_item(item) for item in newest[:MAX_ITEMS]],
        itemsTruncated=sum(item_counts.values()) > MAX_ITEMS,
        taskSummaries=[
            _task_summary(key, task, median, key in solved) for key, task in summaries[:MAX_TASK_SUMMARIES]
        ],
        taskSummariesTruncated=len(summaries) > MAX_TASK_SUMMARIES,
        contributors=[
            _contributor(user, total, median, team_effort, solved)
            for user, total in contributors[:MAX_CONTRIBUTORS]
        ],
        contributorsTruncated=len(contributors) > MAX_CONTRIBUTORS,
        monthBaseline=baseline,
        formula=Formula(),
        sourceSummary=SourceSummary(
            snapshotItems=item_counts[SNAPSHOT],
            taskRunFallbackItems=item_counts[TASK_RUN],
            vscodeFallbackItems=item_counts[VSCODE],
            fallbackTaskCount=sum(1 for task in tasks.values() if task.source != SNAPSHOT),
        ),
    )


def _minutes(active_ms: int) -> float:
    return round(active_ms / 60_000, 1)


def _task_summary(key: tuple[str, str], task: _Sum, median: int | None, solved: bool) -> TaskSummary:
    by_effort = sorted(task.effort_by_user.items(), key=lambda pair: (-pair[1], pair[0]))
    return TaskSummary.model_construct(
        projectId=key[0],
        taskId=key[1],
        source=TASK_SOURCES[task.source],
        itemCount=task.items,
        activeMinutes=_minutes(task.active_ms),
        locChanged=task.loc,
        filesChanged=task.files,
        signals=task.signals(),
        rawEffortUnits=task.effort,
        relativeEffort=relative(task.effort, median),
        contributors=[user for user, _ in by_effort[:MAX_TASK_CONTRIBUTORS]],
        solved=solved,
        # Rounded to the millisecond: SQLite's julianday() arithmetic leaves float dust.
        firstActivityAt=iso_utc(from_epoch(round(task.first_at, 3))),
        lastActivityAt=iso_utc(from_epoch(round(task.last_at, 3))),
    )


def _contributor(
    user: str, total: _Sum, median: int | None, team_effort: int, solved: set[tuple[str, str]]
) -> Contributor:
    return Contributor.model_construct(
        userAccountId=user,
        rawEffortUnits=total.effort,
        relativeEffort=relative(total.effort, median),
        teamShare=round(total.effort * 100 / team_effort, 1) if team_effort else 0.0,
        contributedTasks=len(total.tasks),
        solvedTasks=len(total.tasks & solved),
        activeMinutes=_minutes(total.active_ms),
        signals=total.signals(),
    )


def _board_item(item: Item) -> BoardItem:
    return BoardItem.model_construct(
        source=item.source,
        projectId=item.project_id,
        taskId=item.task_id,
        userAccountId=item.user_account_id,
        timestamp=iso_utc_micro(item.ended_at),
        windowStartedAt=iso_utc_micro(item.started_at),
        windowEndedAt=iso_utc_micro(item.ended_at),
        humanActiveMs=item.active_ms,
        locAdded=item.loc_added,
        locRemoved=item.loc_removed,
        locTotal=item.loc_added + item.loc_removed,
        changedFiles=item.changed_files,
        changedFilesCount=item.changed_files_count,
        architectureChange=item.architecture_change,
        logicChange=item.logic_change,
        specificationUiChange=item.specification_ui_change,
        effortUnits=item.effort_units,
        runId=item.run_id,
        eventType=item.event_type,
    )
