"""Outbound webhook endpoints of an installation and the deliveries made to them (issue 15 §3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JsonDocument, Sha256Hex, UtcDateTime


class WebhookEvent(StrEnum):
    RUN_QUEUED = "run.queued"
    RUN_STARTED = "run.started"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_AWAITING_APPROVAL = "run.awaiting_approval"
    PROGRESS_SAVED = "progress.saved"
    BUDGET_THRESHOLD = "budget.threshold"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not delivered yet: its workflow is trying, or waits out a back-off
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # every attempt failed, or its endpoint was disabled or removed meanwhile


class WebhookEndpoint(Base):
    """Where an installation's events are posted. The signing secret is never stored: it is derived
    from the server's secret key and `salt` when a delivery is signed (`webhooks.service`), and only
    its hash is kept, so a copy of the database signs nothing."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_installation", "installation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # wh_…
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[Any]] = mapped_column(JsonDocument)
    salt: Mapped[str] = mapped_column(String(64))
    # Which of the server's secret keys the secret was derived from (a fingerprint, not the key),
    # so a rotated key still signs for the endpoints made under it while it is a previous key.
    key_id: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(Sha256Hex)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One event for one endpoint. Its id is the `webhook-id` header, the same on every attempt, so
    a receiver that saw it once can drop a repeat. `body` is the exact bytes signed and sent."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
        # The sweep's view: deliveries whose workflow may have been lost before it was enqueued.
        Index(
            "ix_webhook_deliveries_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_created", "created_at"),
        CheckConstraint(f"status IN {tuple(status.value for status in DeliveryStatus)!r}", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_…
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    installation_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_latency_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
