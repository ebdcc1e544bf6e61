"""Wire format of credit budgets (issue 15): the names are fixed so every client agrees."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from seecodes.kit.schemas import JiraId, RequestBody, ResponseBody
from seecodes.models.budgets import BudgetMode

MAX_BUDGET_CREDITS = 10**12
MAX_PROJECT_BUDGETS = 500
DEFAULT_THRESHOLDS = [80, 100]

Credits = Annotated[int, Field(strict=True, ge=0, le=MAX_BUDGET_CREDITS)]
Threshold = Annotated[int, Field(strict=True, ge=1, le=1000, description="Percent of the monthly limit.")]
Thresholds = Annotated[list[Threshold], Field(max_length=10)]


def _distinct_sorted(values: list[int] | None) -> list[int] | None:
    if values is None:
        return None
    if len(set(values)) != len(values):
        raise ValueError("alert thresholds must be distinct")
    return sorted(values)


class ProjectBudgetSettings(RequestBody):
    monthlyCredits: Credits = Field(examples=[500])
    mode: BudgetMode = BudgetMode.ALERT
    alertThresholds: Thresholds | None = Field(
        default=None, description="Percents of the limit to announce; the installation's when omitted."
    )

    _thresholds = field_validator("alertThresholds")(_distinct_sorted)


class BudgetSettings(RequestBody):
    """The whole budget document: a PUT replaces it, and a field left out takes its default."""

    monthlyCredits: Credits | None = Field(
        default=None, description="The installation's limit per calendar month (UTC); null: none."
    )
    mode: BudgetMode = Field(
        default=BudgetMode.ALERT,
        description="`alert`: runs go on past the limit. `stop`: a start whose estimate would pass it "
        "is refused with 402 `budget_exceeded`.",
    )
    alertThresholds: Thresholds = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))
    projects: dict[JiraId, ProjectBudgetSettings] = Field(
        default_factory=dict,
        max_length=MAX_PROJECT_BUDGETS,
        description="Budgets of Jira projects by project key, each counted within the installation's.",
    )
    approvalThreshold: Credits | None = Field(
        default=None,
        description="A `start` estimated at this many credits or more does not queue: the run waits in "
        "`awaiting_approval`, reserving nothing, until the Jira App or an operator decides "
        "(`/v1/jira/approvals`). null: no gate.",
    )

    _thresholds = field_validator("alertThresholds")(_distinct_sorted)


class BudgetFigures(ResponseBody):
    spent: int = Field(description="Credits charged by settlements this month.")
    reserved: int = Field(description="Credits held by runs not settled yet.")
    remaining: int | None = Field(description="Limit − spent − reserved, never below 0; null with no limit.")
    thresholdsCrossed: list[int] = Field(description="Thresholds this budget crossed this month.")


class ProjectBudgetState(BudgetFigures):
    monthlyCredits: int
    mode: BudgetMode
    alertThresholds: list[int]


class BudgetsResponse(BudgetFigures):
    ok: Literal[True] = True
    month: str = Field(
        description="The calendar month (UTC) the figures are for, YYYY-MM.", examples=["2026-12"]
    )
    monthlyCredits: int | None
    mode: BudgetMode
    alertThresholds: list[int]
    projects: dict[str, ProjectBudgetState]
    approvalThreshold: int | None


class BudgetUsage(ResponseBody):
    """One budget in `GET /v1/jira/usage`."""

    scope: Literal["installation", "project"]
    projectId: str | None = Field(description="The project of a project budget; null for the installation's.")
    month: str
    monthlyCredits: int
    mode: BudgetMode
    spent: int
    reserved: int
    remaining: int
    thresholdsCrossed: list[int]
