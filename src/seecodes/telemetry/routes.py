"""Editor telemetry ingestion: disabled by default, as in the live service."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import (
    CloudIdMismatch,
    InvalidInput,
    InvalidPermit,
    RateLimited,
    ServiceUnavailable,
    TelemetryDisabled,
    responses,
)
from seecodes.openapi import IDE
from seecodes.security.deps import TaskPermitCaller
from seecodes.telemetry import service
from seecodes.telemetry.deps import TelemetryLimiter, require_ingestion_enabled
from seecodes.telemetry.schemas import (
    MAX_EVENTS_PER_BATCH,
    EventResult,
    TelemetryBatch,
    TelemetryResponse,
)

router = APIRouter()


@router.post(
    "/v1/jira/telemetry/events",
    operation_id="ingestTelemetryEvents",
    tags=[IDE],
    summary="Ingest telemetry events (disabled unless SEECODES_TELEMETRY_INGESTION_ENABLED)",
    description="Disabled by default: 410 with the contract's sentence. When enabled: task permit; "
    f"1–{MAX_EVENTS_PER_BATCH} events per batch; a per-permit rate limit (429 with Retry-After); "
    "every event's cloudId must be the permit's site; each requestId is accepted once per "
    "installation (a repeat is `replayed`, the rest of the batch is stored). Events are attributed "
    "to the permit's project, task and user and feed the team-competition `vscodeFallbackItems`.",
    dependencies=[Depends(require_ingestion_enabled)],
    responses=responses(
        TelemetryDisabled, InvalidPermit, CloudIdMismatch, InvalidInput, RateLimited, ServiceUnavailable
    ),
)
async def ingest_telemetry_events(
    runtime: RuntimeDep,
    session: SessionDep,
    limiter: TelemetryLimiter,
    permit: TaskPermitCaller,
    body: TelemetryBatch,
) -> TelemetryResponse:
    max_age = timedelta(days=runtime.settings.telemetry_max_event_age_days)
    outcomes = await service.ingest(
        session, runtime.clock, limiter, permit=permit, batch=body, max_age=max_age
    )
    return _telemetry_response(outcomes)


def _telemetry_response(outcomes: list[service.EventOutcome]) -> TelemetryResponse:
    accepted = sum(outcome.accepted for outcome in outcomes)
    return TelemetryResponse(
        accepted=accepted,
        replayed=len(outcomes) - accepted,
        results=[
            EventResult(requestId=outcome.request_id, status="accepted" if outcome.accepted else "replayed")
            for outcome in outcomes
        ],
    )
