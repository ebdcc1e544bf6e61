from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, UtcDateTime

# The movements of a run (or a ticket draft): each at most once per reference.
RESERVE = "reserve"
SETTLE = "settle"
RELEASE = "release"
OPEN_RESERVATION = "kind = 'reserve' AND closed_at IS NULL"


class CreditLedgerEntry(Base):
    """Every credit movement is a row; an installation's balance is the sum of its deltas."""

    __tablename__ = "credit_ledger"
    __table_args__ = (
        Index("ix_credit_ledger_installation", "installation_id", "id"),
        # A run reserves, settles and releases at most once each, however often a worker retries;
        # grants and operator adjustments repeat freely.
        Index(
            "ux_credit_ledger_run_movement",
            "kind",
            "reference",
            unique=True,
            sqlite_where=text("kind NOT IN ('grant', 'adjustment')"),
            postgresql_where=text("kind NOT IN ('grant', 'adjustment')"),
        ),
        # The open reservations of an installation (and of one of its projects), read under its
        # lock by every start that a budget limits: only the rows still open, however long the ledger.
        Index(
            "ix_credit_ledger_open_reservations",
            "installation_id",
            "project_id",
            sqlite_where=text(OPEN_RESERVATION),
            postgresql_where=text(OPEN_RESERVATION),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A reservation's Jira project ("" for work of no project, such as ticket drafts), for budgets.
    project_id: Mapped[str | None] = mapped_column(JiraKey)
    # When the reservation's settle or release row was written: a marker on the reserve row, so
    # open reservations are found without an anti-join over the whole ledger. Movements stay rows.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
