from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, JsonDocument, UtcDateTime


class TaskContext(Base):
    """What the Jira App handed over with the launch: the issue context and the editor boot state."""

    __tablename__ = "task_contexts"
    __table_args__ = (UniqueConstraint("installation_id", "project_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    jira_context: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    initial_tai: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProgressReport(Base):
    """One saved progress document; every POST is kept, the newest is the task's current state."""

    __tablename__ = "progress_reports"
    __table_args__ = (Index("ix_progress_reports_task", "installation_id", "project_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    ready: Mapped[list[str]] = mapped_column(JsonDocument)
    left: Mapped[list[str]] = mapped_column(JsonDocument)
    progress: Mapped[str] = mapped_column(String(4))
    confidence: Mapped[str] = mapped_column(String(6))
    risks: Mapped[list[str]] = mapped_column(JsonDocument)
    logs: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
