"""ASGI middleware: request id, access log, metrics, body limit, and the request-key header.

Written as plain ASGI (not BaseHTTPMiddleware) because it wraps every request, and because it
must see the response headers of error responses too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seecodes.errors import PayloadTooLarge
from seecodes.kit.logging import get_logger
from seecodes.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
NEXT_REQUEST_KEY_HEADER = "X-SeeCodes-Next-Request-Key"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
_log = get_logger("seecodes.http")
_access_log = logging.getLogger("seecodes.http")


def set_next_request_key(scope: Scope, key: str) -> None:
    """Every response after a successful key check carries the successor, errors included."""
    scope.setdefault("state", {})["next_request_key"] = key


async def carries_credential(request: Request) -> None:
    """A route dependency: the response holds a credential (a permit, a launch code, a key), so no
    cache may keep it (RFC 6749 §5.1: `Cache-Control: no-store`, `Pragma: no-cache`)."""
    request.scope.setdefault("state", {})["carries_credential"] = True


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                state = scope.get("state", {})
                next_key = state.get("next_request_key")
                if next_key:
                    headers.append((NEXT_REQUEST_KEY_HEADER.lower().encode(), next_key.encode()))
                if next_key or state.get("carries_credential"):
                    headers = [(name, value) for name, value in headers if name.lower() != b"cache-control"]
                    headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's outermost error middleware would answer without our headers and outside
            # the envelope; answer here instead and keep the traceback in the log.
            _log.exception(
                "unhandled_error", method=scope["method"], path=_loggable_path(scope["path"], None)
            )
            if response_started:
                raise
            await _send_internal_error(send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            _count(scope["method"], route, status, elapsed)
            # The path only: query strings carry launch codes (`c=`), and they are never logged. A
            # path that is itself a credential (a share link) is logged as its route template.
            if _access_log.isEnabledFor(logging.INFO):  # skips building the event when filtered
                _log.info(
                    "request",
                    method=scope["method"],
                    path=_loggable_path(scope["path"], route),
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")


# Paths whose segments carry a secret: never written to a log as they are.
CREDENTIAL_PATH_PREFIXES = ("/v1/share/",)


def _loggable_path(path: str, route: str | None) -> str:
    if path.startswith(CREDENTIAL_PATH_PREFIXES):
        return route if route and route != "unmatched" else CREDENTIAL_PATH_PREFIXES[0] + "…"
    return path


async def _send_internal_error(send: Send) -> None:
    body = orjson.dumps({"ok": False, "error": "internal_error", "detail": "The server failed to answer."})
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# The metric children per (method, route, status): `labels()` validates and locks on every call,
# which measured a tenth of a /healthz. Routes are the app's templates, so the set is bounded.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _count(method: str, route: str, status: int, elapsed: float) -> None:
    children = _children.get((method, route, status))
    if children is None:
        children = _children[(method, route, status)] = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
    children[0].inc()
    children[1].observe(elapsed)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _SAFE_REQUEST_ID.match(value):
            return str(value.decode())
    return os.urandom(16).hex()  # what uuid4().hex is made of, without the UUID object


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit, and for a streamed body that grows past it;
    408 when the client pauses longer than `body_timeout_seconds` before the body is complete (a
    body trickled a byte at a time would otherwise hold its request open for ever).

    `path_limits` maps a path prefix to its own limit (file uploads take more than API bodies);
    the longest matching prefix wins.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        path_limits: Mapping[str, int] | None = None,
        body_timeout_seconds: float | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.path_limits = sorted((path_limits or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.path_limits:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        received = 0
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, body_complete
            if body_complete:
                # Afterwards the app only listens for the client leaving, which may take as long
                # as a response streams.
                return await receive()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for starts a task per call.
                async with asyncio.timeout(self.body_timeout_seconds):
                    message = await receive()
            except TimeoutError:
                # Closed after the answer: what the client sends later is not a request.
                raise HTTPException(
                    408, "The request body did not arrive in time.", headers={"Connection": "close"}
                ) from None
            if message["type"] == "http.request":
                body_complete = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException, not PayloadTooLarge: FastAPI turns any other error raised
                    # while it reads the body into a 400.
                    raise HTTPException(413, _too_large(limit).detail)
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than {limit} bytes.")


async def _send_too_large(send: Send, limit: int) -> None:
    error = _too_large(limit)
    body = orjson.dumps(error.envelope())
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
