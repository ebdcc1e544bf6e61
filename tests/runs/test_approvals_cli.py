"""Operators list and decide waiting runs with `seecodes admin approvals`, in a process of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from seecodes import migrations
from seecodes.db import Database
from seecodes.installations import service as installations
from seecodes.models import CreditLedgerEntry, Installation
from seecodes.runs import repository as runs_repository
from tests.support.clock import FixedClock
from tests.support.runs import run_row

INSTALLATION = "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-0000000000ff"


async def _waiting_runs(url: str, *run_ids: str) -> None:
    database = Database(url)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as session:
            session.add(
                Installation(
                    id=INSTALLATION,
                    status="active",
                    activation_source="forge-license",
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            await installations.grant_credits(session, FixedClock(), installation_id=INSTALLATION, amount=100)
            for run_id in run_ids:
                session.add(
                    run_row(
                        run_id,
                        INSTALLATION,
                        "awaiting_approval",
                        now,
                        estimated_credits=40,
                        estimated_input_tokens=10,
                        approval_requested_at=now,
                    )
                )
    finally:
        await database.dispose()


async def _state(url: str, run_id: str) -> tuple[str, list[str]]:
    database = Database(url)
    try:
        async with database.transaction() as session:
            run = await runs_repository.get(session, run_id)
            ledger = await session.scalars(
                CreditLedgerEntry.__table__.select().with_only_columns(CreditLedgerEntry.kind)
            )
            assert run is not None
            return run.status, list(ledger)
    finally:
        await database.dispose()


async def test_an_operator_lists_approves_and_rejects(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seecodes.db'}"
    migrations.upgrade(url)
    await _waiting_runs(url, "run_approveme", "run_rejectme")
    env = {
        **os.environ,
        "SEECODES_ENV": "test",
        "SEECODES_DATABASE_URL": url,
        "SEECODES_VAR_DIR": str(tmp_path),
        # The engine the decision starts builds the whole runtime, Forge trust included.
        "SEECODES_FORGE_JWKS_URL": str(tmp_path / "jwks.json"),
        "SEECODES_FORGE_APP_ID": "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000001",
        "SEECODES_SECRET_KEY": "approvals-cli-" + "0" * 32,
    }
    env.pop("SEECODES_RUN_EXECUTION", None)

    def seecodes(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seecodes", "admin", "approvals", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = seecodes("list", INSTALLATION)
    approved = seecodes("decide", INSTALLATION, "run_approveme", "approved", "--reason", "fine")
    rejected = seecodes("decide", INSTALLATION, "run_rejectme", "rejected", "--reason", "too big")
    twice = seecodes("decide", INSTALLATION, "run_rejectme", "approved")
    unknown = seecodes("decide", INSTALLATION, "run_nosuchrun", "approved")

    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert sorted(json.loads(line)["run"] for line in listed.stdout.splitlines()) == [
        "run_approveme",
        "run_rejectme",
    ]
    assert (approved.returncode, rejected.returncode, twice.returncode, unknown.returncode) == (0, 0, 2, 1), (
        approved.stderr,
        rejected.stderr,
    )
    assert await _state(url, "run_approveme") == ("queued", ["grant", "reserve"])
    assert (await _state(url, "run_rejectme"))[0] == "rejected"
