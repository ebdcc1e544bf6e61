"""Team competition: the retrospective board of one installation over a period.

Per-task raw effort is the sum of its items' effort units; the month's baseline is the median raw
effort of the tasks active in endDate's month (same project filter); relative effort is
raw / baseline × 100. Where the items come from, and the fallbacks, is in analytics.repository.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.analytics import board, repository
from seecodes.analytics.repository import Period
from seecodes.analytics.schemas import MAX_ITEMS, TeamCompetitionQuery, TeamCompetitionResponse
from seecodes.installations.service import check_hints
from seecodes.kit.clock import Clock
from seecodes.models import Installation


@dataclass(frozen=True, slots=True)
class Days:
    first: date
    last: date  # inclusive

    def period(self, installation_id: str, project_id: str | None) -> Period:
        start = datetime.combine(self.first, time(), UTC)
        return Period(
            installation_id, project_id, start, datetime.combine(self.last, time(), UTC) + timedelta(days=1)
        )


def month_of(day: date) -> Days:
    return Days(day.replace(day=1), day.replace(day=monthrange(day.year, day.month)[1]))


def resolve_days(query: TeamCompetitionQuery, today: date) -> Days:
    """Both dates given: that range. One given: the rest of its month. None: the current month."""
    if query.startDate and query.endDate:
        return Days(query.startDate, query.endDate)
    if query.startDate:
        return Days(query.startDate, month_of(query.startDate).last)
    if query.endDate:
        return Days(month_of(query.endDate).first, query.endDate)
    return month_of(today)


async def team_competition(
    session: AsyncSession, clock: Clock, *, installation: Installation, query: TeamCompetitionQuery
) -> TeamCompetitionResponse:
    check_hints(installation, query.cloudIdHint, query.siteUrlHint)
    days = resolve_days(query, clock.utcnow().date())
    period = days.period(installation.id, query.projectId)
    rows = await repository.totals(session, period)

    month = month_of(days.last)
    # The default board is exactly one month: its rows are the baseline's rows, one query fewer.
    month_rows = (
        rows
        if month == days
        else await repository.totals(session, month.period(installation.id, query.projectId))
    )
    return board.assemble(
        start=days.first,
        end=days.last,
        rows=rows,
        items=await repository.recent_items(session, period, limit=MAX_ITEMS),
        baseline=board.month_baseline(month.first, month_rows),
        solved=await repository.solved_tasks(session, period),
    )
