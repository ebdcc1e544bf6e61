"""The durable workflow engine (DBOS Transact) that runs and Jira jobs execute on.

Two shapes, one code base:

* in process (the embedded default): the API process launches DBOS on its own system database and
  executes the workflows it enqueues;
* workers: API processes only enqueue through a `DBOSClient`; `seecodes worker` processes launch
  DBOS, dequeue and execute. A worker killed mid-run resumes its workflows when it restarts with the
  same `worker_id` (DBOS recovers the pending workflows of its executor id).

Domain `jobs.py` modules declare workflows with DBOS's decorators at import time and the queues they
need through `declare_queues`; workflow code reaches the process's Runtime through
`current_runtime()`, because DBOS calls workflows with their arguments only.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbos import DBOS, DBOSClient, EnqueueOptions, ScheduleInput

from seecodes.config import RunExecution, Settings
from seecodes.db import is_sqlite, sync_url
from seecodes.kit.logging import get_logger

if TYPE_CHECKING:
    from seecodes.runtime import Runtime

_log = get_logger("seecodes.engine")

APP_NAME = "seecodes"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    global_concurrency: int | None = None
    # Per partition key (a Jira site, say): at most this many at once across every executor.
    partition_concurrency: int | None = None
    # How often each executor polls this queue; None: SEECODES_RUN_QUEUE_POLL_SECONDS. Every poll
    # is a query on the system database, so a queue whose work is not latency-bound polls slower.
    poll_seconds: float | None = None
    # Whether this executor dequeues from it. The queue itself is shared configuration in the
    # system database; an executor that cannot do the work (a model whose key it lacks) leaves it
    # to those that can, and does not spend a poll on it every few milliseconds.
    listen: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    name: str
    workflow: Callable[..., Any]
    cron: str


@dataclass(slots=True)
class _Declarations:
    queues: list[Callable[[Runtime], Sequence[QueueSpec]]] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)


_declared = _Declarations()
_current: Runtime | None = None


def declare_queues(
    provider: Callable[[Runtime], Sequence[QueueSpec]],
) -> Callable[[Runtime], Sequence[QueueSpec]]:
    """Register a function that names the queues a domain needs (evaluated when the engine starts)."""
    _declared.queues.append(provider)
    return provider


def declare_schedule(name: str, cron: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a (scheduled_time, context) workflow on a cron schedule, once per tick across executors."""

    def register(workflow: Callable[..., Any]) -> Callable[..., Any]:
        _declared.schedules.append(ScheduleSpec(name, workflow, cron))
        return workflow

    return register


def current_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("no engine is executing workflows in this process")
    return _current


def system_database_url(settings: Settings) -> str:
    """DBOS keeps its own tables: beside the SQLite file, or in a `dbos` schema of PostgreSQL."""
    if settings.run_engine_database_url:
        return sync_url(settings.run_engine_database_url)
    database_url = settings.effective_database_url
    if is_sqlite(database_url):
        return f"sqlite:///{Path(settings.var_dir) / 'dbos.sqlite'}"
    return sync_url(database_url)


def _import_jobs() -> None:
    """Workflows register with DBOS when their module is imported, which must precede launch."""
    importlib.import_module("seecodes.runs.jobs")
    with contextlib.suppress(ModuleNotFoundError):  # the Jira connector's jobs, when installed
        importlib.import_module("seecodes.jira.jobs")


class Engine:
    """Starts DBOS in the shape the settings ask for and enqueues and cancels workflows."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = system_database_url(settings)
        self._client: DBOSClient | None = None
        self._launched = False

    @property
    def executes(self) -> bool:
        return self._launched

    async def start(self, runtime: Runtime, *, execute: bool) -> None:
        """execute=True: launch DBOS here and run workflows; False: enqueue-only client."""
        global _current
        _import_jobs()
        if not execute:
            # lazy: an API process holds no system-database connections until it first enqueues.
            self._client = await asyncio.to_thread(
                DBOSClient, system_database_url=self._url, application_name=APP_NAME, lazy=True
            )
            return
        if _current is not None:
            raise RuntimeError("one engine per process executes workflows")
        _current = runtime
        if is_sqlite(self._url):
            Path(self._url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        DBOS(
            config={
                "name": APP_NAME,
                "system_database_url": self._url,
                "executor_id": self._executor_id(),
                "log_level": "WARNING",
                "scheduler_polling_interval_sec": 5.0,
                "notification_listener_polling_interval_sec": 0.1,
            }
        )
        queues = [spec for provider in _declared.queues for spec in provider(runtime)]
        DBOS.listen_queues([spec.name for spec in queues if spec.listen])
        # On the event loop's own thread: DBOS runs async workflows on the loop that launched it.
        DBOS.launch()
        self._launched = True
        for spec in queues:
            await DBOS.register_queue_async(
                spec.name,
                global_concurrency=spec.global_concurrency,
                partition_concurrency=spec.partition_concurrency,
                polling_interval_sec=spec.poll_seconds or self._settings.run_queue_poll_seconds,
                on_conflict="always_update",
            )
        if _declared.schedules:
            schedules: list[ScheduleInput] = [
                {"schedule_name": spec.name, "workflow_fn": spec.workflow, "schedule": spec.cron}
                for spec in _declared.schedules
            ]
            await DBOS.apply_schedules_async(schedules)
        _log.info("engine_started", executor=self._executor_id(), shape=self._settings.run_execution.value)

    def _executor_id(self) -> str:
        if self._settings.run_execution is RunExecution.WORKERS:
            return self._settings.worker_id
        return "local"

    async def enqueue(
        self,
        *,
        queue: str,
        workflow: str,
        workflow_id: str,
        args: Sequence[Any] = (),
        partition_key: str | None = None,
        delay_seconds: float | None = None,
        deduplication_id: str | None = None,
    ) -> None:
        """Enqueue by name, so the process that executes may be another one."""
        options: EnqueueOptions = {"queue_name": queue, "workflow_name": workflow, "workflow_id": workflow_id}
        if partition_key is not None:
            options["queue_partition_key"] = partition_key
        if delay_seconds:
            options["delay_seconds"] = delay_seconds
        if deduplication_id is not None:
            options["deduplication_id"] = deduplication_id
            options["duplication_policy"] = "return-existing"
        if self._launched:
            await DBOS.enqueue_workflow_with_options_async(options, *args)
        elif self._client is not None:
            await self._client.enqueue_async(options, *args)
        else:
            raise RuntimeError("the engine is not started")

    async def cancel(self, workflow_id: str) -> None:
        if self._launched:
            await DBOS.cancel_workflow_async(workflow_id)
        elif self._client is not None:
            await self._client.cancel_workflow_async(workflow_id)

    async def stop(self) -> None:
        global _current
        if self._launched:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            # DBOS installed its own default executor on this loop and has just shut it down;
            # asyncio.to_thread must keep working for whatever the loop runs next.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
            self._launched = False
            _current = None
        if self._client is not None:
            await asyncio.to_thread(self._client.destroy)
            self._client = None


def migrate_system_database(settings: Settings) -> None:
    """`seecodes migrate` prepares DBOS's tables too, so enqueue-only API processes find them."""
    from dbos import run_dbos_database_migrations

    url = system_database_url(settings)
    if is_sqlite(url):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    run_dbos_database_migrations(url)
