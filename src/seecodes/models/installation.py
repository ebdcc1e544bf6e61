from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import Sha256Hex, UtcDateTime


class InstallationStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    UNINSTALLED = "uninstalled"


INSTALLATION_STATUSES = tuple(status.value for status in InstallationStatus)


class Installation(Base):
    """One Jira app installation; every other row is scoped to one."""

    __tablename__ = "installations"
    __table_args__ = (
        CheckConstraint(f"status IN {INSTALLATION_STATUSES!r}", name="status"),
        Index("ix_installations_cloud_id", "cloud_id"),
    )

    # The installation ARI, "ari:cloud:ecosystem::installation/<uuid>".
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The Jira site UUID. A site keeps its cloudId across reinstalls; the installation id changes.
    cloud_id: Mapped[str | None] = mapped_column(String(64))
    site_url: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default=InstallationStatus.ACTIVE.value)
    app_id: Mapped[str | None] = mapped_column(String(200))
    environment_type: Mapped[str | None] = mapped_column(String(20))
    license_active: Mapped[bool | None] = mapped_column(Boolean)
    capability_set: Mapped[str | None] = mapped_column(String(64))
    activation_source: Mapped[str] = mapped_column(String(40))
    # Legacy bridge (seed 000): the instance key and link secret, as hashes only.
    instance_key_hash: Mapped[str | None] = mapped_column(Sha256Hex, unique=True)
    instance_key_prefix: Mapped[str | None] = mapped_column(String(40))
    link_secret_hash: Mapped[str | None] = mapped_column(Sha256Hex)
    # At most this many of its runs execute at once on each model (an operator's cap, `seecodes
    # admin installations concurrency`); None: SEECODES_RUN_INSTALLATION_CONCURRENCY.
    run_concurrency: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def is_active(self) -> bool:
        return self.status == InstallationStatus.ACTIVE

    @property
    def dev_mode_active(self) -> bool:
        return self.environment_type not in (None, "PRODUCTION")
