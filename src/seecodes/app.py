"""create_app(): middleware, the one error envelope, and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ConfigDict, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from seecodes import __version__, openapi
from seecodes.analytics.routes import router as analytics_router
from seecodes.bootstrap import build_runtime
from seecodes.config import Environment, RunExecution, Settings, StorageBackend, get_settings
from seecodes.deps import RuntimeDep
from seecodes.error_bodies import FieldError
from seecodes.errors import (
    PayloadTooLarge,
    RequestValidationFailed,
    SeecodesError,
    ServiceUnavailable,
    responses,
)
from seecodes.indexes.routes import router as indexes_router
from seecodes.installations.budgets_routes import router as budgets_router
from seecodes.installations.metrics_routes import router as instance_metrics_router
from seecodes.installations.routes import router as installations_router
from seecodes.jira import repository as jira_rows
from seecodes.jira.execution.routes import router as execution_router
from seecodes.jira.routes import router as jira_router
from seecodes.kit import heap, metrics
from seecodes.kit.admission import Admission, AdmissionMiddleware
from seecodes.kit.clock import Clock
from seecodes.kit.docs_pages import install_docs_pages
from seecodes.kit.http import BodyLimitMiddleware, RequestContextMiddleware
from seecodes.kit.logging import configure_logging, get_logger
from seecodes.kit.schemas import ResponseBody
from seecodes.models.run import RunStatus
from seecodes.runs import repository as run_rows
from seecodes.runs.jira_routes import router as jira_runs_router
from seecodes.runs.model_routes import router as models_router
from seecodes.runs.routes import router as runs_router
from seecodes.runs.service import queue_name
from seecodes.runs.share_routes import router as share_router
from seecodes.runs.storage.local import STORAGE_ROUTE_PREFIX
from seecodes.runs.storage.routes import router as storage_router
from seecodes.security.routes import router as security_router
from seecodes.tasks.activity_routes import router as activity_router
from seecodes.tasks.routes import router as tasks_router
from seecodes.telemetry.routes import router as telemetry_router
from seecodes.webhooks.routes import router as webhooks_router

_log = get_logger("seecodes.app")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

DESCRIPTION = """
Backend between the SeeCodes Jira App (Forge) and the VS Code / Cursor extension.

* **Jira App** routes take a Forge invocation token (`Authorization: Bearer <FIT>`) and the current
  single-use `X-SeeCodes-Jira-Request-Key`; every response after a successful key check carries its
  successor in `X-SeeCodes-Next-Request-Key`, errors included.
* **IDE** routes take a task permit (`Authorization: Bearer <permit>`) bound to one project and task.
* Every non-2xx response is `{"ok": false, "error": "<code>", "detail": "<sentence>"}`.
"""


class Health(ResponseBody):
    ok: Literal[True] = True


def _degraded_only_when_said(schema: dict[str, Any]) -> None:
    schema["required"] = [name for name in schema.get("required", []) if name != "degraded"]


class Readiness(Health):
    # Sent only when it says something (`response_model_exclude_none`): not `required`.
    model_config = ConfigDict(json_schema_extra=_degraded_only_when_said)

    degraded: list[str] | None = Field(
        default=None,
        description="Ready, but part of the service is not: runs of these models wait and no live "
        "worker serves them.",
    )


# A run queued this long with no live worker serving its model is worth saying in /readyz.
WAITING_RUN_SECONDS = 10


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json_lines=settings.env is not Environment.DEV, level=settings.log_level)
    runtime = build_runtime(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(execute_runs=settings.run_execution is RunExecution.IN_PROCESS)
        heap.settle()
        try:
            yield
        finally:
            heap.unsettle()
            await runtime.close()

    app = FastAPI(
        title="SeeCodes Execution Engine",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,  # kit.docs_pages serves both pages without a CDN
        redoc_url=None,
        # Every route can answer these: input validation, the body limit and overload shedding
        # (middleware), a database that is away.
        responses={
            **responses(RequestValidationFailed),
            **responses(PayloadTooLarge),
            **responses(ServiceUnavailable),
        },
    )
    app.state.runtime = runtime
    serves_storage = settings.storage_backend is StorageBackend.LOCAL
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_seconds=settings.http_body_timeout_seconds,
        # Uploads through the local backend's signed URLs are files, not API bodies.
        path_limits={STORAGE_ROUTE_PREFIX: settings.upload_max_bytes} if serves_storage else {},
    )
    app.add_middleware(RequestContextMiddleware)  # sees every response the app gives, 413s included
    # Outermost: a shed request costs no request id, no access-log line and no route metric (a
    # process at capacity that logged every refusal would spend on it what it lacks); it is
    # counted in seecodes_http_requests_shed_total.
    app.add_middleware(
        AdmissionMiddleware,
        admission=Admission(settings.http_max_in_flight, settings.http_admission_wait_seconds),
    )
    _install_error_handlers(app)
    openapi.install(app, settings)
    _install_system_routes(app)
    install_docs_pages(app, title=app.title)
    app.include_router(security_router)
    app.include_router(installations_router)
    app.include_router(tasks_router)
    app.include_router(jira_router)
    app.include_router(execution_router)
    app.include_router(activity_router)  # before any /v1/tasks/{runId} route
    app.include_router(instance_metrics_router)
    app.include_router(budgets_router)
    app.include_router(jira_runs_router)
    app.include_router(share_router)
    app.include_router(webhooks_router)
    app.include_router(analytics_router)
    app.include_router(telemetry_router)
    app.include_router(indexes_router)
    # After tasks_router: its literal /v1/tasks/context must match before /v1/tasks/{runId}.
    app.include_router(runs_router)
    app.include_router(models_router)
    if serves_storage:
        app.include_router(storage_router)
    return app


def _envelope(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_envelope(fields: list[FieldError]) -> JSONResponse:
    return _envelope(422, RequestValidationFailed(fields).envelope())


def _install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, SeecodesError)
        if error.status_code in (401, 403):
            metrics.CREDENTIAL_REFUSALS.labels(error.code).inc()
        return _envelope(error.status_code, error.envelope(), error.headers)

    async def on_validation_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        # Never echo the input back: it may hold a credential.
        fields = [
            FieldError(
                loc=[part if isinstance(part, int) else str(part) for part in item.get("loc", ())],
                msg=str(item.get("msg", "")),
                type=str(item.get("type", "")),
            )
            for item in error.errors()
        ]
        return _validation_envelope(fields)

    async def on_http_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 400 and error.__cause__ is not None:
            # FastAPI answers 400 "error parsing the body" when a JSON body cannot be decoded at
            # all (bytes that are not UTF-8, nesting too deep for the parser). That is the same
            # mistake as malformed JSON, which is a 422 `validation_error` (docs/decisions.md,
            # "Errors and input"): one answer for both.
            return _validation_envelope(
                [FieldError(loc=["body"], msg="The body is not readable JSON.", type="json_invalid")]
            )
        code = _STATUS_CODES.get(error.status_code, "http_error")
        detail = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return _envelope(error.status_code, {"ok": False, "error": code, "detail": detail}, error.headers)

    async def on_database_unavailable(_request: Request, error: Exception) -> Response:
        reason = str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0][:200]
        _log.warning("database_unavailable", error_type=type(error).__name__, reason=reason)
        unavailable = ServiceUnavailable("The database is unavailable; retry shortly.")
        return _envelope(503, unavailable.envelope(), {"Retry-After": "2"})

    async def on_client_gone(request: Request, _error: Exception) -> Response:
        # A client that goes away mid-upload is a normal event, not a server error: nothing was
        # stored (the partial file is removed), and nobody is left to read an answer.
        _log.info("client_disconnected", method=request.method, path=request.url.path)
        return Response(status_code=400)

    app.add_exception_handler(SeecodesError, on_domain_error)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    for database_error in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError):
        app.add_exception_handler(database_error, on_database_unavailable)


# A key no run can have: a HEAD on it proves the bucket answers and our credentials are accepted.
READINESS_PROBE_KEY = "readyz/probe"


async def _not_ready(runtime: RuntimeDep) -> list[str]:
    """Each part that cannot serve a request now, with the reason (no credential in it)."""
    # The database first, and its failure as every request sees it (the one 503 the outage
    # handler writes); then the rest, each named.
    async with runtime.db.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    failing: list[str] = []
    try:
        await runtime.storage.size(READINESS_PROBE_KEY)
    except Exception as error:
        failing.append(f"object storage: {type(error).__name__}: {str(error)[:160]}")
    if not await runtime.telemetry_limiter.reachable():
        failing.append("rate-limit store (Redis): not answering")
    if runtime.forge.keys_failing:
        failing.append("Forge key set: the last fetch failed (see forge_jwks_fetch_failed in the log)")
    return failing


async def _degraded(runtime: RuntimeDep) -> list[str]:
    """Models whose runs wait with no live worker to serve them (workers shape). Not a reason to
    take this process out of rotation: every API process would be, and every other route with it."""
    fleet = await runtime.engine.fleet()
    if fleet is None:
        return []
    since = runtime.clock.utcnow() - timedelta(seconds=WAITING_RUN_SECONDS)
    async with runtime.db.reading() as session:
        waiting = await run_rows.models_waiting(session, since)
    timeout_ms = runtime.settings.worker_liveness_timeout_seconds * 1000
    served = {
        queue
        for executor in fleet
        if executor.state == "live" and executor.silent_ms <= timeout_ms
        for queue in executor.queues
    }
    return [
        f"model {model!r}: runs are waiting and no live worker serves it"
        for model in waiting
        if queue_name(model) not in served
    ]


# The shared state is read at most this often per process, however often /metrics is asked.
SHARED_STATE_TTL_SECONDS = 2.0


async def _shared_state(runtime: RuntimeDep) -> metrics.SharedState:
    """The gauges every process would report alike, read from the database: one grouped query on
    the unsettled runs, one on the pending Jira write-backs."""
    now = runtime.clock.utcnow()
    async with runtime.db.reading() as session:
        runs = await run_rows.unsettled_counts(session)
        backlog, oldest_request = await jira_rows.writeback_backlog(session)
    return metrics.SharedState(
        runs={(model, status.value): count for model, status, count, _ in runs},
        oldest_queued_seconds={
            model: max(0.0, (now - oldest).total_seconds())
            for model, status, _, oldest in runs
            if status is RunStatus.QUEUED and oldest is not None
        },
        jira_backlog=backlog,
        jira_oldest_pending_seconds=max(0.0, (now - oldest_request).total_seconds())
        if oldest_request
        else 0.0,
    )


def _install_system_routes(app: FastAPI) -> None:
    reported: list[list[str]] = [[]]  # what the last /readyz found failing
    reported_degraded: list[list[str]] = [[]]

    @app.get(
        "/healthz",
        operation_id="getHealth",
        tags=[openapi.SYSTEM],
        summary="Liveness probe",
        description="200 while the process serves HTTP; it checks nothing else (see `/readyz`).",
    )
    async def healthz() -> Health:
        return Health()

    @app.get(
        "/readyz",
        operation_id="getReadiness",
        tags=[openapi.SYSTEM],
        summary="Readiness: the database, object storage, the rate-limit store and the Forge key set",
        description="503 `service_unavailable` names every part that is not ready, with its reason. "
        "Ready but `degraded` (200) names each model whose runs wait with no live worker to serve it "
        "(the workers shape).",
        responses=responses(ServiceUnavailable),
        # A ready server answers `{"ok": true}` as before; `degraded` appears only when it says something.
        response_model_exclude_none=True,
    )
    async def readyz(runtime: RuntimeDep) -> Readiness:
        failing = await _not_ready(runtime)
        if failing != reported[0]:
            # Once per incident (probes come every few seconds): when what fails changes.
            if failing:
                _log.warning("not_ready", failing=failing)
            else:
                _log.info("ready_again")
            reported[0] = failing
        if failing:
            raise ServiceUnavailable("Not ready: " + "; ".join(failing) + ".", headers={"Retry-After": "5"})
        degraded = await _degraded(runtime)
        if degraded != reported_degraded[0]:
            if degraded:
                _log.warning("degraded", degraded=degraded)
            else:
                _log.info("not_degraded")
            reported_degraded[0] = degraded
        return Readiness(degraded=degraded or None)

    shared_state = metrics.SharedStateCache(SHARED_STATE_TTL_SECONDS)
    shared_state_failing = [False]

    async def read_shared_state(runtime: RuntimeDep) -> metrics.SharedState | None:
        try:
            state = await _shared_state(runtime)
        except sa_exc.SQLAlchemyError as error:
            if not shared_state_failing[0]:  # once per incident: scrapes come every few seconds
                _log.warning("metrics_shared_state_unavailable", error_type=type(error).__name__)
            shared_state_failing[0] = True
            return None
        shared_state_failing[0] = False
        return state

    @app.get(
        "/metrics",
        operation_id="getMetrics",
        tags=[openapi.SYSTEM],
        summary="Prometheus metrics",
        description="This process's counters and histograms (every process of the host with "
        "`--workers N`), and the shared state read from the database: runs by state, queue depth "
        "and age per model, the Jira write-back backlog.",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text format.",
            }
        },
    )
    async def prometheus_metrics(runtime: RuntimeDep) -> Response:
        state = await shared_state.get(runtime.clock.now, lambda: read_shared_state(runtime))
        families = metrics.shared_state_families(
            state,
            models=[spec.id for spec in runtime.catalog],
            statuses=[status.value for status in run_rows.UNSETTLED],
            queued=RunStatus.QUEUED.value,
        )
        payload, content_type = metrics.render(families)
        return Response(payload, media_type=content_type)
