"""Credit budgets: monthly limits per installation and Jira project, thresholds crossed, and the
ledger's open reservations by project

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04

Existing reservations get their run's project, and those already settled or released are marked
closed, so the first budget check counts only the reservations still open.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_RESERVATION = "kind = 'reserve' AND closed_at IS NULL"


def _installation_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["installation_id"],
        ["installations.id"],
        name=op.f(f"fk_{table}_installation_id_installations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "credit_budgets",
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("monthly_credits", sa.BigInteger(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column(
            "alert_thresholds", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("approval_threshold", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('alert', 'stop')", name=op.f("ck_credit_budgets_mode")),
        sa.CheckConstraint(
            "monthly_credits IS NULL OR monthly_credits >= 0", name=op.f("ck_credit_budgets_monthly_credits")
        ),
        _installation_fk("credit_budgets"),
        sa.PrimaryKeyConstraint("installation_id", "project_id", name=op.f("pk_credit_budgets")),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("installation_id", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("monthly_credits", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("crossed_at", sa.DateTime(timezone=True), nullable=False),
        _installation_fk("budget_alerts"),
        sa.PrimaryKeyConstraint(
            "installation_id", "project_id", "month", "threshold", name=op.f("pk_budget_alerts")
        ),
    )
    with op.batch_alter_table("credit_ledger") as table:
        table.add_column(sa.Column("project_id", sa.String(length=128), nullable=True))
        table.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE credit_ledger SET project_id = "
        "(SELECT runs.project_id FROM runs WHERE runs.id = credit_ledger.reference) "
        "WHERE kind = 'reserve'"
    )
    op.execute("UPDATE credit_ledger SET project_id = '' WHERE kind = 'reserve' AND project_id IS NULL")
    op.execute(
        "UPDATE credit_ledger SET closed_at = (SELECT MIN(ended.created_at) FROM credit_ledger AS ended "
        "WHERE ended.reference = credit_ledger.reference AND ended.kind IN ('settle', 'release')) "
        "WHERE kind = 'reserve'"
    )
    op.create_index(
        "ix_credit_ledger_open_reservations",
        "credit_ledger",
        ["installation_id", "project_id"],
        sqlite_where=sa.text(_OPEN_RESERVATION),
        postgresql_where=sa.text(_OPEN_RESERVATION),
    )


def downgrade() -> None:
    op.drop_index("ix_credit_ledger_open_reservations", table_name="credit_ledger")
    with op.batch_alter_table("credit_ledger") as table:
        table.drop_column("closed_at")
        table.drop_column("project_id")
    op.drop_table("budget_alerts")
    op.drop_table("credit_budgets")
