"""A 20-second soak (bench/soak.py) on PostgreSQL with two API processes and two run workers: no
error, no stale read, and every acknowledged write found again. RSS is only reported at this length
(see the soak's docstring)."""

from __future__ import annotations

import argparse

import psycopg
import pytest
from bench.soak import soak

from tests.support.stack import PG_ADMIN_URL
from tests.support.tiers import tier_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_short_soak_has_no_errors_and_loses_no_write() -> None:
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        tier_unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}")
    args = argparse.Namespace(duration=20.0, users=2, think_ms=20.0, seed=3, rss_gate=False)

    report = soak(args)

    assert report["errors"] == {}
    assert report["stale_reads"] == []
    assert report["lost"] == []
    for kind, writes in report["writes"].items():
        assert writes["acknowledged"] > 0, f"no {kind} acknowledged: the mix did not run"
        assert writes["found"] == writes["acknowledged"], kind
    assert report["passed"], report["failures"]
