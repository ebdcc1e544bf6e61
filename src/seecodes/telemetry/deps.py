"""Telemetry's gate and its rate limiter, as dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from seecodes.deps import RuntimeDep
from seecodes.errors import TelemetryDisabled
from seecodes.telemetry.limiter import RateLimiter


async def require_ingestion_enabled(runtime: RuntimeDep) -> None:
    """Runs before authentication: a disabled route answers 410 to everyone, as the contract says."""
    if not runtime.settings.telemetry_ingestion_enabled:
        raise TelemetryDisabled()


async def telemetry_limiter(runtime: RuntimeDep) -> RateLimiter:
    # One limiter per runtime (its in-memory counters or its Redis pool), closed with it.
    return runtime.telemetry_limiter


TelemetryLimiter = Annotated[RateLimiter, Depends(telemetry_limiter)]
