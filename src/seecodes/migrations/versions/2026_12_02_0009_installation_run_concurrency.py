"""Fair dispatch: an installation's optional run cap per model, and each queued run's slot

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("installations") as table:
        table.add_column(sa.Column("run_concurrency", sa.Integer(), nullable=True))
    with op.batch_alter_table("runs") as table:
        table.add_column(sa.Column("dispatch_slot", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as table:
        table.drop_column("dispatch_slot")
    with op.batch_alter_table("installations") as table:
        table.drop_column("run_concurrency")
