from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from seecodes.db import Base
from seecodes.models.types import JiraKey, JsonDocument, UtcDateTime


class RunStatus(StrEnum):
    INITIALIZED = "initialized"  # created by init; uploads may still be arriving
    AWAITING_APPROVAL = "awaiting_approval"  # estimated at or above the approval threshold
    QUEUED = "queued"
    IN_PROCESS = "in_process"
    PROCESSING_REMOTE = "processing_remote"  # waiting on the model provider
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # its approval was refused, or expired undecided


# The run state machine: every move a run may make. `runs.repository.move` refuses any other, with
# one conditional UPDATE on the sources of its target, so a cancel and a finishing worker cannot
# both win.
NEXT: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.INITIALIZED: frozenset({RunStatus.QUEUED, RunStatus.AWAITING_APPROVAL, RunStatus.CANCELLED}),
    # Nothing is reserved while a run waits; approving it reserves and queues in one transaction.
    RunStatus.AWAITING_APPROVAL: frozenset({RunStatus.QUEUED, RunStatus.REJECTED, RunStatus.CANCELLED}),
    RunStatus.QUEUED: frozenset({RunStatus.IN_PROCESS, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.IN_PROCESS: frozenset(
        {RunStatus.PROCESSING_REMOTE, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    # processing_remote → processing_remote: an executor that died mid-call calls the model again.
    RunStatus.PROCESSING_REMOTE: frozenset(
        {RunStatus.PROCESSING_REMOTE, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.REJECTED: frozenset(),
}


def sources_of(target: RunStatus) -> frozenset[RunStatus]:
    """The states a run may move to `target` from."""
    return frozenset(state for state, targets in NEXT.items() if target in targets)


SETTLED = frozenset(state for state, targets in NEXT.items() if not targets)
EXECUTING = frozenset({RunStatus.IN_PROCESS, RunStatus.PROCESSING_REMOTE})


class Run(Base):
    """One AI run on uploaded context, bound to the permit's installation, project and task.

    `status` moves initialized → queued → in_process → processing_remote → succeeded | failed,
    or to cancelled from any unsettled state; a run estimated at or above its installation's
    approval threshold waits in awaiting_approval until it is queued or rejected. `finished_at` is
    set exactly when it settles.
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_task", "installation_id", "project_id", "task_id", "created_at"),
        Index("ix_runs_settled", "finished_at"),
        Index("ix_runs_status", "status", "queued_at"),
        # The pending approvals of an installation, newest first, and the expiry sweep's oldest.
        Index(
            "ix_runs_awaiting_approval",
            "installation_id",
            "approval_requested_at",
            sqlite_where=text("status = 'awaiting_approval'"),
            postgresql_where=text("status = 'awaiting_approval'"),
        ),
        CheckConstraint(f"status IN {tuple(status.value for status in RunStatus)!r}", name="status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    user_account_id: Mapped[str] = mapped_column(JiraKey)
    model: Mapped[str] = mapped_column(String(100))
    files: Mapped[list[str]] = mapped_column(JsonDocument)
    storage_prefix: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    user_prompt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    rerun_of: Mapped[str | None] = mapped_column(String(40))
    # A follow-up's parent: the succeeded run whose output it goes on from (`POST …/continue`).
    parent_run_id: Mapped[str | None] = mapped_column(String(40))
    estimated_input_tokens: Mapped[int | None] = mapped_column(Integer)
    estimated_credits: Mapped[int | None] = mapped_column(BigInteger)
    # Bytes start froze (the uploads and their frozen copies), counted against the storage quota
    # until the uploads are purged.
    input_bytes: Mapped[int | None] = mapped_column(BigInteger)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    credits_charged: Mapped[int | None] = mapped_column(BigInteger)
    # Its installation's dispatch slot on the model's queue (`runs.service.dispatch_key`).
    dispatch_slot: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_token_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    uploads_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Output files and the event history (logs, output deltas) deleted by the retention setting.
    artifacts_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The approval gate (issue 15 §2): when it was asked for and decided, by whom, and why.
    approval_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approval_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    approval_decided_by: Mapped[str | None] = mapped_column(String(200))
    approval_reason: Mapped[str | None] = mapped_column(Text)

    @property
    def settled(self) -> bool:
        return self.status in SETTLED


class RunEvent(Base):
    """What happened to a run, in order: status changes, log lines, output deltas.

    The id is the SSE event id, so `Last-Event-ID` resumes exactly after the last event a client saw;
    the plain-text log is the `log` events of a run.
    """

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UsageItem(Base):
    """One settled run as the Jira App's usage dashboard shows it."""

    __tablename__ = "usage_items"
    __table_args__ = (Index("ix_usage_items_installation", "installation_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    installation_id: Mapped[str] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(40), unique=True)
    project_id: Mapped[str] = mapped_column(JiraKey)
    task_id: Mapped[str] = mapped_column(JiraKey)
    type: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    credits: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
