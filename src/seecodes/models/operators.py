"""Operator tokens: bearer credentials for operators, created by the CLI and stored only as hashes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import Sha256Hex, UtcDateTime


class OperatorToken(Base):
    """`sc_admin_…`: valid for every installation until revoked; shown once when created."""

    __tablename__ = "operator_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(Sha256Hex, unique=True)
    display_prefix: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
