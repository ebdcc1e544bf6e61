"""Per-credential rate limits: moving windows counted in Redis at scale, in memory by default."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import cast

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from seecodes.errors import RateLimited, ServiceUnavailable
from seecodes.kit.logging import get_logger

_log = get_logger("seecodes.telemetry.limiter")


class RateLimiter:
    def __init__(self, rate: str, *, redis_url: str | None = None, namespace: str) -> None:
        if redis_url:
            # One counter for every process and host; redis-py is already a dependency (coredis is not).
            uri = "async+" + redis_url
            storage = storage_from_string(uri, wrap_exceptions=True, implementation="redispy")
        else:
            storage = storage_from_string("async+memory://", wrap_exceptions=True)
        self._storage = storage
        self._failing = False  # the store's last answer was an error: logged once per incident
        self._strategy = MovingWindowRateLimiter(storage)
        self._item = limits.parse(rate)
        self._namespace = namespace

    async def hit(self, identifier: str) -> None:
        """Count one request; refuse it with 429 and Retry-After when the window is full."""
        try:
            if await self._strategy.hit(self._item, self._namespace, identifier):
                self._recovered()
                return
            stats = await self._strategy.get_window_stats(self._item, self._namespace, identifier)
        except StorageError as error:
            if not self._failing:
                # Once per incident, with the store's reason: every request meanwhile gets a 503.
                self._failing = True
                cause = error.storage_error
                _log.warning(
                    "rate_limit_store_unavailable",
                    namespace=self._namespace,
                    reason=f"{type(cause).__name__}: {str(cause)[:200]}",
                )
            # Failing open would drop the limit exactly when it is under attack; failing closed
            # would turn a Redis blip into a telemetry outage. The client retries either way.
            raise ServiceUnavailable(
                "The rate-limit store is unavailable; retry shortly.", headers={"Retry-After": "2"}
            ) from error
        self._recovered()
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(headers={"Retry-After": str(retry_after)})

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            _log.info("rate_limit_store_available_again", namespace=self._namespace)

    async def reachable(self) -> bool:
        """Readiness: the counter store answers (always, in memory)."""
        try:
            async with asyncio.timeout(2):  # a store that accepts and never answers is not ready either
                return bool(await cast(Awaitable[bool], self._storage.check()))
        except Exception:  # the store's client raises its own errors; any means "not now"
            return False

    async def close(self) -> None:
        """Release the Redis connection pool, if any (limits has no public close; its redis-py bridge
        keeps the client as `bridge.storage`)."""
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()
