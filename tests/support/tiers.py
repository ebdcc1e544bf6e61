"""Test tiers: a tier whose service is absent is skipped on a laptop, but in CI (.ci/run sets
SEECODES_REQUIRE_ALL_TIERS=1) every tier is mandatory and its absence fails the run."""

from __future__ import annotations

import os

import pytest

REQUIRE_ALL_TIERS = os.environ.get("SEECODES_REQUIRE_ALL_TIERS") == "1"


def tier_unavailable(reason: str) -> None:
    """Skip on a laptop; fail in CI, where every tier is mandatory."""
    if REQUIRE_ALL_TIERS:
        pytest.fail(f"mandatory test tier unavailable: {reason}")
    pytest.skip(reason)
