"""Prometheus metrics: the one vocabulary of names, and how a process shows them.

Two kinds, read differently:

* **Events** (counters and histograms) are counted by the process where they happen: requests in
  the API processes, run outcomes, provider calls and Jira writes wherever workflows execute (the
  API process in the in-process shape, `seecodes worker` processes in the workers shape, which
  show them on their own endpoint, `MetricsEndpoint`). With several uvicorn workers, `seecodes
  serve` sets PROMETHEUS_MULTIPROC_DIR before the workers start, and /metrics aggregates every
  process of the host.
* **Shared state** (runs by state, queue depth and age, the Jira write-back backlog) is the same
  for every process, so no process counts it: the API's /metrics reads it from the database when
  it is scraped (`SharedState`, `shared_state_families`).

Labels take values from bounded sets only: model aliases of the catalog, enum members, HTTP
status codes, route templates and error codes. Never a task, run, user or installation id.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily

from seecodes.config import metrics_multiprocess_dir

# No `*_created` series beside every counter and histogram: in the text format Prometheus stores each
# as one more series, doubling what a scrape costs for a timestamp no rule here reads.
disable_created_metrics()  # type: ignore[no-untyped-call]

# -- HTTP (API processes) ----------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "seecodes_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "seecodes_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUESTS_SHED = Counter(
    "seecodes_http_requests_shed_total", "Requests answered 503 at once because the process was at capacity"
)
CREDENTIAL_REFUSALS = Counter(
    "seecodes_credential_refusals_total", "Credentials refused, by error code", ["code"]
)

# -- runs (where they settle: the executing process, or the API process for a cancel) ----------
RUN_DURATION = Histogram(
    "seecodes_run_duration_seconds",
    "Time from a run's start (queued) until it settled, by model and outcome "
    "(succeeded, failed, cancelled); runs cancelled before they were started are not counted",
    ["model", "outcome"],
    buckets=(1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0),
)
RUN_QUEUE_WAIT = Histogram(
    "seecodes_run_queue_wait_seconds",
    "Time a started run waited in its model's queue until an executor claimed it",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)

# -- model providers (the executing process) ---------------------------------------------------
PROVIDER_LATENCY = Histogram(
    "seecodes_provider_request_duration_seconds",
    "Time from a provider request until its answer was complete (answers that completed)",
    ["model", "provider"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0),
)
PROVIDER_FIRST_TOKEN = Histogram(
    "seecodes_provider_first_token_seconds",
    "Time from a provider request until its first text arrived",
    ["model", "provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
PROVIDER_ERRORS = Counter(
    "seecodes_provider_errors_total",
    "Provider requests that failed after the client's retries, by HTTP status (429, 500, …) or, "
    "without one, by kind (timeout, connection, stream, no_key, unavailable, context, error)",
    ["model", "provider", "status"],
)

# -- credits (in the transaction that moves them, counted once it commits) ---------------------
CREDITS_RESERVED = Counter(
    "seecodes_credits_reserved_total", "Credits reserved when a run (or a ticket draft) started", ["model"]
)
CREDITS_SETTLED = Counter(
    "seecodes_credits_settled_total",
    "Credits charged when a run (or a ticket draft) settled; the rest of its reservation went back",
    ["model"],
)
CREDITS_RELEASED = Counter(
    "seecodes_credits_released_total",
    "Reserved credits given back whole, because the run failed or was cancelled before the model was called",
    ["model"],
)

# -- budgets (counted once the transaction commits) ---------------------------------------------
BUDGET_REFUSALS = Counter(
    "seecodes_budget_refusals_total",
    "Starts refused with 402 budget_exceeded, by the budget's scope (installation, project)",
    ["scope"],
)
BUDGET_THRESHOLDS_CROSSED = Counter(
    "seecodes_budget_thresholds_crossed_total",
    "Budget alert thresholds crossed, once per budget, threshold and month, by scope",
    ["scope"],
)

# -- Jira write-back (the executing process) ---------------------------------------------------
JIRA_WRITEBACK_ATTEMPTS = Counter(
    "seecodes_jira_writeback_attempts_total",
    "Attempts to write a task's progress into its Jira issue, by outcome "
    "(synced, skipped, rate_limited, unavailable, failed)",
    ["outcome"],
)
JIRA_WRITEBACKS_GIVEN_UP = Counter(
    "seecodes_jira_writebacks_given_up_total",
    "Progress write-backs given up on: refused by Jira, out of retries, or no way to reach the site",
)


# -- outbound webhooks (emitted in the causing transaction; attempts where they run) ----------
WEBHOOK_EVENTS = Counter(
    "seecodes_webhook_events_total",
    "Webhook deliveries created, one per event and subscribed endpoint, by event type",
    ["event"],
)
WEBHOOK_ATTEMPTS = Counter(
    "seecodes_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (delivered; retried: failed with attempts left; "
    "failed: the delivery's last attempt failed, or its endpoint was disabled)",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "seecodes_webhook_attempt_duration_seconds",
    "Time one webhook attempt took, from sending the request until its answer was read",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_DELIVERY_LAG = Histogram(
    "seecodes_webhook_delivery_lag_seconds",
    "Time from the event's commit until the receiver answered 2xx (retries included)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 3600.0, 36000.0),
)


# -- shared state, read from the database at scrape time ---------------------------------------
@dataclass(frozen=True, slots=True)
class SharedState:
    """What the database says now. `runs` counts unsettled runs per (model, status); settled runs
    are counted by `seecodes_run_duration_seconds_count`, since their number only grows."""

    runs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    oldest_queued_seconds: Mapping[str, float] = field(default_factory=dict)
    jira_backlog: int = 0
    jira_oldest_pending_seconds: float = 0.0


def shared_state_families(
    state: SharedState | None, *, models: Sequence[str], statuses: Sequence[str], queued: str
) -> list[Any]:
    """Gauges for every catalog model and unsettled status (0 where there are none, so an alert sees
    a value, not an absent series); None (the read failed) leaves only `seecodes_shared_state_up`."""
    up = GaugeMetricFamily(
        "seecodes_shared_state_up",
        "1 when this scrape read the runs and Jira backlog from the database; 0 when the read failed",
        value=0 if state is None else 1,
    )
    if state is None:
        return [up]
    runs = GaugeMetricFamily(
        "seecodes_runs", "Runs not settled yet, by model and status", labels=["model", "status"]
    )
    depth = GaugeMetricFamily(
        "seecodes_run_queue_depth", "Runs queued and not claimed by an executor yet", labels=["model"]
    )
    oldest = GaugeMetricFamily(
        "seecodes_run_queue_oldest_age_seconds",
        "How long the oldest queued run of the model has waited (0: none queued)",
        labels=["model"],
    )
    every_model = list(dict.fromkeys([*models, *(model for model, _ in state.runs)]))
    for model in every_model:
        for status in statuses:
            runs.add_metric([model, status], state.runs.get((model, status), 0))
        depth.add_metric([model], state.runs.get((model, queued), 0))
        oldest.add_metric([model], state.oldest_queued_seconds.get(model, 0.0))
    backlog = GaugeMetricFamily(
        "seecodes_jira_writeback_backlog",
        "Tasks whose newest progress report is still to be written into Jira",
        value=state.jira_backlog,
    )
    backlog_age = GaugeMetricFamily(
        "seecodes_jira_writeback_oldest_pending_age_seconds",
        "How long the oldest pending progress write-back has waited (0: none pending)",
        value=state.jira_oldest_pending_seconds,
    )
    return [up, runs, depth, oldest, backlog, backlog_age]


class SharedStateCache:
    """At most one read of the shared state per `ttl_seconds` (by the app's clock) in this process,
    however often /metrics is asked, and one read at a time: the route answers without credentials."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._read_at: float | None = None
        self._state: SharedState | None = None
        self._lock = asyncio.Lock()

    async def get(
        self, now: Callable[[], float], read: Callable[[], Awaitable[SharedState | None]]
    ) -> SharedState | None:
        async with self._lock:
            moment = now()
            if self._read_at is None or not 0 <= moment - self._read_at < self._ttl:
                self._state = await read()
                self._read_at = moment
            return self._state


# -- rendering ---------------------------------------------------------------------------------
class _Together:
    """The process's registry and the families computed for this scrape, as one collector."""

    def __init__(self, registry: Any, extra: Iterable[Any]) -> None:
        self._registry = registry
        self._extra = list(extra)

    def collect(self) -> Iterator[Any]:
        yield from self._registry.collect()
        yield from self._extra


def process_registry() -> Any:
    """This process's metrics, or with PROMETHEUS_MULTIPROC_DIR those of every process of the host."""
    if metrics_multiprocess_dir():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    return generate_latest(_Together(process_registry(), extra)), CONTENT_TYPE_LATEST


class MetricsEndpoint:
    """/metrics for a process that serves no HTTP of its own (`seecodes worker`): prometheus_client's
    server on a daemon thread, shut down with the runtime (and gone with the process in any case)."""

    def __init__(self, host: str, port: int) -> None:
        """OSError when the port cannot be bound (in use, a host not of this machine)."""
        self._server, self._thread = start_http_server(port, addr=host, registry=process_registry())
        self.host = host
        self.port = int(self._server.server_port)
        self._closed = threading.Event()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
