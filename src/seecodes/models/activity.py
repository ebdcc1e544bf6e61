"""Activity the IDE reports for retrospectives: short windows of human work on one task."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, JsonDocument, UtcDateTime


class ActivitySnapshot(Base):
    """One activity window of one user on one task, with its effort units fixed when stored."""

    __tablename__ = "activity_snapshots"
    __table_args__ = (
        # A retried snapshot (same task, user and window) is stored once: the dedupe key.
        Index(
            "ux_activity_snapshots_window",
            "installation_id",
            "project_id",
            "task_id",
            "user_account_id",
            "window_started_at",
            "window_ended_at",
            unique=True,
        ),
        # Team competition reads a period of an installation, optionally of one project.
        Index("ix_activity_snapshots_period", "installation_id", "window_ended_at"),
        Index("ix_activity_snapshots_project_period", "installation_id", "project_id", "window_ended_at"),
        CheckConstraint("window_ended_at > window_started_at", name="window"),
        CheckConstraint(
            "human_active_ms >= 0 AND loc_added >= 0 AND loc_removed >= 0 AND loc_total >= 0"
            " AND changed_files_count >= 0 AND effort_units >= 0",
            name="counts",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    window_ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    task_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    task_age_minutes: Mapped[int | None] = mapped_column(Integer)
    human_active_ms: Mapped[int] = mapped_column(BigInteger)
    loc_added: Mapped[int] = mapped_column(Integer)
    loc_removed: Mapped[int] = mapped_column(Integer)
    loc_total: Mapped[int] = mapped_column(Integer)
    changed_files: Mapped[list[str]] = mapped_column(JsonDocument)
    changed_files_count: Mapped[int] = mapped_column(Integer)
    architecture_change: Mapped[bool] = mapped_column(Boolean)
    logic_change: Mapped[bool] = mapped_column(Boolean)
    specification_ui_change: Mapped[bool] = mapped_column(Boolean)
    effort_units: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ActivityDaily(Base):
    """Per task, user and UTC day (of windowEndedAt): the sums of the snapshots stored so far.

    Written in the transaction that stores each snapshot, so it always equals a GROUP BY over
    activity_snapshots (`rebuild_daily` recomputes it that way). The board reads these rows instead
    of every snapshot: a month is tasks × users × days rows, however many windows the IDE sent.
    """

    __tablename__ = "activity_daily"
    __table_args__ = (
        Index("ix_activity_daily_period", "installation_id", "day"),
        # "Has this task any snapshot in the period?" (the fallbacks ask it per run and per event).
        Index("ix_activity_daily_task", "installation_id", "project_id", "task_id", "day"),
    )

    installation_id: Mapped[str] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    task_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    user_account_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    snapshots: Mapped[int] = mapped_column(Integer)
    effort_units: Mapped[int] = mapped_column(BigInteger)
    human_active_ms: Mapped[int] = mapped_column(BigInteger)
    loc_changed: Mapped[int] = mapped_column(BigInteger)
    files_changed: Mapped[int] = mapped_column(BigInteger)
    architecture_changes: Mapped[int] = mapped_column(Integer)
    logic_changes: Mapped[int] = mapped_column(Integer)
    specification_ui_changes: Mapped[int] = mapped_column(Integer)
    first_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
