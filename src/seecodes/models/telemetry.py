"""Editor telemetry events accepted through the authenticated sender contract."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, UtcDateTime


class TelemetryEvent(Base):
    """One accepted event, attributed to the permit that sent it (never to what the body claims)."""

    __tablename__ = "telemetry_events"
    __table_args__ = (
        # Replay protection: a requestId is accepted once per installation, whoever sends it.
        Index("ux_telemetry_events_request", "installation_id", "request_id", unique=True),
        Index("ix_telemetry_events_period", "installation_id", "occurred_at"),
        Index("ix_telemetry_events_task", "installation_id", "project_id", "task_id", "occurred_at"),
        # The retention sweep deletes by age across installations.
        Index("ix_telemetry_events_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    permit_jti: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
