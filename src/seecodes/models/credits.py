from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import UtcDateTime


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
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
