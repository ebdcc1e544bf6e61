"""Monthly credit budgets, set and read by the Jira App for its own installation."""

from __future__ import annotations

from fastapi import APIRouter

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import InvalidInput, responses
from seecodes.installations import budgets
from seecodes.installations.budgets_schemas import BudgetSettings, BudgetsResponse
from seecodes.openapi import JIRA_APP
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller

router = APIRouter(tags=[JIRA_APP])

_FIGURES = (
    "`spent` is what settlements charged this calendar month (UTC), `reserved` what runs not settled "
    "yet hold, `remaining` the limit less both (null without a limit), `thresholdsCrossed` the alert "
    "thresholds passed this month."
)


@router.get(
    "/v1/jira/budgets",
    operation_id="getBudgets",
    summary="Read the installation's credit budgets",
    description="The budget document as last set (defaults if never), with this month's figures for "
    f"the installation and each project. {_FIGURES}",
    responses=responses(*REQUEST_KEY_ERRORS),
)
async def read_budgets(runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller) -> BudgetsResponse:
    return await budgets.document(session, runtime.clock, caller.installation.id)


@router.put(
    "/v1/jira/budgets",
    operation_id="setBudgets",
    summary="Replace the installation's credit budgets",
    description="Replaces the whole document: a field left out takes its default, and a project left "
    "out loses its budget. Limits are per calendar month (UTC). In `stop` mode a `start` whose "
    "estimate would take spent + reserved past a limit is refused with 402 `budget_exceeded` and "
    "reserves nothing; in `alert` mode runs go on. A project budget counts within the installation's: "
    "a run of that project must fit both. Answers the new document with this month's figures. "
    f"{_FIGURES}",
    responses=responses(*REQUEST_KEY_ERRORS, InvalidInput),
)
async def set_budgets(
    runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller, body: BudgetSettings
) -> BudgetsResponse:
    await budgets.replace(session, runtime.clock, caller.installation.id, body)
    return await budgets.document(session, runtime.clock, caller.installation.id)
