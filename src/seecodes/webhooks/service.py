"""Signed outbound webhooks (issue 15 §3): an installation's endpoints, the events it emits, and each
delivery's attempts.

* **Emitting** (`emit`) happens inside the transaction that caused the event: one delivery row per
  subscribed endpoint, and its workflow enqueued only after that commit (`db.after_commit`), so a
  rolled-back change announces nothing and a committed one is never lost (the sweep re-enqueues a
  delivery whose enqueue was lost with its process).
* **Delivering** (`attempt`, called by the delivery workflow in `jobs.py`) reads the row, checks the
  address again, posts outside any transaction, and records the outcome. A delivery's id is its
  `webhook-id` on every attempt; waits between attempts are SEECODES_WEBHOOK_RETRY_SECONDS.
* **Secrets** are derived, never stored: `whsec_` + HMAC(server key, id + random salt). Shown once
  at registration; the row keeps the salt, which key derived it, and the secret's hash.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.db import Database, after_commit, on_commit
from seecodes.errors import InvalidInput, TooManyWebhooks, WebhookAddressRefused, WebhookNotFound
from seecodes.kit import metrics
from seecodes.kit.clock import Clock, iso_utc
from seecodes.kit.cursors import decode_cursor, encode_cursor
from seecodes.kit.dispatch import Enqueue
from seecodes.kit.logging import get_logger
from seecodes.models import WebhookDelivery, WebhookEndpoint
from seecodes.models.webhooks import DeliveryStatus, WebhookEvent
from seecodes.webhooks import repository
from seecodes.webhooks.delivery import (
    AddressRefused,
    WebhookSender,
    derive_secret,
    key_id,
    resolve,
    secret_hash,
)

_log = get_logger("seecodes.webhooks")

QUEUE = "seecodes.webhooks"
DELIVER_WORKFLOW = "seecodes.webhooks.deliver"
# Deliveries to one endpoint in flight at once, across every executor (a sleeping retry counts):
# polite to a receiver, and a failing endpoint holds no more slots than this.
PER_ENDPOINT_CONCURRENCY = 8
MAX_ENDPOINTS = 20


@dataclass(frozen=True, slots=True)
class Registered:
    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True, slots=True)
class EndpointState:
    endpoint: WebhookEndpoint
    pending: int
    last: WebhookDelivery | None


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the workflow does next: stop (`final`), or sleep `wait` seconds and attempt again."""

    final: bool
    status: str
    wait: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"final": self.final, "status": self.status, "wait": self.wait}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Outcome:
        return cls(final=bool(value["final"]), status=str(value["status"]), wait=float(value["wait"]))


def deliver_job(delivery_id: str, endpoint_id: str) -> Enqueue:
    return Enqueue(
        queue=QUEUE,
        workflow=DELIVER_WORKFLOW,
        workflow_id=delivery_id,
        args=(delivery_id,),
        partition_key=endpoint_id,
    )


async def register(
    session: AsyncSession,
    clock: Clock,
    *,
    installation_id: str,
    url: str,
    events: Sequence[WebhookEvent],
    created_by: str,
    signing_key: bytes,
    allowed_hosts: Collection[str],
) -> Registered:
    """A new endpoint and its secret, which is shown this once."""
    try:
        await resolve(url, allowed_hosts)
    except AddressRefused as refusal:
        raise WebhookAddressRefused(f"This URL cannot receive webhooks: {refusal}.") from None
    if await repository.count(session, installation_id) >= MAX_ENDPOINTS:
        raise TooManyWebhooks(
            f"An installation has at most {MAX_ENDPOINTS} webhook endpoints; remove one first."
        )
    now = clock.utcnow()
    endpoint_id = "wh_" + secrets.token_urlsafe(16)
    salt = secrets.token_hex(32)
    secret = derive_secret(signing_key, endpoint_id, salt)
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        installation_id=installation_id,
        url=url,
        events=sorted({event.value for event in events}),
        salt=salt,
        key_id=key_id(signing_key),
        secret_hash=secret_hash(secret),
        enabled=True,
        disabled_reason=None,
        consecutive_failures=0,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return Registered(endpoint=endpoint, secret=secret)


async def states(session: AsyncSession, installation_id: str) -> list[EndpointState]:
    return await _with_state(session, list(await repository.endpoints(session, installation_id)))


async def state(session: AsyncSession, installation_id: str, endpoint_id: str) -> EndpointState:
    [one] = await _with_state(session, [await _endpoint(session, installation_id, endpoint_id)])
    return one


async def _with_state(session: AsyncSession, endpoints: list[WebhookEndpoint]) -> list[EndpointState]:
    """Each endpoint with its pending count and newest delivery (two grouped reads for all)."""
    ids = [endpoint.id for endpoint in endpoints]
    pending = await repository.pending_counts(session, ids)
    last = await repository.last_deliveries(session, ids)
    return [
        EndpointState(endpoint, pending.get(endpoint.id, 0), last.get(endpoint.id)) for endpoint in endpoints
    ]


async def remove(session: AsyncSession, installation_id: str, endpoint_id: str) -> None:
    """The endpoint and its delivery log go; a delivery in flight finds it gone and stops."""
    if not await repository.remove(session, installation_id, endpoint_id):
        raise WebhookNotFound()


async def enable(session: AsyncSession, clock: Clock, installation_id: str, endpoint_id: str) -> None:
    """The owner's answer to a disabled endpoint: it takes events again, its failure count at zero.
    What was not delivered while it was disabled stays in the log as failed."""
    endpoint = await _endpoint(session, installation_id, endpoint_id, for_update=True)
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    endpoint.updated_at = clock.utcnow()
    await session.flush()


async def deliveries(
    session: AsyncSession, installation_id: str, endpoint_id: str, *, limit: int, cursor: str | None
) -> DeliveryPage:
    endpoint = await _endpoint(session, installation_id, endpoint_id)
    before = decode_cursor(cursor) if cursor else None
    rows = list(await repository.deliveries(session, endpoint.id, limit=limit + 1, before=before))
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return DeliveryPage(deliveries=page, next_cursor=next_cursor)


async def _endpoint(
    session: AsyncSession, installation_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    endpoint = await repository.endpoint(session, installation_id, endpoint_id, for_update=for_update)
    if endpoint is None:
        raise WebhookNotFound()
    return endpoint


def parse_events(names: Sequence[str]) -> list[WebhookEvent]:
    """For the CLI, which takes event names as text; the HTTP schema checks them itself."""
    known = {event.value: event for event in WebhookEvent}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidInput(f"Unknown event(s): {', '.join(unknown)}; known: {', '.join(known)}.")
    return [known[name] for name in names]


# -- emitting --------------------------------------------------------------------------------------


async def emit(
    session: AsyncSession, now: datetime, installation_id: str, event: WebhookEvent, data: Mapping[str, Any]
) -> None:
    """Announce `event` to the installation's endpoints that take it, once this unit of work commits."""
    targets = [
        endpoint_id
        for endpoint_id, events in await repository.subscribed(session, installation_id)
        if event.value in events
    ]
    if not targets:
        return
    body = json.dumps(
        {"type": event.value, "timestamp": iso_utc(now), "data": dict(data)}, separators=(",", ":")
    )
    for endpoint_id in targets:
        delivery_id = "msg_" + secrets.token_urlsafe(16)
        session.add(
            WebhookDelivery(
                id=delivery_id,
                endpoint_id=endpoint_id,
                installation_id=installation_id,
                event_type=event.value,
                body=body,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
        after_commit(session, deliver_job(delivery_id, endpoint_id))
    on_commit(session, metrics.WEBHOOK_EVENTS.labels(event.value).inc, len(targets))


# -- delivering ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    """The settings a delivery attempt follows."""

    signing_keys: Sequence[bytes]
    allowed_hosts: Collection[str]
    retry_seconds: Sequence[float]
    disable_after_failures: int


async def attempt(
    db: Database, clock: Clock, sender: WebhookSender, rules: DeliveryRules, delivery_id: str
) -> Outcome:
    """One attempt of one delivery. No transaction is open while the receiver is called."""
    async with db.reading() as session:
        found = await repository.delivery_with_endpoint(session, delivery_id)
    if found is None:
        return Outcome(final=True, status="gone")  # its endpoint was removed, and the log with it
    delivery, endpoint = found
    if delivery.status != DeliveryStatus.PENDING:
        return Outcome(final=True, status=delivery.status)
    if not endpoint.enabled:
        await _give_up(db, clock, delivery, "the endpoint is disabled")
        return Outcome(final=True, status=DeliveryStatus.FAILED.value)
    secret = _secret_of(endpoint, rules.signing_keys)
    if secret is None:
        reason = "the server key this endpoint's secret was derived from is retired; register it again"
        await _disable(db, clock, endpoint.id, reason)
        await _give_up(db, clock, delivery, reason)
        return Outcome(final=True, status=DeliveryStatus.FAILED.value)
    try:
        target = await resolve(endpoint.url, rules.allowed_hosts)
    except AddressRefused as refusal:
        result = None
        error: str | None = f"refused: {refusal}"
    else:
        result = await sender.post(target, message_id=delivery.id, secret=secret, body=delivery.body)
        error = result.error
    delivered = result is not None and result.delivered
    attempts = delivery.attempts + 1
    exhausted = attempts > len(rules.retry_seconds)
    wait = 0.0 if delivered or exhausted else rules.retry_seconds[attempts - 1]
    now = clock.utcnow()
    if delivered:
        status = DeliveryStatus.DELIVERED
    elif exhausted:
        status = DeliveryStatus.FAILED
    else:
        status = DeliveryStatus.PENDING
    async with db.transaction() as session:
        await repository.record_attempt(
            session,
            delivery.id,
            status=status.value,
            last_status_code=result.status_code if result else None,
            last_error=error[:500] if error else None,
            last_latency_ms=result.latency_ms if result else None,
            last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=wait),
            delivered_at=now if delivered else None,
        )
        if delivered:
            await repository.endpoint_succeeded(session, endpoint.id, now)
        else:
            failures = await repository.endpoint_failed(session, endpoint.id, now)
            if failures is not None and failures >= rules.disable_after_failures:
                reason = f"disabled after {failures} failed attempts in a row; the last: {error}"
                if await repository.disable(session, endpoint.id, reason, now):
                    on_commit(
                        session,
                        partial(_log.warning, "webhook_disabled", endpoint_id=endpoint.id, failures=failures),
                    )
        outcome = "delivered" if delivered else ("failed" if exhausted else "retried")
        on_commit(session, metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc)
        if result is not None:
            on_commit(session, metrics.WEBHOOK_ATTEMPT_SECONDS.observe, result.latency_ms / 1000)
        if delivered:
            # From the event's commit (about its timestamp) to the receiver's 2xx.
            lag = max(0.0, (now - delivery.created_at).total_seconds())
            on_commit(session, metrics.WEBHOOK_DELIVERY_LAG.observe, lag)
    return Outcome(final=status is not DeliveryStatus.PENDING, status=status.value, wait=wait)


def _secret_of(endpoint: WebhookEndpoint, signing_keys: Sequence[bytes]) -> str | None:
    for key in signing_keys:
        if key_id(key) == endpoint.key_id:
            return derive_secret(key, endpoint.id, endpoint.salt)
    return None


async def _give_up(db: Database, clock: Clock, delivery: WebhookDelivery, reason: str) -> None:
    async with db.transaction() as session:
        await repository.fail_pending(session, delivery.id, reason, clock.utcnow())
        on_commit(session, metrics.WEBHOOK_ATTEMPTS.labels("failed").inc)


async def _disable(db: Database, clock: Clock, endpoint_id: str, reason: str) -> None:
    async with db.transaction() as session:
        await repository.disable(session, endpoint_id, reason, clock.utcnow())


async def requeue_stranded(db: Database, clock: Clock, *, grace_seconds: float, limit: int) -> list[Enqueue]:
    """Deliveries overdue by more than `grace_seconds`: the jobs to enqueue again (the workflow id is
    the delivery's, so one whose workflow still exists is not doubled)."""
    async with db.reading() as session:
        stranded = await repository.stranded(
            session, due_before=clock.utcnow() - timedelta(seconds=grace_seconds), limit=limit
        )
    return [deliver_job(delivery_id, endpoint_id) for delivery_id, endpoint_id in stranded]
