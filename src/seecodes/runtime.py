"""The long-lived objects one process needs, as the edges see them.

`bootstrap.build_runtime` fills it; routes (through `deps.py`), jobs and the CLI unpack it and hand
services exactly the collaborators they touch. Services never see a `Runtime`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from seecodes.config import RunExecution, Settings
from seecodes.db import Database
from seecodes.engine import Engine, QueueSpec, ScheduleSpec
from seecodes.kit import heap
from seecodes.kit.clock import Clock
from seecodes.kit.logging import get_logger
from seecodes.kit.metrics import MetricsEndpoint
from seecodes.runs import providers
from seecodes.runs.catalog import Catalog
from seecodes.runs.storage import ObjectStorage
from seecodes.runs.streams import StreamGate
from seecodes.runs.watch import RunWatch
from seecodes.security.callers import ForgeTokenSink
from seecodes.security.forge import ForgeVerifier
from seecodes.security.permits import PermitCodec
from seecodes.tasks.service import ProgressListener
from seecodes.telemetry.limiter import RateLimiter
from seecodes.webhooks.delivery import WebhookSender

_log = get_logger("seecodes.runtime")


class MetricsEndpointUnavailable(RuntimeError):
    """The worker's metrics endpoint cannot listen where the settings say; the worker does not start."""


@dataclass(frozen=True, slots=True)
class Workflows:
    """What this process can execute: every domain's queues (named when the engine starts, from
    the catalog of that moment) and schedules. The composition root collects them."""

    queues: Sequence[Callable[[Runtime], Sequence[QueueSpec]]] = ()
    schedules: Sequence[ScheduleSpec] = ()


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    forge: ForgeVerifier
    permits: PermitCodec
    engine: Engine
    catalog: Catalog
    storage: ObjectStorage
    telemetry_limiter: RateLimiter
    ticket_draft_limiter: RateLimiter
    streams: StreamGate
    run_watch: RunWatch
    webhooks: WebhookSender
    # Ports the connector fills: security keeps the Forge system token through it, and a saved
    # progress report is handed to it inside the POST's transaction. Both do nothing by default.
    forge_tokens: ForgeTokenSink
    progress_listeners: Sequence[ProgressListener] = ()
    workflows: Workflows = field(default_factory=Workflows)
    # A worker's own /metrics (SEECODES_WORKER_METRICS_PORT), open while the runtime is started.
    metrics_endpoint: MetricsEndpoint | None = None
    # Executing processes hand freed heap back to the system now and then (kit/heap.py).
    _trimmer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self, *, execute_runs: bool) -> None:
        """execute_runs: this process runs workflows (in-process shape, or a worker); else it only enqueues."""
        await self.storage.ensure_bucket()
        if execute_runs and self.settings.run_execution is RunExecution.WORKERS:
            self._open_metrics_endpoint()
        if execute_runs:
            _executing.bind(self)
            providers.preload()  # its first run does not wait for the SDK imports
            self._trimmer = asyncio.create_task(heap.return_freed_memory(), name="seecodes-heap-trim")
        await self.engine.start(
            execute=execute_runs,
            queues=[spec for provider in self.workflows.queues for spec in provider(self)],
            schedules=self.workflows.schedules,
        )

    def _open_metrics_endpoint(self) -> None:
        """Before the engine starts: a worker whose metrics nobody could scrape does not run quietly."""
        port, host = self.settings.worker_metrics_port, self.settings.worker_metrics_host
        if not port or self.metrics_endpoint is not None:
            return
        try:
            self.metrics_endpoint = MetricsEndpoint(host, port)
        except OSError as error:
            raise MetricsEndpointUnavailable(
                f"SEECODES_WORKER_METRICS_PORT={port} (SEECODES_WORKER_METRICS_HOST={host}): "
                f"cannot listen: {error.strerror or error}"
            ) from None
        _log.info("worker_metrics_endpoint", url=f"http://{host}:{self.metrics_endpoint.port}/metrics")

    async def close(self) -> None:
        if self._trimmer is not None:
            self._trimmer.cancel()
            self._trimmer = None
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.close()
            self.metrics_endpoint = None
        await self.run_watch.close()
        await self.engine.stop()
        _executing.release(self)
        await self.telemetry_limiter.close()
        await self.ticket_draft_limiter.close()
        await self.storage.close()
        await self.webhooks.close()
        await self.db.dispose()


class _Executing:
    """The runtime whose engine executes workflows in this process.

    DBOS calls a workflow with its arguments only and launches once per process, so the jobs
    modules find their collaborators here. A runtime whose engine has stopped may be replaced
    (tests build one runtime after another in one process)."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def bind(self, runtime: Runtime) -> None:
        current = self._runtime
        if current is not None and current is not runtime and current.engine.executing:
            raise RuntimeError("another runtime executes workflows in this process")
        self._runtime = runtime

    def release(self, runtime: Runtime) -> None:
        if self._runtime is runtime:
            self._runtime = None

    def get(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("no runtime executes workflows in this process")
        return self._runtime


_executing = _Executing()


def executing_runtime() -> Runtime:
    """For `jobs.py` modules only: the collaborators of the process's executing engine."""
    return _executing.get()
