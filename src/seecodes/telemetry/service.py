"""Telemetry ingestion: the authenticated sender contract the published API left pending.

Task permit, per-permit rate limit, bounded batches, events attributed to the permit's task and
user, and each requestId accepted once per installation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import CloudIdMismatch, InvalidInput
from seecodes.kit.clock import Clock
from seecodes.security.permits import PermitScope
from seecodes.telemetry import repository
from seecodes.telemetry.limiter import RateLimiter
from seecodes.telemetry.schemas import TelemetryBatch

CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    request_id: str
    accepted: bool


async def ingest(
    session: AsyncSession,
    clock: Clock,
    limiter: RateLimiter,
    *,
    permit: PermitScope,
    batch: TelemetryBatch,
    max_age: timedelta,
) -> list[EventOutcome]:
    await limiter.hit(permit.jti)
    now = clock.utcnow()
    for position, event in enumerate(batch.events):
        # A sender may only speak for its own site; one mislabelled event refuses the batch.
        if event.cloudId not in {permit.cloud_id, permit.installation_id}:
            raise CloudIdMismatch()
        if not now - max_age <= event.timestamp <= now + CLOCK_SKEW:
            raise InvalidInput(f"events[{position}].timestamp is outside the accepted period.")
    first_seen: dict[str, int] = {}
    for position, event in enumerate(batch.events):
        first_seen.setdefault(event.requestId, position)
    accepted = await repository.insert_new(
        session,
        [
            {
                "installation_id": permit.installation_id,
                "project_id": permit.project_id,
                "task_id": permit.task_id,
                "user_account_id": permit.user_account_id,
                "permit_jti": permit.jti,
                "request_id": event.requestId,
                "event_type": event.eventType,
                "occurred_at": event.timestamp,
                "received_at": now,
            }
            for position, event in enumerate(batch.events)
            if first_seen[event.requestId] == position
        ],
    )
    return [
        EventOutcome(event.requestId, event.requestId in accepted and first_seen[event.requestId] == position)
        for position, event in enumerate(batch.events)
    ]
