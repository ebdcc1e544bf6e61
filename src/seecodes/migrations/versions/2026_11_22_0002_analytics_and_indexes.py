"""Activity snapshots, team competition, instance metrics, telemetry events, project indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _installation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["installation_id"],
        ["installations.id"],
        name=f"fk_{table}_installation_id_installations",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "activity_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("user_account_id", sa.String(length=128), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task_age_minutes", sa.Integer(), nullable=True),
        sa.Column("human_active_ms", sa.BigInteger(), nullable=False),
        sa.Column("loc_added", sa.Integer(), nullable=False),
        sa.Column("loc_removed", sa.Integer(), nullable=False),
        sa.Column("loc_total", sa.Integer(), nullable=False),
        sa.Column("changed_files", JSON_DOCUMENT, nullable=False),
        sa.Column("changed_files_count", sa.Integer(), nullable=False),
        sa.Column("architecture_change", sa.Boolean(), nullable=False),
        sa.Column("logic_change", sa.Boolean(), nullable=False),
        sa.Column("specification_ui_change", sa.Boolean(), nullable=False),
        sa.Column("effort_units", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("window_ended_at > window_started_at", name="ck_activity_snapshots_window"),
        sa.CheckConstraint(
            "human_active_ms >= 0 AND loc_added >= 0 AND loc_removed >= 0 AND loc_total >= 0"
            " AND changed_files_count >= 0 AND effort_units >= 0",
            name="ck_activity_snapshots_counts",
        ),
        _installation_fk("activity_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_activity_snapshots"),
    )
    op.create_index(
        "ux_activity_snapshots_window",
        "activity_snapshots",
        [
            "installation_id",
            "project_id",
            "task_id",
            "user_account_id",
            "window_started_at",
            "window_ended_at",
        ],
        unique=True,
    )
    op.create_index(
        "ix_activity_snapshots_period", "activity_snapshots", ["installation_id", "window_ended_at"]
    )
    op.create_index(
        "ix_activity_snapshots_project_period",
        "activity_snapshots",
        ["installation_id", "project_id", "window_ended_at"],
    )

    op.create_table(
        "activity_daily",
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("user_account_id", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.Column("effort_units", sa.BigInteger(), nullable=False),
        sa.Column("human_active_ms", sa.BigInteger(), nullable=False),
        sa.Column("loc_changed", sa.BigInteger(), nullable=False),
        sa.Column("files_changed", sa.BigInteger(), nullable=False),
        sa.Column("architecture_changes", sa.Integer(), nullable=False),
        sa.Column("logic_changes", sa.Integer(), nullable=False),
        sa.Column("specification_ui_changes", sa.Integer(), nullable=False),
        sa.Column("first_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ended_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("activity_daily"),
        sa.PrimaryKeyConstraint(
            "installation_id", "project_id", "task_id", "user_account_id", "day", name="pk_activity_daily"
        ),
    )
    op.create_index("ix_activity_daily_period", "activity_daily", ["installation_id", "day"])
    op.create_index(
        "ix_activity_daily_task", "activity_daily", ["installation_id", "project_id", "task_id", "day"]
    )

    op.create_table(
        "telemetry_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("user_account_id", sa.String(length=128), nullable=False),
        sa.Column("permit_jti", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("telemetry_events"),
        sa.PrimaryKeyConstraint("id", name="pk_telemetry_events"),
    )
    op.create_index(
        "ux_telemetry_events_request", "telemetry_events", ["installation_id", "request_id"], unique=True
    )
    op.create_index("ix_telemetry_events_period", "telemetry_events", ["installation_id", "occurred_at"])
    op.create_index(
        "ix_telemetry_events_task",
        "telemetry_events",
        ["installation_id", "project_id", "task_id", "occurred_at"],
    )

    op.create_table(
        "instance_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("installed_users_count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("installed_users_count >= 0", name="ck_instance_metrics_installed_users_count"),
        _installation_fk("instance_metrics"),
        sa.PrimaryKeyConstraint("id", name="pk_instance_metrics"),
    )
    op.create_index("ix_instance_metrics_installation", "instance_metrics", ["installation_id", "id"])

    op.create_table(
        "project_indexes",
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("total_files", sa.Integer(), nullable=False),
        sa.CheckConstraint("total_files >= 0", name="ck_project_indexes_total_files"),
        _installation_fk("project_indexes"),
        sa.PrimaryKeyConstraint("installation_id", "project_id", name="pk_project_indexes"),
    )

    op.create_table(
        "project_index_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        # The entry's JSON as the query route returns it (never read inside the database).
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("project_index_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_project_index_entries"),
    )
    op.create_index(
        "ux_project_index_entries_path",
        "project_index_entries",
        ["installation_id", "project_id", "path"],
        unique=True,
    )
    op.create_index(
        "ix_project_index_entries_hash",
        "project_index_entries",
        ["installation_id", "project_id", "hash", "path"],
    )


def downgrade() -> None:
    op.drop_index("ix_project_index_entries_hash", table_name="project_index_entries")
    op.drop_index("ux_project_index_entries_path", table_name="project_index_entries")
    op.drop_table("project_index_entries")
    op.drop_table("project_indexes")
    op.drop_index("ix_instance_metrics_installation", table_name="instance_metrics")
    op.drop_table("instance_metrics")
    op.drop_index("ix_telemetry_events_task", table_name="telemetry_events")
    op.drop_index("ix_telemetry_events_period", table_name="telemetry_events")
    op.drop_index("ux_telemetry_events_request", table_name="telemetry_events")
    op.drop_table("telemetry_events")
    op.drop_index("ix_activity_daily_task", table_name="activity_daily")
    op.drop_index("ix_activity_daily_period", table_name="activity_daily")
    op.drop_table("activity_daily")
    op.drop_index("ix_activity_snapshots_project_period", table_name="activity_snapshots")
    op.drop_index("ix_activity_snapshots_period", table_name="activity_snapshots")
    op.drop_index("ux_activity_snapshots_window", table_name="activity_snapshots")
    op.drop_table("activity_snapshots")
