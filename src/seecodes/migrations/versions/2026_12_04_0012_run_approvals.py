"""The approval gate: two run states (awaiting_approval, rejected) and who decided what, when; a
follow-up run's parent; read-only share links to a run

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

SQLite cannot alter a CHECK constraint: the runs table is recreated (batch mode) with the new one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = ("initialized", "queued", "in_process", "processing_remote", "succeeded", "failed", "cancelled")
_AFTER = (
    "initialized",
    "awaiting_approval",
    "queued",
    "in_process",
    "processing_remote",
    "succeeded",
    "failed",
    "cancelled",
    "rejected",
)
_AWAITING = "status = 'awaiting_approval'"


def _statuses(values: tuple[str, ...]) -> str:
    return f"status IN {values!r}"


def upgrade() -> None:
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["installations.id"],
            name=op.f("fk_share_links_installation_id_installations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_share_links_token_hash")),
    )
    op.create_index("ix_share_links_run", "share_links", ["run_id"])
    op.create_index("ix_share_links_expires_at", "share_links", ["expires_at"])
    with op.batch_alter_table("runs") as runs:
        runs.drop_constraint(op.f("ck_runs_status"), type_="check")
        runs.create_check_constraint(op.f("ck_runs_status"), _statuses(_AFTER))
        runs.add_column(sa.Column("approval_requested_at", sa.DateTime(timezone=True), nullable=True))
        runs.add_column(sa.Column("approval_decided_at", sa.DateTime(timezone=True), nullable=True))
        runs.add_column(sa.Column("approval_decided_by", sa.String(length=200), nullable=True))
        runs.add_column(sa.Column("approval_reason", sa.Text(), nullable=True))
        runs.add_column(sa.Column("parent_run_id", sa.String(length=40), nullable=True))
    op.create_index(
        "ix_runs_awaiting_approval",
        "runs",
        ["installation_id", "approval_requested_at"],
        sqlite_where=sa.text(_AWAITING),
        postgresql_where=sa.text(_AWAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_share_links_expires_at", table_name="share_links")
    op.drop_index("ix_share_links_run", table_name="share_links")
    op.drop_table("share_links")
    op.drop_index("ix_runs_awaiting_approval", table_name="runs")
    op.execute("UPDATE runs SET status = 'cancelled' WHERE status IN ('awaiting_approval', 'rejected')")
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("parent_run_id")
        runs.drop_column("approval_reason")
        runs.drop_column("approval_decided_by")
        runs.drop_column("approval_decided_at")
        runs.drop_column("approval_requested_at")
        runs.drop_constraint(op.f("ck_runs_status"), type_="check")
        runs.create_check_constraint(op.f("ck_runs_status"), _statuses(_BEFORE))
