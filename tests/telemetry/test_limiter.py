"""The rate limiter when its store (Redis) is down: every request is answered 503, and the log
says so once, with the store's reason, until the store answers again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from seecodes.errors import ServiceUnavailable
from seecodes.kit.logging import configure_logging
from seecodes.telemetry.limiter import RateLimiter


async def test_a_store_that_is_down_is_logged_once_per_incident_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json_lines=True)  # one JSON object per line on stderr, as in production
    # A real Redis URL that nothing answers on (port 9, discard).
    limiter = RateLimiter("5/second", redis_url="redis://127.0.0.1:9/0", namespace="telemetry")
    try:
        for _ in range(3):
            with pytest.raises(ServiceUnavailable):
                await limiter.hit("credential")
    finally:
        await limiter.close()

    events: list[dict[str, Any]] = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    warned = [event for event in events if event["event"] == "rate_limit_store_unavailable"]
    assert len(warned) == 1, events
    assert warned[0]["namespace"] == "telemetry"
    assert "Connection" in warned[0]["reason"]
