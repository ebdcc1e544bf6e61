"""Overload shedding: a bound on the requests one process works on at once.

Past the rate a process can sustain, every request admitted only lengthens the queue in front of
all the others, until clients time out and retry into a server that is still busy with requests
nobody waits for. So at most `limit` requests are in flight; one more waits at most `wait_seconds`
for a slot (first come, first served), and is otherwise answered at once with 503
`service_unavailable` and Retry-After. The shed answer costs a few microseconds, so the accepted
requests keep the latency of a loaded, not an overloaded, server.

Health, readiness and metrics are never shed (an orchestrator must see a busy process as busy,
not dead), nor are event streams: each lives for minutes and has its own per-permit and
per-installation bounds (`runs/streams.py`).
"""

from __future__ import annotations

import asyncio
from collections import deque

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from seecodes.errors import AtCapacity
from seecodes.kit.metrics import REQUESTS_SHED


class Admission:
    """A counting gate that hands a released slot straight to the longest waiter."""

    def __init__(self, limit: int, wait_seconds: float) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_flight(self) -> int:
        return self.limit - self._free

    async def enter(self) -> bool:
        """True with a slot taken (release it with `leave`); False: shed this request."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        if self.wait_seconds <= 0:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await waiter
            return True
        except TimeoutError:
            # `leave` may have handed the slot over just as the wait ran out: keep it then.
            if waiter.done() and not waiter.cancelled():
                return True
            if waiter in self._waiters:  # `leave` drops the cancelled ones it meets
                self._waiters.remove(waiter)
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed over, but its request is gone: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on without ever being free
                return
        self._free += 1


def _exempt(scope: Scope) -> bool:
    path: str = scope["path"]
    return path in ("/healthz", "/readyz", "/metrics") or (
        scope["method"] == "GET" and path.endswith("/events")
    )


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, admission: Admission, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.admission = admission
        error = AtCapacity(retry_after_seconds)
        self._body = orjson.dumps(error.envelope())
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in error.headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _exempt(scope):
            await self.app(scope, receive, send)
            return
        if not await self.admission.enter():
            REQUESTS_SHED.inc()
            await send({"type": "http.response.start", "status": 503, "headers": self._headers})
            await send({"type": "http.response.body", "body": self._body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.leave()
