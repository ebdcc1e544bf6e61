"""Jira connections: when Atlassian stopped accepting the connection's tokens without a refresh fixing it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jira_connections") as connections:
        connections.add_column(
            sa.Column("reauthorization_required_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("jira_connections") as connections:
        connections.drop_column("reauthorization_required_at")
