"""The durable workflow engine (DBOS Transact) that runs and Jira jobs execute on.

Two shapes, one code base:

* in process (the embedded default): the API process launches DBOS on its own system database and
  executes the workflows it enqueues;
* workers: API processes only enqueue through a `DBOSClient`; `seecodes worker` processes launch
  DBOS, dequeue and execute. Each worker beats in the system database (`executors.py`); the live
  ones take over the workflows of a worker that stopped or went silent, whatever the name of its
  replacement, and a worker restarted under its own id resumes them at once (DBOS recovers the
  pending workflows of its executor id on launch).

The engine knows no domain. Domain `jobs.py` modules declare their workflows with DBOS's decorators
(at import, which must precede launch) and describe their queues and schedules; the composition
root (`bootstrap.py`) imports them and hands those descriptions to `start`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dbos import DBOS, DBOSClient, EnqueueOptions, ScheduleInput, WorkflowHandleAsync
from dbos._context import get_local_dbos_context

from seecodes.config import RunExecution, Settings
from seecodes.db import is_sqlite, sync_url
from seecodes.executors import Executor, Liveness, adopt_workflows
from seecodes.kit.dispatch import AfterCommit, Enqueue
from seecodes.kit.logging import get_logger

_log = get_logger("seecodes.engine")

APP_NAME = "seecodes"
# The run engine's application version, the same in every release. DBOS would otherwise derive it
# from the workflows' source, and it recovers and dequeues a workflow only on an executor of the
# version that started it: in a rolling upgrade, the runs a stopped old worker hands back would wait
# for a worker of its version, and none would come. Instead each release keeps its workflows
# replayable by the next (docs/upgrading.md: a workflow's name, arguments and steps only grow; one
# that must change gets a new name, and the old one stays registered for a release).
APPLICATION_VERSION = "seecodes"
# How often a waiting request looks for a workflow's result (a query on the system database).
RESULT_POLL_SECONDS = 0.1
# The states DBOS never moves a workflow out of: only workflows in these are ever deleted.
FINISHED_WORKFLOW_STATES = ["SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"]


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
    """A (scheduled_time, context) workflow on a cron schedule, run once per tick across executors."""

    name: str
    workflow: Callable[..., Any]
    cron: str


def system_database_url(settings: Settings) -> str:
    """DBOS keeps its own tables: beside the SQLite file, or in a `dbos` schema of PostgreSQL."""
    if settings.run_engine_database_url:
        return sync_url(settings.run_engine_database_url)
    database_url = settings.effective_database_url
    if is_sqlite(database_url):
        return f"sqlite:///{Path(settings.var_dir) / 'dbos.sqlite'}"
    return sync_url(database_url)


class Engine:
    """Starts DBOS in the shape the settings ask for and enqueues and cancels workflows."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._url = system_database_url(settings)
        self._client: DBOSClient | None = None
        self._launched = False
        self._liveness: Liveness | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._workflow_tasks: set[asyncio.Task[Any]] = set()

    @property
    def executing(self) -> bool:
        return self._launched

    async def start(
        self, *, execute: bool, queues: Sequence[QueueSpec] = (), schedules: Sequence[ScheduleSpec] = ()
    ) -> None:
        """execute=True: launch DBOS here and run workflows; False: enqueue-only client.

        DBOS launches once per process, so one engine per process executes."""
        if not execute:
            # lazy: an API process holds no system-database connections until it first enqueues.
            self._client = await asyncio.to_thread(
                DBOSClient, system_database_url=self._url, application_name=APP_NAME, lazy=True
            )
            return
        if DBOS_LAUNCHED.engine is not None:
            raise RuntimeError("one engine per process executes workflows (DBOS launches once per process)")
        if is_sqlite(self._url):
            Path(self._url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        if self._settings.run_execution is RunExecution.WORKERS:
            # Before launch: DBOS starts recovering this id's workflows as it launches.
            liveness = Liveness(
                self._url, self._executor_id(), timeout_seconds=self._settings.worker_liveness_timeout_seconds
            )
            try:
                await asyncio.to_thread(liveness.create_table)
                await asyncio.to_thread(liveness.claim, [spec.name for spec in queues if spec.listen])
            except BaseException:
                liveness.close()
                raise
            self._liveness = liveness
        # Before launch, which recovers this id's pending workflows of this version only.
        await self._adopt(self._executor_id())
        dbos = DBOS(
            config={
                "name": APP_NAME,
                "application_version": APPLICATION_VERSION,
                "system_database_url": self._url,
                "executor_id": self._executor_id(),
                "log_level": "WARNING",
                "scheduler_polling_interval_sec": 5.0,
                "notification_listener_polling_interval_sec": 0.1,
            }
        )
        DBOS.listen_queues([spec.name for spec in queues if spec.listen])
        # On the event loop's own thread: DBOS runs async workflows on the loop that launched it.
        DBOS.launch()
        self._launched = True
        DBOS_LAUNCHED.engine = self
        # DBOS's own set of the workflow tasks it runs on this loop, so stop can interrupt them.
        self._workflow_tasks = dbos._workflow_tasks
        for spec in queues:
            await DBOS.register_queue_async(
                spec.name,
                global_concurrency=spec.global_concurrency,
                partition_concurrency=spec.partition_concurrency,
                polling_interval_sec=spec.poll_seconds or self._settings.run_queue_poll_seconds,
                on_conflict="always_update",
            )
        if schedules:
            inputs: list[ScheduleInput] = [
                {"schedule_name": spec.name, "workflow_fn": spec.workflow, "schedule": spec.cron}
                for spec in schedules
            ]
            await DBOS.apply_schedules_async(inputs)
        if self._liveness is not None:
            self._keeper = asyncio.create_task(self._keep_alive(self._liveness), name="seecodes-liveness")
        _log.info("engine_started", executor=self._executor_id(), shape=self._settings.run_execution.value)

    def _beat_seconds(self) -> float:
        # Several beats per timeout, so one slow beat does not make a live worker look silent;
        # never slower than 2 s, the longest a cleanly stopped worker's runs wait for a taker.
        return min(2.0, max(0.2, self._settings.worker_liveness_timeout_seconds / 5))

    async def _keep_alive(self, liveness: Liveness) -> None:
        """Beat, then take over every silent executor this one wins (`executors.py`)."""
        beat_seconds = self._beat_seconds()
        failing = False
        # A sweeper whose own beats failed does not sweep until every executor has had a beat's
        # time to beat again: after an outage of the database, nobody is silent, everybody is late.
        quiet_until = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(beat_seconds)
            try:
                trouble = await asyncio.to_thread(liveness.beat)
                if trouble is not None:
                    _log.error("executor_was_silent", executor=liveness.executor_id, reason=trouble)
                if loop.time() < quiet_until:
                    continue
                for silent in await asyncio.to_thread(liveness.silent):
                    if await asyncio.to_thread(liveness.take_over, silent):
                        await self._recover(silent)
                if failing:
                    failing = False
                    _log.info("executor_heartbeat_recovered", executor=liveness.executor_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database may be away; beat again next time
                quiet_until = loop.time() + 3 * beat_seconds
                if not failing:
                    failing = True
                    _log.warning(
                        "executor_heartbeat_failed",
                        executor=liveness.executor_id,
                        error=type(error).__name__,
                        reason=str(error).splitlines()[0][:200] if str(error) else "",
                    )

    async def _adopt(self, executor_id: str) -> None:
        adopted = await asyncio.to_thread(
            adopt_workflows, self._url, executor_id, APPLICATION_VERSION, APP_NAME
        )
        if adopted:
            _log.info("workflows_adopted", executor=executor_id, by=self._executor_id(), count=adopted)

    async def _recover(self, silent: Executor) -> None:
        # An earlier release's workflows first take this version, which alone DBOS recovers here.
        await self._adopt(silent.executor_id)
        # DBOS's recovery re-enqueues the workflows still PENDING on that executor; the queue's
        # dequeue then admits exactly one runner, which resumes at the first unfinished step.
        handles = await asyncio.to_thread(DBOS._recover_pending_workflows, [silent.executor_id])
        _log.warning(
            "executor_taken_over",
            executor=silent.executor_id,
            by=self._executor_id(),
            reason="stopped" if silent.state == "stopped" else f"silent for {silent.silent_ms / 1000:.1f} s",
            workflows=len(handles),
        )

    async def fleet(self) -> list[Executor] | None:
        """The workers on record, in the workers shape (None in the in-process shape, or when the
        run engine's database cannot say). An enqueue-only API process reads them too."""
        if self._settings.run_execution is not RunExecution.WORKERS:
            return None
        if self._liveness is None:
            self._liveness = Liveness(
                self._url, "seecodes-api", timeout_seconds=self._settings.worker_liveness_timeout_seconds
            )
        try:
            return await asyncio.to_thread(self._liveness.fleet)
        except Exception:  # no worker has ever created the table, or the database is away
            return None

    def _executor_id(self) -> str:
        if self._settings.run_execution is RunExecution.WORKERS:
            return self._settings.worker_id
        return "local"

    async def dispatch(self, action: AfterCommit) -> None:
        """What a unit of work recorded for after its commit (`db.after_commit`)."""
        if isinstance(action, Enqueue):
            await self.enqueue(action)
        else:
            await self.cancel(action.workflow_id)

    async def enqueue(self, job: Enqueue) -> None:
        """Enqueue by name, so the process that executes may be another one."""
        await self._enqueue(job)

    async def run(self, job: Enqueue, *, wait_seconds: float) -> Any:
        """Enqueue and wait for the result (`kit.dispatch.WorkflowRunner`)."""
        handle = await self._enqueue(job)
        return await asyncio.wait_for(
            handle.get_result(polling_interval_sec=RESULT_POLL_SECONDS), wait_seconds
        )

    async def _enqueue(self, job: Enqueue) -> WorkflowHandleAsync[Any]:
        options: EnqueueOptions = {
            "queue_name": job.queue,
            "workflow_name": job.workflow,
            "workflow_id": job.workflow_id,
        }
        if job.partition_key is not None:
            options["queue_partition_key"] = job.partition_key
        if job.delay_seconds:
            options["delay_seconds"] = job.delay_seconds
        if job.deduplication_id is not None:
            options["deduplication_id"] = job.deduplication_id
            options["duplication_policy"] = "return-existing"
        args = job.args
        if self._launched:
            if _in_step():
                # DBOS refuses to start a workflow from inside a step. A step's unit of work that
                # commits an event (a run settling announces it) enqueues its delivery as a caller
                # outside any workflow would: in a task of its own, without the step's context.
                return await asyncio.create_task(
                    DBOS.enqueue_workflow_with_options_async(options, *args), context=contextvars.Context()
                )
            return await DBOS.enqueue_workflow_with_options_async(options, *args)
        if self._client is not None:
            return await self._client.enqueue_async(options, *args)
        raise RuntimeError("the engine is not started")

    async def cancel(self, workflow_id: str) -> None:
        if self._launched:
            await DBOS.cancel_workflow_async(workflow_id)
        elif self._client is not None:
            await self._client.cancel_workflow_async(workflow_id)

    async def delete_finished_workflows(self, *, older_than: timedelta, batch: int, max_batches: int) -> int:
        """DBOS keeps every workflow's status, inputs, outputs and step results until told otherwise:
        delete those that finished longer than `older_than` ago, `batch` workflows per transaction
        (DBOS's own), at most `max_batches` of them. Pending, enqueued and delayed ones are never
        touched. DBOS stamps its rows with the wall clock, so the cutoff is taken from it too."""
        if not self._launched:
            raise RuntimeError("only an engine that executes workflows deletes them")
        before = (datetime.now(UTC) - older_than).isoformat()
        deleted = 0
        for _ in range(max_batches):
            finished = await DBOS.list_workflows_async(
                status=FINISHED_WORKFLOW_STATES,
                completed_before=before,
                limit=batch,
                load_input=False,
                load_output=False,
            )
            if not finished:
                break
            await DBOS.delete_workflows_async([workflow.workflow_id for workflow in finished])
            deleted += len(finished)
        return deleted

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        if self._launched:
            # Interrupted workflows stay PENDING (a cancellation is recorded nowhere) and resume
            # elsewhere or on restart. Left running past destroy, a step would find DBOS gone,
            # and the run would fail for a reason that has nothing to do with it.
            await self._interrupt_workflows()
            DBOS.destroy(workflow_completion_timeout_sec=0)
            await self._interrupt_workflows()  # any the queues started meanwhile
            # DBOS installed its own default executor on this loop and has just shut it down;
            # asyncio.to_thread must keep working for whatever the loop runs next.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
            self._launched = False
            DBOS_LAUNCHED.engine = None
        if self._liveness is not None and self._liveness.claimed:
            try:
                await asyncio.to_thread(self._liveness.depart)
            except Exception as error:  # the sweepers then take over after the timeout instead
                _log.warning(
                    "executor_depart_failed", executor=self._liveness.executor_id, error=type(error).__name__
                )
        if self._liveness is not None:
            self._liveness.close()
            self._liveness = None
        if self._client is not None:
            await asyncio.to_thread(self._client.destroy)
            self._client = None

    async def _interrupt_workflows(self) -> None:
        running = [task for task in self._workflow_tasks if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)
            _log.info("workflows_interrupted", executor=self._executor_id(), count=len(running))


@dataclass(slots=True)
class _Launched:
    engine: Engine | None = None


# DBOS itself is process-wide (one launched instance per process); this remembers which engine
# launched it, so a second one is refused instead of silently sharing it.
DBOS_LAUNCHED = _Launched()


def _in_step() -> bool:
    context = get_local_dbos_context()
    return context is not None and context.is_step()


def migrate_system_database(settings: Settings) -> None:
    """`seecodes migrate` prepares DBOS's tables too, so enqueue-only API processes find them."""
    from dbos import run_dbos_database_migrations

    url = system_database_url(settings)
    if is_sqlite(url):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    run_dbos_database_migrations(url)
