"""Outbound webhook endpoints, registered and watched by the Jira App for its own installation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from seecodes.deps import RuntimeDep, SessionDep
from seecodes.errors import (
    InvalidInput,
    TooManyWebhooks,
    WebhookAddressRefused,
    WebhookNotFound,
    responses,
)
from seecodes.kit.cursors import PageCursor, PageLimit
from seecodes.models.webhooks import WebhookEvent
from seecodes.openapi import JIRA_APP
from seecodes.security.callers import JiraApp
from seecodes.security.deps import REQUEST_KEY_ERRORS, JiraAppCaller
from seecodes.webhooks import service
from seecodes.webhooks.schemas import (
    DeliveryItem,
    DeliveryListResponse,
    WebhookCreated,
    WebhookListResponse,
    WebhookRegistration,
    WebhookRemoved,
    WebhookResponse,
    WebhookSummary,
)

router = APIRouter(tags=[JIRA_APP])

WebhookIdPath = Annotated[str, Path(max_length=40, pattern=r"^wh_[A-Za-z0-9_-]{1,36}$")]

_SIGNING = (
    "Each delivery is a POST of `{type, timestamp, data}` signed as Standard Webhooks specify "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`); the "
    "`webhook-id` is the same on every attempt. A 2xx answer delivers it; anything else, no answer "
    "within the timeout, or a redirect is retried with growing waits."
)


def _who(caller: JiraApp) -> str:
    principal = caller.identity.principal
    return f"jira:{principal}" if principal else "jira-app"


@router.post(
    "/v1/jira/webhooks",
    operation_id="createWebhook",
    summary="Register a webhook endpoint",
    description=f"Answers the endpoint's signing secret, shown only here. {_SIGNING} An address "
    "that resolves to loopback, private, link-local or metadata addresses is 422 "
    "`webhook_address_refused`; an installation has at most 20 endpoints (409).",
    responses=responses(*REQUEST_KEY_ERRORS, InvalidInput, WebhookAddressRefused, TooManyWebhooks),
)
async def create_webhook(
    runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller, body: WebhookRegistration
) -> WebhookCreated:
    registered = await service.register(
        session,
        runtime.clock,
        installation_id=caller.installation.id,
        url=body.url,
        events=body.events,
        created_by=_who(caller),
        signing_key=runtime.settings.secret_key_bytes(),
        allowed_hosts=runtime.settings.webhook_allowed_hosts,
    )
    endpoint = registered.endpoint
    return WebhookCreated(
        id=endpoint.id,
        secret=registered.secret,
        url=endpoint.url,
        events=[WebhookEvent(name) for name in endpoint.events],
    )


@router.get(
    "/v1/jira/webhooks",
    operation_id="listWebhooks",
    summary="List the installation's webhook endpoints",
    description="Each endpoint with its delivery state: enabled or why it was disabled, failures in "
    "a row, deliveries pending, and the newest delivery.",
    responses=responses(*REQUEST_KEY_ERRORS),
)
async def list_webhooks(session: SessionDep, caller: JiraAppCaller) -> WebhookListResponse:
    states = await service.states(session, caller.installation.id)
    return WebhookListResponse(items=[WebhookSummary.of(state) for state in states])


@router.delete(
    "/v1/jira/webhooks/{webhookId}",
    operation_id="deleteWebhook",
    summary="Remove a webhook endpoint",
    description="The endpoint and its delivery log go; deliveries under way stop.",
    responses=responses(*REQUEST_KEY_ERRORS, WebhookNotFound),
)
async def delete_webhook(
    session: SessionDep, caller: JiraAppCaller, webhookId: WebhookIdPath
) -> WebhookRemoved:
    await service.remove(session, caller.installation.id, webhookId)
    return WebhookRemoved(id=webhookId)


@router.post(
    "/v1/jira/webhooks/{webhookId}/enable",
    operation_id="enableWebhook",
    summary="Enable a disabled webhook endpoint",
    description="An endpoint is disabled after a run of failed attempts "
    "(SEECODES_WEBHOOK_DISABLE_AFTER_FAILURES); enabling it takes events again from now on, its "
    "failure count at zero. What failed meanwhile stays in the log.",
    responses=responses(*REQUEST_KEY_ERRORS, WebhookNotFound),
)
async def enable_webhook(
    runtime: RuntimeDep, session: SessionDep, caller: JiraAppCaller, webhookId: WebhookIdPath
) -> WebhookResponse:
    await service.enable(session, runtime.clock, caller.installation.id, webhookId)
    state = await service.state(session, caller.installation.id, webhookId)
    return WebhookResponse(webhook=WebhookSummary.of(state))


@router.get(
    "/v1/jira/webhooks/{webhookId}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Read an endpoint's delivery log",
    description="Its deliveries, newest first, paged: status, attempts, the receiver's last status, "
    "error and latency.",
    responses=responses(*REQUEST_KEY_ERRORS, WebhookNotFound, InvalidInput),
)
async def list_webhook_deliveries(
    session: SessionDep,
    caller: JiraAppCaller,
    webhookId: WebhookIdPath,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> DeliveryListResponse:
    page = await service.deliveries(session, caller.installation.id, webhookId, limit=limit, cursor=cursor)
    return DeliveryListResponse(
        items=[DeliveryItem.of(delivery) for delivery in page.deliveries], nextCursor=page.next_cursor
    )
