"""The shared per-project file index: one summary per path, reusable wherever the hash matches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, Sha256Hex, UtcDateTime


class ProjectIndex(Base):
    """Per project: when its index last changed and how many files it holds.

    Upserts lock this row first, so concurrent writers to one project serialise and the running
    `total_files` stays exact without counting a million rows on every write.
    """

    __tablename__ = "project_indexes"
    __table_args__ = (CheckConstraint("total_files >= 0", name="total_files"),)

    installation_id: Mapped[str] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(JiraKey, primary_key=True)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)
    total_files: Mapped[int] = mapped_column(Integer)


class ProjectIndexEntry(Base):
    __tablename__ = "project_index_entries"
    __table_args__ = (
        # Same-path lookups and the upsert's conflict target.
        Index("ux_project_index_entries_path", "installation_id", "project_id", "path", unique=True),
        # Hash reuse: the first path with a hash is read from the index alone.
        Index("ix_project_index_entries_hash", "installation_id", "project_id", "hash", "path"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    path: Mapped[str] = mapped_column(String(1024))
    hash: Mapped[str] = mapped_column(Sha256Hex)
    # Epoch milliseconds as the client sent them (the contract's unit for index times).
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)
    # The entry exactly as the query route returns it (hash, updatedAt, short, detailed,
    # important_symbols, dependencies, exports), serialized once by the upsert. The server never
    # looks inside, so a 5,000-match answer embeds these documents without decoding them.
    document: Mapped[str] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)
