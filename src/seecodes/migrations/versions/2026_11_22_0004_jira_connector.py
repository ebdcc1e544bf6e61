"""Jira connector: OAuth connections, Forge system tokens, progress sync, execution tickets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_CONNECTION = "status != 'disconnected'"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _installation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["installation_id"],
        ["installations.id"],
        name=op.f(f"fk_{table}_installation_id_installations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "operator_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("display_prefix", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_operator_tokens_token_hash")),
    )

    op.create_table(
        "jira_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("jira_oauth_states"),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_jira_oauth_states")),
    )

    op.create_table(
        "jira_connections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=True),
        sa.Column("site_url", sa.String(length=255), nullable=True),
        sa.Column("site_name", sa.String(length=255), nullable=True),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("available_sites", _json(), nullable=True),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("access_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("token_generation", sa.Integer(), nullable=False),
        sa.Column("connected_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnect_reason", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('choosing_site', 'active', 'disconnected')", name=op.f("ck_jira_connections_status")
        ),
        _installation_fk("jira_connections"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_connections")),
    )
    with op.batch_alter_table("jira_connections", schema=None) as batch_op:
        batch_op.create_index("ix_jira_connections_installation", ["installation_id", "id"], unique=False)
        batch_op.create_index(
            "uq_jira_connections_live",
            ["installation_id"],
            unique=True,
            sqlite_where=sa.text(LIVE_CONNECTION),
            postgresql_where=sa.text(LIVE_CONNECTION),
        )

    op.create_table(
        "jira_forge_tokens",
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("cloud_id", sa.String(length=64), nullable=False),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("jira_forge_tokens"),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_jira_forge_tokens")),
    )

    op.create_table(
        "jira_issue_syncs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("requested_report_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_report_id", sa.Integer(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment_id", sa.String(length=64), nullable=True),
        sa.Column("comment_cloud_id", sa.String(length=64), nullable=True),
        sa.Column("failed_report_id", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("writes", sa.Integer(), nullable=False),
        _installation_fk("jira_issue_syncs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jira_issue_syncs")),
        sa.UniqueConstraint(
            "installation_id",
            "project_id",
            "task_id",
            name=op.f("uq_jira_issue_syncs_installation_id_project_id_task_id"),
        ),
    )

    op.create_table(
        "execution_tickets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=True),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("push_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("jira_cloud_id", sa.String(length=64), nullable=True),
        sa.Column("jira_project_key", sa.String(length=128), nullable=True),
        sa.Column("jira_issue_id", sa.String(length=32), nullable=True),
        sa.Column("jira_issue_key", sa.String(length=128), nullable=True),
        sa.Column("jira_url", sa.String(length=500), nullable=True),
        sa.Column("jira_priority", sa.String(length=100), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("jira_status", sa.String(length=255), nullable=True),
        sa.Column("jira_status_category", sa.String(length=32), nullable=True),
        sa.Column("jira_labels", _json(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "priority IN ('P0', 'P1', 'P2', 'P3')", name=op.f("ck_execution_tickets_priority")
        ),
        sa.CheckConstraint("source IN ('checklist', 'ai')", name=op.f("ck_execution_tickets_source")),
        _installation_fk("execution_tickets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_tickets")),
    )
    with op.batch_alter_table("execution_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_execution_tickets_batch", ["installation_id", "batch_id", "position"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("execution_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_execution_tickets_batch")
    op.drop_table("execution_tickets")
    op.drop_table("jira_issue_syncs")
    op.drop_table("jira_forge_tokens")
    with op.batch_alter_table("jira_connections", schema=None) as batch_op:
        batch_op.drop_index("uq_jira_connections_live")
        batch_op.drop_index("ix_jira_connections_installation")
    op.drop_table("jira_connections")
    op.drop_table("jira_oauth_states")
    op.drop_table("operator_tokens")
