"""Wire format of outbound webhooks: endpoints and their delivery log."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seecodes.kit.clock import iso_utc
from seecodes.kit.schemas import RequestBody, ResponseBody
from seecodes.models import WebhookDelivery
from seecodes.models.webhooks import DeliveryStatus, WebhookEvent
from seecodes.webhooks.service import EndpointState


class WebhookRegistration(RequestBody):
    url: str = Field(
        min_length=8,
        max_length=2048,
        description="Where events are posted: https://, resolving only to public addresses "
        "(SEECODES_WEBHOOK_ALLOWED_HOSTS names exceptions).",
        examples=["https://hooks.example.com/seecodes"],
    )
    events: list[WebhookEvent] = Field(
        min_length=1, max_length=len(WebhookEvent), description="The events to post; duplicates count once."
    )


class WebhookCreated(ResponseBody):
    ok: Literal[True] = True
    id: str
    secret: str = Field(
        description="The signing secret (`whsec_…`, Standard Webhooks): shown only here. Verify "
        "`webhook-signature` with it."
    )
    url: str
    events: list[WebhookEvent]


class DeliveryItem(ResponseBody):
    id: str = Field(description="The `webhook-id` header, the same on every attempt.")
    event: WebhookEvent
    status: DeliveryStatus
    attempts: int
    lastStatusCode: int | None = Field(description="The receiver's last HTTP status; null: no answer.")
    lastError: str | None
    lastLatencyMs: int | None
    createdAt: str
    lastAttemptAt: str | None
    nextAttemptAt: str | None = Field(description="When a pending delivery is tried again.")
    deliveredAt: str | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryItem:
        pending = delivery.status == DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            event=WebhookEvent(delivery.event_type),
            status=DeliveryStatus(delivery.status),
            attempts=delivery.attempts,
            lastStatusCode=delivery.last_status_code,
            lastError=delivery.last_error,
            lastLatencyMs=delivery.last_latency_ms,
            createdAt=iso_utc(delivery.created_at),
            lastAttemptAt=iso_utc(delivery.last_attempt_at) if delivery.last_attempt_at else None,
            nextAttemptAt=iso_utc(delivery.next_attempt_at) if pending else None,
            deliveredAt=iso_utc(delivery.delivered_at) if delivery.delivered_at else None,
        )


class WebhookSummary(ResponseBody):
    id: str
    url: str
    events: list[WebhookEvent]
    enabled: bool
    disabledReason: str | None = Field(description="Why it stopped taking events; enable it to resume.")
    consecutiveFailures: int
    pendingDeliveries: int
    lastDelivery: DeliveryItem | None
    createdAt: str

    @classmethod
    def of(cls, state: EndpointState) -> WebhookSummary:
        endpoint = state.endpoint
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=[WebhookEvent(name) for name in endpoint.events],
            enabled=endpoint.enabled,
            disabledReason=endpoint.disabled_reason,
            consecutiveFailures=endpoint.consecutive_failures,
            pendingDeliveries=state.pending,
            lastDelivery=DeliveryItem.of(state.last) if state.last else None,
            createdAt=iso_utc(endpoint.created_at),
        )


class WebhookListResponse(ResponseBody):
    ok: Literal[True] = True
    items: list[WebhookSummary]


class WebhookResponse(ResponseBody):
    ok: Literal[True] = True
    webhook: WebhookSummary


class WebhookRemoved(ResponseBody):
    ok: Literal[True] = True
    id: str


class DeliveryListResponse(ResponseBody):
    ok: Literal[True] = True
    items: list[DeliveryItem]
    nextCursor: str | None
