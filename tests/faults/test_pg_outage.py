"""The PostgreSQL outage drill (bench/faults/pg_outage.py), short: 503s while the database is down,
service again once it is back without restarting seecodes, and no acknowledged write lost.

It starts its own PostgreSQL cluster from the server binaries (never the shared one on :5432), so
this tier needs those binaries and, as root, the `postgres` OS user to run them.
"""

from __future__ import annotations

import os
import pwd
import shutil

import pytest
from bench.faults.pg_outage import postgres_bin_dir, run_drill

from tests.support.tiers import tier_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _require_private_cluster() -> None:
    if postgres_bin_dir() is None:
        tier_unavailable("no PostgreSQL server binaries (initdb, pg_ctl); set SEECODES_PG_BIN")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            tier_unavailable("running as root without a `postgres` OS user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            tier_unavailable("running as root without runuser to drop to the `postgres` user")


def test_outage_answers_503_then_recovers_without_losing_writes() -> None:
    _require_private_cluster()

    result = run_drill(before=3, outage=6, after=8, users=3)

    during, after = result["phases"]["during"], result["phases"]["after"]
    assert during["by_status"].get("503", 0) > 0, during
    assert set(during["by_status"]) <= {"200", "503"}, during
    assert result["during_all_503_enveloped"], result["during_error_codes"]
    assert result["during_max_latency_s"] < result["request_timeout_s"]
    assert after["ok"] > 0
    assert result["recovery_s"] <= 10, result
    writes = result["progress_writes"]
    assert writes["acknowledged"] > 0
    assert writes["found"] == writes["acknowledged"], result["missing"]
    assert result["run_after_outage"]["status"] == "succeeded"
    assert result["passed"], result["failures"]
