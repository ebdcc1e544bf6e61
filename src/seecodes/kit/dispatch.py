"""What a unit of work hands the run engine once it has committed.

Services record these on their session (`db.after_commit`); they never talk to the engine
themselves, so a job can never be sent for a write that then rolls back. The engine implements
`Dispatcher`; the composition root connects the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Enqueue a workflow by name (the process that executes it may be another one)."""

    queue: str
    workflow: str
    workflow_id: str
    args: Sequence[Any] = field(default_factory=tuple)
    partition_key: str | None = None
    delay_seconds: float | None = None
    # With a deduplication id, a second enqueue while the first waits attaches to it.
    deduplication_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelWorkflow:
    workflow_id: str


AfterCommit = Enqueue | CancelWorkflow


class Dispatcher(Protocol):
    async def dispatch(self, action: AfterCommit) -> None: ...


class WorkflowRunner(Protocol):
    """Run a workflow wherever the engine executes it and wait for its result: for work a request
    answers with but that must share a queue's limits (a model's concurrency)."""

    async def run(self, job: Enqueue, *, wait_seconds: float) -> Any:
        """TimeoutError when it takes longer; the workflow keeps running to its end."""
        ...
