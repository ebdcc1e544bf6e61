"""Executor liveness (seecodes.executors): ids held by live workers, silence, one taker per silent executor."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from seecodes.db import sync_url
from seecodes.executors import SYSTEM_SCHEMA, ExecutorIdInUse, Liveness, adopt_workflows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def system_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    return sync_url(str(request.getfixturevalue("postgres_url")))


@pytest.fixture
def make(system_url: str) -> Iterator[type[Liveness]]:
    opened: list[Liveness] = []

    def build(executor_id: str, timeout_seconds: float = 30) -> Liveness:
        liveness = Liveness(system_url, executor_id, timeout_seconds=timeout_seconds)
        liveness.create_table()
        opened.append(liveness)
        return liveness

    yield build  # type: ignore[misc]
    for liveness in opened:
        liveness.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_id_a_live_worker_on_another_host_holds_is_refused(make: type[Liveness]) -> None:
    holder = make("worker-1")
    holder._host = "another-host"
    holder.claim(["runs.a"])
    with pytest.raises(ExecutorIdInUse, match=r"worker-1.*another-host.*SEECODES_WORKER_ID"):
        make("worker-1").claim(["runs.a"])
    # Any other id is free.
    make("worker-2").claim(["runs.a"])


def test_an_id_whose_process_died_on_this_host_is_taken_at_once(make: type[Liveness]) -> None:
    """A supervisor restarting a killed worker under its id must not wait for the timeout."""
    holder = make("worker-1")
    holder._pid = _dead_pid()
    holder.claim([])
    make("worker-1").claim([])


def test_a_live_process_on_this_host_keeps_its_id(make: type[Liveness]) -> None:
    holder = make("worker-1")
    holder._pid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]).pid
    try:
        holder.claim([])
        with pytest.raises(ExecutorIdInUse):
            make("worker-1").claim([])
    finally:
        subprocess.run(["kill", str(holder._pid)], check=False)


def test_a_cleanly_stopped_executor_is_silent_at_once_and_released(make: type[Liveness]) -> None:
    leaving, staying = make("worker-1"), make("worker-2")
    leaving._host = staying._host = "elsewhere"  # no pid shortcut: only the row decides
    leaving.claim(["runs.a"])
    staying.claim(["runs.a"])
    assert staying.silent() == []
    leaving.depart()
    [silent] = staying.silent()
    assert (silent.executor_id, silent.state, silent.queues) == ("worker-1", "stopped", ("runs.a",))
    # Its id is free again for a new process.
    make("worker-1").claim([])


def test_an_executor_that_stops_beating_is_silent_after_the_timeout(make: type[Liveness]) -> None:
    quiet, sweeper = make("worker-1", timeout_seconds=1), make("worker-2", timeout_seconds=1)
    quiet.claim([])
    sweeper.claim([])
    assert sweeper.silent() == []
    time.sleep(1.3)
    sweeper.beat()
    assert [executor.executor_id for executor in sweeper.silent()] == ["worker-1"]
    assert quiet.silent() == []  # it never sees itself, and worker-2 has just beaten


def test_of_many_sweepers_exactly_one_takes_a_silent_executor_over(make: type[Liveness]) -> None:
    sweepers = [make(f"worker-{number}") for number in range(8)]
    for sweeper in sweepers:
        sweeper.claim([])
    leaving = make("worker-x")
    leaving.claim([])
    leaving.depart()
    views = [next(e for e in sweeper.silent() if e.executor_id == "worker-x") for sweeper in sweepers]
    with ThreadPoolExecutor(len(sweepers)) as pool:
        won = list(pool.map(lambda pair: pair[0].take_over(pair[1]), zip(sweepers, views, strict=True)))
    assert won.count(True) == 1
    assert all(sweeper.silent() == [] for sweeper in sweepers)


def test_a_worker_taken_over_while_stalled_says_so_on_its_next_beat(make: type[Liveness]) -> None:
    stalled, sweeper = make("worker-1", timeout_seconds=1), make("worker-2", timeout_seconds=1)
    stalled.claim([])
    sweeper.claim([])
    time.sleep(1.3)
    sweeper.beat()
    [silent] = sweeper.silent()
    assert sweeper.take_over(silent)
    assert stalled.beat() == "its workflows were taken over by worker-2 while it was silent"
    assert stalled.beat() is None  # live again: what it runs from now on can be recovered
    assert sweeper.silent() == []


def _workflow_rows(
    system_url: str, rows: list[tuple[str, str, str | None, str | None, str | None]]
) -> sa.Table:
    """A workflow_status table with the columns adoption reads (DBOS's own has many more)."""
    schema = None if system_url.startswith("sqlite") else SYSTEM_SCHEMA
    table = sa.Table(
        "workflow_status",
        sa.MetaData(schema=schema),
        sa.Column("workflow_uuid", sa.Text, primary_key=True),
        sa.Column("status", sa.Text),
        sa.Column("executor_id", sa.Text),
        sa.Column("application_version", sa.Text),
        sa.Column("application_name", sa.Text),
    )
    engine = sa.create_engine(system_url)
    with engine.begin() as connection:
        if schema:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        table.create(connection)
        connection.execute(
            table.insert(),
            [
                {
                    "workflow_uuid": w,
                    "status": s,
                    "executor_id": e,
                    "application_version": v,
                    "application_name": a,
                }
                for w, s, e, v, a in rows
            ],
        )
    engine.dispose()
    return table


def test_an_earlier_releases_unfinished_workflows_take_this_version(system_url: str) -> None:
    """What a stopped worker of an earlier release left: its pending runs, and whatever is queued."""
    table = _workflow_rows(
        system_url,
        [
            ("pending-on-stopped", "PENDING", "worker-1", "old-hash", "seecodes"),
            ("queued", "ENQUEUED", "worker-1", "old-hash", "seecodes"),
            ("delayed", "DELAYED", None, "old-hash", None),
            ("running-elsewhere", "PENDING", "worker-2", "old-hash", "seecodes"),
            ("finished", "SUCCESS", "worker-1", "old-hash", "seecodes"),
            ("unversioned", "ENQUEUED", None, None, "seecodes"),
            ("another-application", "ENQUEUED", None, "old-hash", "not-seecodes"),
            ("already-ours", "PENDING", "worker-1", "seecodes", "seecodes"),
        ],
    )

    adopted = adopt_workflows(system_url, "worker-1", "seecodes", "seecodes")

    engine = sa.create_engine(system_url)
    with engine.begin() as connection:
        versions = dict(
            connection.execute(sa.select(table.c.workflow_uuid, table.c.application_version)).all()
        )
    engine.dispose()
    assert adopted == 3
    assert {name for name, version in versions.items() if version == "seecodes"} == {
        "pending-on-stopped",
        "queued",
        "delayed",
        "already-ours",
    }
    assert versions["running-elsewhere"] == "old-hash"  # a live worker of that release is running it
    assert versions["unversioned"] is None


def test_adoption_before_the_run_engine_ever_started_finds_nothing(system_url: str) -> None:
    assert adopt_workflows(system_url, "worker-1", "seecodes", "seecodes") == 0
