"""Runs, run events, usage items, model concurrency

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "status IN ('initialized', 'queued', 'in_process', 'processing_remote', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("user_account_id", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.Column("storage_prefix", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("user_prompt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rerun_of", sa.String(length=40), nullable=True),
        sa.Column("estimated_input_tokens", sa.Integer(), nullable=True),
        sa.Column("estimated_credits", sa.BigInteger(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("credits_charged", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_token_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploads_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(STATUSES, name=op.f("ck_runs_status")),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["installations.id"],
            name=op.f("fk_runs_installation_id_installations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_task", "runs", ["installation_id", "project_id", "task_id", "created_at"])
    op.create_index("ix_runs_settled", "runs", ["finished_at"])
    op.create_index("ix_runs_status", "runs", ["status", "queued_at"])
    op.create_table(
        "run_events",
        sa.Column("id", EVENT_ID, nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_events_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_events")),
    )
    op.create_index("ix_run_events_run", "run_events", ["run_id", "id"])
    op.create_table(
        "usage_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["installations.id"],
            name=op.f("fk_usage_items_installation_id_installations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_items")),
        sa.UniqueConstraint("run_id", name=op.f("uq_usage_items_run_id")),
    )
    op.create_index("ix_usage_items_installation", "usage_items", ["installation_id", "created_at"])
    op.create_index(
        "ux_credit_ledger_run_movement",
        "credit_ledger",
        ["kind", "reference"],
        unique=True,
        sqlite_where=sa.text("kind <> 'grant'"),
        postgresql_where=sa.text("kind <> 'grant'"),
    )


def downgrade() -> None:
    op.drop_index("ux_credit_ledger_run_movement", table_name="credit_ledger")
    op.drop_index("ix_usage_items_installation", table_name="usage_items")
    op.drop_table("usage_items")
    op.drop_index("ix_run_events_run", table_name="run_events")
    op.drop_table("run_events")
    op.drop_index("ix_runs_status", table_name="runs")
    op.drop_index("ix_runs_settled", table_name="runs")
    op.drop_index("ix_runs_task", table_name="runs")
    op.drop_table("runs")
