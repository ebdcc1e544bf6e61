"""Team competition over a big month, against a hand-written GROUP BY over the same table.

    .venv/bin/python bench/team_competition_bench.py [--backend sqlite|postgres|both]
                                                     [--snapshots 1000000] [--repeat 5]

For each backend, on a scratch migrated database, it bulk-loads `--snapshots` activity snapshots
of one installation into October 2026 (tasks of 100 snapshots each, on ten days of the month, over
5 projects and 40 users; each task has an owner, and three tasks in ten a helper who does a fifth of
the windows: about 130,000 daily sums for 1,000,000 snapshots), plus a few
settled runs and telemetry events of other tasks so both fallbacks take part, then times:

- the reference: ``SELECT project_id, task_id, count(*), sum(effort_units) … GROUP BY project_id,
  task_id`` over the month's snapshots, with a plain DB-API connection;
- the board's service call (every query the route runs, one transaction), goal ≤ 2× the reference;
- GET /v1/jira/team-competition through the app in-process (FIT, request key, JSON), for scale.

The board reads the daily sums (activity_daily) that each stored snapshot updates in its own
transaction. Bulk-loaded rows bypass that path, so the script rebuilds the sums once with
`rebuild_daily` (an INSERT … SELECT … GROUP BY) and prints how long that took; it also prints the
cost of one POST /v1/tasks/activity-snapshot, which is where the sums are kept.

Each figure is the median of `--repeat` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from harness import (
    BACKENDS,
    INSTALLATION_A,
    BenchApp,
    Scratch,
    add_gc_option,
    apply_gc_option,
    bench_app,
    best_of,
    best_of_sync,
    line,
    scratch_database,
)
from seecodes.analytics import service
from seecodes.analytics.schemas import TeamCompetitionQuery
from seecodes.models import Installation
from seecodes.tasks.activity_repository import rebuild_daily

MONTH_START = datetime(2026, 10, 1, tzinfo=UTC)
PER_TASK = 100
USERS = 40
PROJECTS = ("AUTH", "OPS", "WEB", "API", "DATA")
COLUMNS = (
    "installation_id",
    "project_id",
    "task_id",
    "user_account_id",
    "window_started_at",
    "window_ended_at",
    "human_active_ms",
    "loc_added",
    "loc_removed",
    "loc_total",
    "changed_files",
    "changed_files_count",
    "architecture_change",
    "logic_change",
    "specification_ui_change",
    "effort_units",
    "created_at",
)


def _stamp(scratch: Scratch, value: datetime) -> Any:
    # SQLite holds the app's UTC times as naive text; PostgreSQL takes the datetime itself.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if scratch.backend == "sqlite" else value


def user_of(task: int, n: int) -> int:
    owner = task % USERS
    helped = task % 10 < 3
    return (owner + 1) % USERS if helped and n % 5 == 0 else owner


def snapshot_row(scratch: Scratch, n: int) -> tuple[Any, ...]:
    task = n // PER_TASK
    project = PROJECTS[task % len(PROJECTS)]
    # A task is worked on ten days of the month, ten 20-minute windows a day, from a day that
    # depends on the task; no two windows of one task coincide.
    within = n % PER_TASK
    ended = MONTH_START + timedelta(days=task % 19 + within // 10, hours=9, minutes=20 * (within % 10) + 15)
    flags = (n % 7 == 0, n % 3 == 0, n % 5 == 0)
    return (
        INSTALLATION_A,
        project,
        f"{project}-{task}",
        f"557058:user-{user_of(task, n)}",
        _stamp(scratch, ended - timedelta(minutes=15)),
        _stamp(scratch, ended),
        (n % 15) * 60_000,
        n % 40,
        n % 11,
        n % 40 + n % 11,
        '["src/a.ts"]',
        1 + n % 4,
        *flags,
        20 + n % 60,
        _stamp(scratch, ended),
    )


def bulk_load(scratch: Scratch, count: int) -> None:
    batch = 50_000
    with scratch.raw() as connection:
        if scratch.backend == "sqlite":
            marks = ", ".join("?" * len(COLUMNS))
            sql = f"INSERT INTO activity_snapshots ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
            for start in range(0, count, batch):
                rows = [snapshot_row(scratch, n) for n in range(start, min(start + batch, count))]
                connection.executemany(sql, rows)
                connection.commit()
        else:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY activity_snapshots ({', '.join(COLUMNS)}) FROM STDIN") as copy,
            ):
                for n in range(count):
                    copy.write_row(snapshot_row(scratch, n))
            connection.commit()
        connection.execute("ANALYZE")
        connection.commit()


def load_fallback_sources(scratch: Scratch) -> None:
    """Runs and telemetry events of tasks without snapshots: the two fallbacks have work to do."""
    mark = scratch.placeholder
    with scratch.raw() as connection:
        cursor = connection.cursor()
        for n in range(200):
            claimed = MONTH_START + timedelta(days=n % 28, hours=1)
            cursor.execute(
                "INSERT INTO runs (id, installation_id, project_id, task_id, user_account_id, model, files, "  # noqa: S608 - placeholders only
                "storage_prefix, status, input_tokens, output_tokens, created_at, updated_at, claimed_at, "
                f"finished_at) VALUES ({', '.join([mark] * 15)})",
                (
                    f"run_bench_{n}",
                    INSTALLATION_A,
                    "AUTH",
                    f"AUTH-R{n % 50}",
                    "557058:user-1",
                    "strict light",
                    '["list.md"]',
                    f"runs/{n}",
                    "succeeded" if n % 4 else "failed",
                    3000,
                    1000,
                    _stamp(scratch, claimed),
                    _stamp(scratch, claimed),
                    _stamp(scratch, claimed),
                    _stamp(scratch, claimed + timedelta(minutes=n % 40)),
                ),
            )
            cursor.execute(
                "INSERT INTO telemetry_events (installation_id, project_id, task_id, user_account_id, "  # noqa: S608 - placeholders only
                f"permit_jti, request_id, event_type, occurred_at, received_at) VALUES ({', '.join([mark] * 9)})",
                (
                    INSTALLATION_A,
                    "AUTH",
                    f"AUTH-E{n % 50}",
                    "557058:user-2",
                    "jti",
                    f"req-{n}",
                    "ai.usage",
                    _stamp(scratch, claimed),
                    _stamp(scratch, claimed),
                ),
            )
        connection.commit()


def reference(scratch: Scratch) -> int:
    mark = scratch.placeholder
    sql = (
        "SELECT project_id, task_id, count(*), sum(effort_units) FROM activity_snapshots "  # noqa: S608 - placeholders only
        f"WHERE installation_id = {mark} AND window_ended_at >= {mark} AND window_ended_at < {mark} "
        "GROUP BY project_id, task_id"
    )
    end = datetime(2026, 11, 1, tzinfo=UTC)
    with scratch.raw() as connection:
        rows = connection.execute(
            sql, (INSTALLATION_A, _stamp(scratch, MONTH_START), _stamp(scratch, end))
        ).fetchall()
    return len(rows)


async def board_service(bench: BenchApp, installation: Installation) -> dict[str, Any]:
    query = TeamCompetitionQuery(startDate=date(2026, 10, 1), endDate=date(2026, 10, 31))
    async with bench.runtime.db.transaction() as session:
        board = await service.team_competition(
            session, bench.runtime.clock, installation=installation, query=query
        )
    return board.sourceSummary.model_dump()


async def board_route(bench: BenchApp) -> None:
    response = await bench.jira.call(
        "GET", "/v1/jira/team-competition", params={"startDate": "2026-10-01", "endDate": "2026-10-31"}
    )
    assert response.status_code == 200, response.text


async def run_backend(backend: str, snapshots: int, repeat: int) -> None:
    print(f"\n{backend}: {snapshots:,} snapshots in one month, median of {repeat}")
    with scratch_database(backend) as scratch:
        async with bench_app(scratch) as bench:
            started = time.perf_counter()
            bulk_load(scratch, snapshots)
            load_fallback_sources(scratch)
            print(f"  (loaded in {time.perf_counter() - started:.1f} s)")
            started = time.perf_counter()
            async with bench.runtime.db.transaction() as session:
                await rebuild_daily(session, INSTALLATION_A)
            print(line("rebuild_daily over the bulk-loaded snapshots (once)", time.perf_counter() - started))
            with scratch.raw() as connection:
                connection.execute("ANALYZE")
                connection.commit()
            async with bench.runtime.db.transaction() as session:
                installation = await session.get(Installation, INSTALLATION_A)
            assert installation is not None

            tasks = reference(scratch)
            summary = await board_service(bench, installation)
            print(f"  {tasks:,} tasks with snapshots; sources {summary}")
            by_hand = best_of_sync(repeat, lambda: reference(scratch))
            in_service = await best_of(repeat, lambda: board_service(bench, installation))
            in_route = await best_of(repeat, lambda: board_route(bench))
            print(line("hand-written GROUP BY (project, task)", by_hand))
            print(line("team competition service (all its queries)", in_service, by_hand, goal=2))
            print(line("GET /v1/jira/team-competition (HTTP in-process)", in_route, by_hand))
            permit = await bench.jira.permit(project="AUTH", task="AUTH-NEW")
            windows = iter(range(10_000))
            posting = await best_of(repeat, lambda: post_snapshot(bench, permit, next(windows)))
            print(line("POST /v1/tasks/activity-snapshot (HTTP in-process), one window", posting))


async def post_snapshot(bench: BenchApp, permit: str, n: int) -> None:
    ended = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=15 * (n + 1))
    body = {
        "windowStartedAt": (ended - timedelta(minutes=15)).isoformat(),
        "windowEndedAt": ended.isoformat(),
        "humanActiveMs": 420_000,
        "locAdded": 28,
        "locRemoved": 11,
        "changedFiles": ["src/auth.ts", "src/routes.tsx"],
        "logicChange": True,
    }
    response = await bench.http.post(
        "/v1/tasks/activity-snapshot", headers={"Authorization": f"Bearer {permit}"}, json=body
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    add_gc_option(parser)
    args = parser.parse_args()
    apply_gc_option(args)
    for backend in BACKENDS if args.backend == "both" else (args.backend,):
        asyncio.run(run_backend(backend, args.snapshots, args.repeat))


if __name__ == "__main__":
    main()
