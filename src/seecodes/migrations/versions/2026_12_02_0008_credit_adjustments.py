"""Credit ledger: operator adjustments (`kind = 'adjustment'`) repeat freely, like grants

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONCE_PER_RUN = "kind NOT IN ('grant', 'adjustment')"


def _movement_index(where: str) -> None:
    op.create_index(
        "ux_credit_ledger_run_movement",
        "credit_ledger",
        ["kind", "reference"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index("ux_credit_ledger_run_movement", table_name="credit_ledger")
    _movement_index(_ONCE_PER_RUN)


def downgrade() -> None:
    op.drop_index("ux_credit_ledger_run_movement", table_name="credit_ledger")
    _movement_index("kind <> 'grant'")
