"""Credentials we issue. Secrets are stored only as SHA-256 hashes; permits only by their jti."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, Sha256Hex, UtcDateTime

PERMIT_SOURCES = ("launch-exchange", "direct", "legacy")
UNCONSUMED = "consumed_at IS NULL"


class JiraRequestKey(Base):
    """A single-use key in a rotation chain bound to installation + principal."""

    __tablename__ = "jira_request_keys"
    __table_args__ = (
        Index("ix_jira_request_keys_chain_id", "chain_id"),
        # When an installation's Jira App last called (`admin installations`), and which key is its newest.
        Index("ix_jira_request_keys_installation", "installation_id", "issued_at", "id"),
        # Each chain's newest key, the only one not consumed: the retention sweep finds dead chains here.
        Index(
            "ix_jira_request_keys_unconsumed_expiry",
            "expires_at",
            sqlite_where=text(UNCONSUMED),
            postgresql_where=text(UNCONSUMED),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(Sha256Hex, unique=True)
    chain_id: Mapped[str] = mapped_column(String(32))
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    # The FIT's principal; empty for app-level invocations, which carry none.
    principal: Mapped[str] = mapped_column(JiraKey)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LaunchCode(Base):
    """A one-time code the browser carries to the IDE in place of the reusable permit."""

    __tablename__ = "launch_codes"
    __table_args__ = (Index("ix_launch_codes_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(Sha256Hex, unique=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set in the same statement that consumes the code, so a replay can revoke what it minted.
    permit_jti: Mapped[str | None] = mapped_column(String(64))


class TaskPermit(Base):
    """The server-side record of a permit JWT: listing, revocation, and the binding it carries."""

    __tablename__ = "task_permits"
    __table_args__ = (
        CheckConstraint(f"source IN {PERMIT_SOURCES!r}", name="source"),
        Index("ix_task_permits_task", "installation_id", "project_id", "task_id"),
        Index("ix_task_permits_expires_at", "expires_at"),
    )

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    source: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))


class EnrollmentToken(Base):
    """Operator-issued, one-time permission for one site to call the legacy POST /public/connect."""

    __tablename__ = "enrollment_tokens"
    __table_args__ = (Index("ix_enrollment_tokens_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(Sha256Hex, unique=True)
    cloud_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    installation_id: Mapped[str | None] = mapped_column(ForeignKey("installations.id", ondelete="SET NULL"))


class ShareLink(Base):
    """A read-only link to one run for someone without a permit (issue 15 §4): the token is shown
    once and kept only as its hash; it opens that run's status, output and log, nothing else."""

    __tablename__ = "share_links"
    __table_args__ = (Index("ix_share_links_run", "run_id"), Index("ix_share_links_expires_at", "expires_at"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(Sha256Hex, unique=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(JiraKey)  # the permit's Jira account
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
