"""Jira connector state: OAuth states and connections, Forge system tokens, progress write-back,
execution tickets. Every token column holds ciphertext (see seecodes.jira.crypto), never a token."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, JsonDocument, Sha256Hex, UtcDateTime


class ConnectionState(StrEnum):
    CHOOSING_SITE = "choosing_site"  # the grant reaches several sites; the user picks one
    ACTIVE = "active"
    DISCONNECTED = "disconnected"


CONNECTION_STATUSES = tuple(state.value for state in ConnectionState)
TICKET_PRIORITIES = ("P0", "P1", "P2", "P3")
TICKET_SOURCES = ("checklist", "ai")
LIVE_CONNECTION = "status != 'disconnected'"


class JiraOAuthState(Base):
    """One authorize round trip: the `state` value (hashed), valid 10 minutes, deleted on use."""

    __tablename__ = "jira_oauth_states"
    __table_args__ = (Index("ix_jira_oauth_states_expires_at", "expires_at"),)

    state_hash: Mapped[str] = mapped_column(Sha256Hex, primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    # Who started it ("operator:3", "jira-app:557058:…"); becomes the connection's `connected_by`.
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JiraConnection(Base):
    """An OAuth 2.0 (3LO) grant for one installation.

    choosing_site → active → disconnected. At most one live (not disconnected) row per installation;
    disconnected rows stay for audit with their tokens cleared.
    """

    __tablename__ = "jira_connections"
    __table_args__ = (
        CheckConstraint(f"status IN {CONNECTION_STATUSES!r}", name="status"),
        Index(
            "uq_jira_connections_live",
            "installation_id",
            unique=True,
            sqlite_where=text(LIVE_CONNECTION),
            postgresql_where=text(LIVE_CONNECTION),
        ),
        Index("ix_jira_connections_installation", "installation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    cloud_id: Mapped[str | None] = mapped_column(String(64))
    site_url: Mapped[str | None] = mapped_column(String(255))
    site_name: Mapped[str | None] = mapped_column(String(255))
    scopes: Mapped[str] = mapped_column(String(1000))
    # The Jira sites the grant reaches, while the user has still to choose one.
    available_sites: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDocument)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    # Incremented by every refresh: a caller that saw generation N and finds N+1 uses the new token.
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    connected_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Atlassian refused the connection's tokens in a way a refresh does not fix (a 401 right after a
    # refresh, or one naming a scope): nothing is sent with it until the user connects again.
    reauthorization_required_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disconnected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disconnect_reason: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def is_active(self) -> bool:
        return self.status == ConnectionState.ACTIVE and self.reauthorization_required_at is None

    def require_reauthorization(self, reason: str, now: datetime) -> None:
        """Stop using the tokens (the refresh token is kept: it is not spent on a refusal it cannot fix)."""
        self.reauthorization_required_at = now
        self.record_error(reason, now)

    def activate(self, site: dict[str, Any], now: datetime) -> None:
        if self.status == ConnectionState.DISCONNECTED:
            raise ValueError("a disconnected connection cannot be activated")
        self.status = ConnectionState.ACTIVE.value
        self.cloud_id = str(site["id"])
        self.site_url = str(site["url"])
        self.site_name = str(site.get("name") or "")
        self.available_sites = None
        self.connected_at = now
        self.updated_at = now

    def disconnect(self, reason: str, now: datetime) -> None:
        """Soft: the row stays for audit, every token it held is gone."""
        self.status = ConnectionState.DISCONNECTED.value
        self.access_token_encrypted = None
        self.refresh_token_encrypted = None
        self.access_expires_at = None
        self.available_sites = None
        self.disconnected_at = now
        self.disconnect_reason = reason[:200]
        self.updated_at = now

    def record_error(self, reason: str, now: datetime) -> None:
        self.last_error = reason[:500]
        self.last_error_at = now
        self.updated_at = now


class JiraForgeToken(Base):
    """The latest Forge app system token (`x-forge-oauth-system`) an installation's app sent."""

    __tablename__ = "jira_forge_tokens"

    installation_id: Mapped[str] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), primary_key=True
    )
    # From the FIT's app.apiBaseUrl, accepted only as https://api.atlassian.com/ex/jira/<cloudId>.
    cloud_id: Mapped[str] = mapped_column(String(64))
    token_encrypted: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JiraIssueSync(Base):
    """Write-back of one task's progress document into its Jira issue.

    `requested_report_id` is the newest report a write was asked for, `synced_report_id` the newest
    written; a failure names the report it gave up on, so a newer report makes the task pending again.
    """

    __tablename__ = "jira_issue_syncs"
    __table_args__ = (UniqueConstraint("installation_id", "project_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    requested_report_id: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    synced_report_id: Mapped[int | None] = mapped_column(Integer)
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The issue comment that is edited in place on every later write.
    comment_id: Mapped[str | None] = mapped_column(String(64))
    comment_cloud_id: Mapped[str | None] = mapped_column(String(64))
    failed_report_id: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    writes: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def state(self) -> str:
        if self.synced_report_id is not None and self.synced_report_id >= self.requested_report_id:
            return "synced"
        if self.failed_report_id is not None and self.failed_report_id >= self.requested_report_id:
            return "failed"
        return "pending"


class ExecutionTicket(Base):
    """A ticket drafted from a document or a run's output, and the Jira issue it became."""

    __tablename__ = "execution_tickets"
    __table_args__ = (
        CheckConstraint(f"priority IN {TICKET_PRIORITIES!r}", name="priority"),
        CheckConstraint(f"source IN {TICKET_SOURCES!r}", name="source"),
        Index("ix_execution_tickets_batch", "installation_id", "batch_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    batch_id: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(20))
    run_id: Mapped[str | None] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(String(2))
    labels: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set by push; a ticket with a jira_issue_id is never pushed again.
    push_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    jira_cloud_id: Mapped[str | None] = mapped_column(String(64))
    jira_project_key: Mapped[str | None] = mapped_column(JiraKey)
    jira_issue_id: Mapped[str | None] = mapped_column(String(32))
    jira_issue_key: Mapped[str | None] = mapped_column(JiraKey)
    jira_url: Mapped[str | None] = mapped_column(String(500))
    jira_priority: Mapped[str | None] = mapped_column(String(100))
    pushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Read back by sync.
    jira_status: Mapped[str | None] = mapped_column(String(255))
    jira_status_category: Mapped[str | None] = mapped_column(String(32))
    jira_labels: Mapped[list[str] | None] = mapped_column(JsonDocument)
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def is_pushed(self) -> bool:
        return self.jira_issue_id is not None
