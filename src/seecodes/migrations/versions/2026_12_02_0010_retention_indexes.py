"""Retention: indexes for the sweep's delete predicates (expiry and age), and for an installation's
newest request key

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

On a large existing table each index build holds the table's write lock until it is done (a plain
CREATE INDEX: the migration runs in one transaction under the migration lock).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNCONSUMED = "consumed_at IS NULL"

# (index, table, columns) of the plain indexes.
_INDEXES = (
    ("ix_jira_request_keys_installation", "jira_request_keys", ["installation_id", "issued_at", "id"]),
    ("ix_launch_codes_expires_at", "launch_codes", ["expires_at"]),
    ("ix_task_permits_expires_at", "task_permits", ["expires_at"]),
    ("ix_enrollment_tokens_expires_at", "enrollment_tokens", ["expires_at"]),
    ("ix_jira_oauth_states_expires_at", "jira_oauth_states", ["expires_at"]),
    ("ix_telemetry_events_occurred_at", "telemetry_events", ["occurred_at"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)
    op.create_index(
        "ix_jira_request_keys_unconsumed_expiry",
        "jira_request_keys",
        ["expires_at"],
        sqlite_where=sa.text(_UNCONSUMED),
        postgresql_where=sa.text(_UNCONSUMED),
    )


def downgrade() -> None:
    op.drop_index("ix_jira_request_keys_unconsumed_expiry", table_name="jira_request_keys")
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
