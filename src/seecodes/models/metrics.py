"""Installation-level figures the Jira App reports (installed users), kept as a history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import UtcDateTime


class InstanceMetric(Base):
    """One report; the newest row is the installation's current figure."""

    __tablename__ = "instance_metrics"
    __table_args__ = (
        Index("ix_instance_metrics_installation", "installation_id", "id"),
        CheckConstraint("installed_users_count >= 0", name="installed_users_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    installed_users_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
