"""Monthly credit budgets of an installation and of its Jira projects, and the thresholds crossed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, JsonDocument, UtcDateTime

# The project id of the installation-wide row: one table holds both kinds of budget.
WHOLE_INSTALLATION = ""


class BudgetMode(StrEnum):
    ALERT = "alert"  # runs go on past the limit; crossing a threshold is recorded and announced
    STOP = "stop"  # a start whose estimate would pass the limit is refused with 402


BUDGET_MODES = tuple(mode.value for mode in BudgetMode)


class CreditBudget(Base):
    """One budget. The installation-wide row (project_id "") always exists once budgets are set:
    it carries the installation's mode and thresholds even when it sets no limit of its own."""

    __tablename__ = "credit_budgets"
    __table_args__ = (
        CheckConstraint(f"mode IN {BUDGET_MODES!r}", name="mode"),
        CheckConstraint("monthly_credits IS NULL OR monthly_credits >= 0", name="monthly_credits"),
    )

    installation_id: Mapped[str] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    monthly_credits: Mapped[int | None] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(10))
    alert_thresholds: Mapped[list[Any]] = mapped_column(JsonDocument)
    # Installation row only (issue 15 §2): a start estimated at or above it waits for approval.
    approval_threshold: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BudgetAlert(Base):
    """A threshold a budget crossed in a month. The key makes each crossing happen once, however
    many settlements race past it."""

    __tablename__ = "budget_alerts"

    installation_id: Mapped[str] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-12", UTC
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)  # percent of the limit
    monthly_credits: Mapped[int] = mapped_column(BigInteger)  # the limit it was crossed against
    spent: Mapped[int] = mapped_column(BigInteger)
    crossed_at: Mapped[datetime] = mapped_column(UtcDateTime)
