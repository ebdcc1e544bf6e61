"""Wire format of editor telemetry batches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from seecodes.kit.schemas import Hint, RequestBody, ResponseBody

MAX_EVENTS_PER_BATCH = 100

RequestId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
EventType = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.:\-]*$")
]


class TelemetryEventIn(RequestBody):
    eventType: EventType = Field(examples=["ai.usage"])
    cloudId: Hint = Field(
        examples=["ari:cloud:ecosystem::installation/…"],
        description="The permit's site: its cloudId (UUID) or installation ARI.",
    )
    requestId: RequestId = Field(
        examples=["1f0d7e2e-5b1c-4f7a-9a51-0d3c2b1a0e9f"],
        description="Accepted once per installation; a repeat is reported as `replayed` and not stored.",
    )
    timestamp: AwareDatetime = Field(examples=["2026-04-04T12:34:56Z"])


class TelemetryBatch(RequestBody):
    events: Annotated[list[TelemetryEventIn], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]


class EventResult(ResponseBody):
    requestId: str
    status: Literal["accepted", "replayed"]


class TelemetryResponse(ResponseBody):
    ok: Literal[True] = True
    accepted: int
    replayed: int
    results: list[EventResult] = Field(description="One per event, in the batch's order.")
