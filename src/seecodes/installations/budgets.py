"""Monthly credit budgets: an installation's and its Jira projects', checked where credits are reserved.

A budget counts, for its calendar month (UTC), the credits settlements charged (`spent`) plus those
open reservations hold (`reserved`). In `stop` mode a reservation that would take the two past the
limit is refused; the check runs under the installation's lock that the reservation takes, so two
starts in different processes cannot both pass the last credits. In either mode, a settlement that
takes `spent` past a threshold records the crossing once per budget, threshold and month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import on_commit
from seecodes.error_bodies import BudgetOverrun
from seecodes.errors import BudgetExceeded, InstallationNotFound
from seecodes.installations import budgets_repository as repository
from seecodes.installations import repository as installation_rows
from seecodes.installations.budgets_schemas import (
    DEFAULT_THRESHOLDS,
    BudgetSettings,
    BudgetsResponse,
    BudgetUsage,
    ProjectBudgetState,
)
from seecodes.installations.repository import lock
from seecodes.kit import metrics
from seecodes.kit.clock import Clock
from seecodes.kit.logging import get_logger
from seecodes.models import BudgetAlert, CreditBudget
from seecodes.models.budgets import WHOLE_INSTALLATION, BudgetMode
from seecodes.webhooks import events as webhook_events

_log = get_logger("seecodes.budgets")


@dataclass(frozen=True, slots=True)
class Month:
    label: str  # "2026-12"
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def of(cls, moment: datetime) -> Month:
        start = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if start.month == 12:
            end = start.replace(year=start.year + 1, month=1)
        else:
            end = start.replace(month=start.month + 1)
        return cls(label=start.strftime("%Y-%m"), start=start, end=end)


@dataclass(frozen=True, slots=True)
class BudgetState:
    budget: CreditBudget
    spent: int
    reserved: int
    crossed: list[int]

    @property
    def remaining(self) -> int | None:
        limit = self.budget.monthly_credits
        return None if limit is None else max(0, limit - self.spent - self.reserved)


async def _state_of(
    session: AsyncSession, month: Month, budget: CreditBudget, crossed: list[int]
) -> BudgetState:
    spent = await repository.spent(
        session, budget.installation_id, budget.project_id, since=month.start, until=month.end
    )
    reserved = await repository.reserved(session, budget.installation_id, budget.project_id)
    return BudgetState(budget, spent, reserved, crossed)


async def approval_threshold(session: AsyncSession, installation_id: str) -> int | None:
    """Credits at or above which a run waits for approval; None: no gate."""
    whole = await repository.whole_installation(session, installation_id)
    return None if whole is None else whole.approval_threshold


async def require_installation(session: AsyncSession, installation_id: str) -> str:
    """For an operator naming one: the installation must exist (it may be suspended)."""
    if await installation_rows.get(session, installation_id) is None:
        raise InstallationNotFound(f"No installation {installation_id}.")
    return installation_id


def _scope(project_id: str) -> Literal["installation", "project"]:
    return "installation" if project_id == WHOLE_INSTALLATION else "project"


async def check_reservation(
    session: AsyncSession, now: datetime, *, installation_id: str, project_id: str, amount: int
) -> None:
    """Refuse a reservation that a `stop` budget cannot hold. The caller holds the installation's
    lock (credits.reserve), so what is read here cannot change before the reservation is written."""
    month = Month.of(now)
    for budget in await repository.limiting(session, installation_id, project_id):
        limit = budget.monthly_credits
        if budget.mode != BudgetMode.STOP or limit is None:
            continue
        spent = await repository.spent(
            session, installation_id, budget.project_id, since=month.start, until=month.end
        )
        reserved = await repository.reserved(session, installation_id, budget.project_id)
        if spent + reserved + amount > limit:
            metrics.BUDGET_REFUSALS.labels(_scope(budget.project_id)).inc()
            raise BudgetExceeded(
                BudgetOverrun(
                    budgetScope=_scope(budget.project_id),
                    projectId=budget.project_id or None,
                    month=month.label,
                    monthlyCredits=limit,
                    spentCredits=spent,
                    reservedCredits=reserved,
                    requiredCredits=amount,
                )
            )


async def note_spend(session: AsyncSession, clock: Clock, *, installation_id: str, project_id: str) -> None:
    """After a settlement's usage row: record each threshold its budgets have now crossed. Under the
    installation's lock, so of two settlements racing past a threshold the second sees the first's
    charge; the alert's key makes each crossing happen once either way."""
    budgets = await repository.limiting(session, installation_id, project_id)
    if not budgets:
        return
    await lock(session, installation_id)
    now = clock.utcnow()
    month = Month.of(now)
    for budget in budgets:
        limit = budget.monthly_credits
        if limit is None:
            continue
        spent = await repository.spent(
            session, installation_id, budget.project_id, since=month.start, until=month.end
        )
        for threshold in budget.alert_thresholds:
            if spent * 100 < int(threshold) * limit:
                continue
            crossing = BudgetAlert(
                installation_id=installation_id,
                project_id=budget.project_id,
                month=month.label,
                threshold=int(threshold),
                monthly_credits=limit,
                spent=spent,
                crossed_at=now,
            )
            if await repository.add_alert(session, crossing):
                await webhook_events.budget_threshold(session, crossing)
                on_commit(session, metrics.BUDGET_THRESHOLDS_CROSSED.labels(_scope(budget.project_id)).inc)
                on_commit(
                    session,
                    partial(
                        _log.info,
                        "budget_threshold_crossed",
                        installation_id=installation_id,
                        project_id=budget.project_id or None,
                        month=month.label,
                        threshold=int(threshold),
                        monthly_credits=limit,
                        spent=spent,
                    ),
                )


async def states(
    session: AsyncSession, clock: Clock, installation_id: str
) -> tuple[Month, list[BudgetState]]:
    """Every budget of the installation with this month's figures, the installation's first."""
    month = Month.of(clock.utcnow())
    crossed: dict[str, list[int]] = {}
    for alert in await repository.alerts_in(session, installation_id, month.label):
        crossed.setdefault(alert.project_id, []).append(alert.threshold)
    found = [
        await _state_of(session, month, budget, sorted(crossed.get(budget.project_id, [])))
        for budget in await repository.of_installation(session, installation_id)
    ]
    return month, found


def _whole(installation_id: str, now: datetime) -> CreditBudget:
    """The document of an installation that never set budgets: no limit, alert, the default thresholds."""
    return CreditBudget(
        installation_id=installation_id,
        project_id=WHOLE_INSTALLATION,
        monthly_credits=None,
        mode=BudgetMode.ALERT.value,
        alert_thresholds=list(DEFAULT_THRESHOLDS),
        approval_threshold=None,
        updated_at=now,
    )


async def document(session: AsyncSession, clock: Clock, installation_id: str) -> BudgetsResponse:
    month, found = await states(session, clock, installation_id)
    whole = next((state for state in found if state.budget.project_id == WHOLE_INSTALLATION), None)
    if whole is None:
        whole = await _state_of(session, month, _whole(installation_id, clock.utcnow()), [])
    return BudgetsResponse(
        month=month.label,
        monthlyCredits=whole.budget.monthly_credits,
        mode=BudgetMode(whole.budget.mode),
        alertThresholds=list(whole.budget.alert_thresholds),
        approvalThreshold=whole.budget.approval_threshold,
        spent=whole.spent,
        reserved=whole.reserved,
        remaining=whole.remaining,
        thresholdsCrossed=whole.crossed,
        projects={
            state.budget.project_id: ProjectBudgetState(
                monthlyCredits=state.budget.monthly_credits or 0,
                mode=BudgetMode(state.budget.mode),
                alertThresholds=list(state.budget.alert_thresholds),
                spent=state.spent,
                reserved=state.reserved,
                remaining=state.remaining,
                thresholdsCrossed=state.crossed,
            )
            for state in found
            if state.budget.project_id != WHOLE_INSTALLATION
        },
    )


async def replace(
    session: AsyncSession, clock: Clock, installation_id: str, settings: BudgetSettings
) -> None:
    """Replace the installation's budgets with `settings`, whole. Takes the installation's lock: a
    start reserving meanwhile is checked against the old budgets or the new, never half of each."""
    await lock(session, installation_id)
    now = clock.utcnow()
    rows = [
        CreditBudget(
            installation_id=installation_id,
            project_id=WHOLE_INSTALLATION,
            monthly_credits=settings.monthlyCredits,
            mode=settings.mode.value,
            alert_thresholds=list(settings.alertThresholds),
            approval_threshold=settings.approvalThreshold,
            updated_at=now,
        )
    ]
    for project_id, project in sorted(settings.projects.items()):
        rows.append(
            CreditBudget(
                installation_id=installation_id,
                project_id=project_id,
                monthly_credits=project.monthlyCredits,
                mode=project.mode.value,
                alert_thresholds=list(
                    project.alertThresholds
                    if project.alertThresholds is not None
                    else settings.alertThresholds
                ),
                approval_threshold=None,
                updated_at=now,
            )
        )
    await repository.replace(session, installation_id, rows)


async def usage(session: AsyncSession, clock: Clock, installation_id: str) -> list[BudgetUsage]:
    """The budgets with a limit, as `GET /v1/jira/usage` lists them."""
    month, found = await states(session, clock, installation_id)
    return [_usage(month, state) for state in found if state.budget.monthly_credits is not None]


def _usage(month: Month, state: BudgetState) -> BudgetUsage:
    project = state.budget.project_id
    return BudgetUsage(
        scope=_scope(project),
        projectId=project or None,
        month=month.label,
        monthlyCredits=state.budget.monthly_credits or 0,
        mode=BudgetMode(state.budget.mode),
        spent=state.spent,
        reserved=state.reserved,
        remaining=state.remaining or 0,
        thresholdsCrossed=state.crossed,
    )
