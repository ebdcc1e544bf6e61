"""The Jira App's retrospective board."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seecodes.analytics import service
from seecodes.analytics.schemas import TeamCompetitionQuery, TeamCompetitionResponse
from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import HintMismatch, responses
from seecodes.openapi import JIRA_APP
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller

router = APIRouter(tags=[JIRA_APP])

DESCRIPTION = """
Activity of the installation's tasks over a period (UTC days; default: the current month),
optionally of one project.

* **items**: the newest items. A task's items come from its activity snapshots. A task with no
  snapshot in the period but with settled runs (succeeded or failed) enters through the **run
  fallback**: one item per run, its processing time (claimed → finished, capped at 30 minutes)
  counted as active minutes, plus one unit per 1,000 tokens (capped at 50 units). A task with
  neither enters through the **VS Code fallback**: one item per accepted telemetry event, worth two
  active minutes (4 units).
* **taskSummaries**: per task, sums over its items; raw effort is the sum of effort units.
* **contributors**: per userAccountId; teamShare is the percent of the period's effort.
* **monthBaseline**: endDate's month; the median raw effort of the tasks active in it (same
  project filter). relativeEffort = raw / median × 100, null without a baseline.
* **sourceSummary**: item counts per source; fallbackTaskCount counts tasks that entered
  through a fallback.
"""


@router.get(
    "/v1/jira/team-competition",
    operation_id="getTeamCompetition",
    summary="Read team competition data",
    description=DESCRIPTION,
    responses=responses(*REQUEST_KEY_ERRORS, HintMismatch),
)
async def read_team_competition(
    runtime: RuntimeDep,
    session: SessionDep,
    caller: JiraAppCaller,
    query: Annotated[TeamCompetitionQuery, Query()],
) -> TeamCompetitionResponse:
    return await service.team_competition(
        session, runtime.clock, installation=caller.installation, query=query
    )
