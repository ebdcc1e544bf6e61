"""Fixtures the run tests share: the S3 tier (SeaweedFS on loopback, started once when first needed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.seaweed import SeaweedS3, SeaweedUnavailable, start_seaweed
from tests.support.tiers import tier_unavailable


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    try:
        server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    except SeaweedUnavailable as error:
        tier_unavailable(f"SeaweedFS could not start: {error}")
    yield server
    server.stop()
