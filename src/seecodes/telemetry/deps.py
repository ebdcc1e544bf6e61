"""Telemetry's gate and its rate limiter, as dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from seecodes.deps import RuntimeDep
from seecodes.errors import TelemetryDisabled
from seecodes.telemetry.limiter import RateLimiter


def require_ingestion_enabled(runtime: RuntimeDep) -> None:
    """Runs before authentication: a disabled route answers 410 to everyone, as the contract says."""
    if not runtime.settings.telemetry_ingestion_enabled:
        raise TelemetryDisabled()


def telemetry_limiter(request: Request, runtime: RuntimeDep) -> RateLimiter:
    # One limiter per app (its in-memory counters or its Redis pool), built on first use.
    limiter: RateLimiter | None = getattr(request.app.state, "telemetry_limiter", None)
    if limiter is None:
        settings = runtime.settings
        limiter = RateLimiter(
            settings.telemetry_rate_limit,
            redis_url=settings.redis_url.get_secret_value() if settings.redis_url else None,
            namespace="telemetry-events",
        )
        request.app.state.telemetry_limiter = limiter
    return limiter


TelemetryLimiter = Annotated[RateLimiter, Depends(telemetry_limiter)]
