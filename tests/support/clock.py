"""A clock tests move by hand, so expiry is tested without sleeping."""

from __future__ import annotations

from seecodes.kit.clock import Clock


class FixedClock(Clock):
    """Starts at the real time (FITs are checked against it by PyJWT) and moves only when told."""

    def __init__(self) -> None:
        self._now = super().now()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
