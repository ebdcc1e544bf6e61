"""Idle run followers: what open `GET /v1/tasks/{runId}/events` streams cost the database.

Run from the repository root:

    .venv/bin/python bench/sse_bench.py [--clients 200] [--runs 200] [--hold 20]
                                        [--backends sqlite,postgres] [--json PATH] [--strict]

For each backend: a scratch database and one `seecodes serve` process, started through
bench/counted_serve.py, which counts every SQL statement the process sends (SQLite keeps no
counters of its own). SEECODES_RUN_EXECUTION=workers with no worker, so nothing executes a run.
Through the API it seeds a task permit and `--runs` runs (`POST /v1/tasks/init`), then moves them
to `queued` in the database directly: an initialised run's stream closes at once (asking the
client to come back in 5 s), and a queued run that nothing executes keeps its stream open, as a run
waiting for a busy model would. The stream limits per permit and per installation are raised to
the client count, the stream lifetime past the hold.

`--clients` asyncio clients (spread over the runs) open their streams; once every one answered,
they are held idle for `--hold` seconds (after the counters settle: PostgreSQL publishes a backend's
statistics up to 10 s late), and over that window the bench reports, next to a window of the same
server with no stream open:

- the streams actually open: answers 200 (other statuses counted), streams that ended early;
- SQL statements per second the server sent, in total and per client;
- on PostgreSQL also the bench database's transactions per second (pg_stat_database
  `xact_commit + xact_rollback`) and reads of `runs` and `run_events` (pg_stat_user_tables
  `seq_scan + idx_scan`), which count from the server's side (pg_stat_statements is not loaded);
- the CPU the server process kept busy.

Goal: idle followers cost the database a few statements per second in total (≤ 10/s), not a poll
per client five times a second. `--strict` exits non-zero when it is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
from bench.http_bench import _cpu_seconds, _finite, _task_permit, machine_facts  # noqa: E402
from bench.lean_bench import FIT_LIFETIME, scratch  # noqa: E402
from tests.support.forge import FakeForge  # noqa: E402
from tests.support.live_server import LiveServer, server_env  # noqa: E402

COUNTED_SERVE = ROOT / "bench" / "counted_serve.py"
GOAL_STATEMENTS_PER_SECOND = 10.0
CONNECT_TIMEOUT = 60.0
SETTLE_SECONDS = 1.0
# PostgreSQL 15 publishes an idle backend's counters up to 10 s after its last transaction
# (PGSTAT_IDLE_INTERVAL): a window that starts sooner counts the seeding or the streams' opening.
PG_SETTLE_SECONDS = 11.0
IDLE_SECONDS = 5.0  # the server with no stream open, for comparison


@dataclass
class Followers:
    statuses: Counter[int] = field(default_factory=Counter)
    open: int = 0
    ended_early: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    holding: bool = True


@dataclass
class SseResult:
    backend: str
    clients: int
    runs: int
    hold_s: float
    answered_200: int
    other_statuses: dict[str, int]
    connect_failures: dict[str, int]
    still_open: int
    statements: int
    statements_per_s: float
    statements_per_client_per_s: float
    server_cores: float
    idle_statements_per_s: float
    pg_transactions_per_s: float = math.nan
    pg_table_reads_per_s: float = math.nan
    idle_pg_transactions_per_s: float = math.nan

    @property
    def queries_per_s(self) -> float:
        """What the goal reads: the statements counted in the server; on PostgreSQL at least the
        transactions it saw (each one a statement or more, from whichever connection)."""
        if math.isnan(self.pg_transactions_per_s):
            return self.statements_per_s
        return max(self.statements_per_s, self.pg_transactions_per_s)

    @property
    def met(self) -> bool:
        return self.answered_200 == self.clients and self.queries_per_s <= GOAL_STATEMENTS_PER_SECOND


async def follow(port: int, path: str, permit: str, followers: Followers) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as error:
        followers.failed[type(error).__name__] += 1
        return
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {permit}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        followers.statuses[status] += 1
        if status != 200:
            return
        followers.open += 1
        while chunk := await reader.read(65536):
            followers.bytes += len(chunk)
        if followers.holding:
            followers.ended_early += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
        followers.failed[type(error).__name__] += 1
    finally:
        writer.close()


def statements_sent(counter_base: Path) -> int:
    total = 0
    for path in counter_base.parent.glob(f"{counter_base.name}.*"):
        for _ in range(20):  # the writer may be halfway through a write
            try:
                total += int(path.read_text())
                break
            except ValueError:
                time.sleep(0.01)
    return total


def queue_runs(database_url: str, run_ids: list[str]) -> None:
    """initialized → queued, as `start` would leave them, with nothing to execute them."""
    now = datetime.now(UTC)
    if database_url.startswith("sqlite:///"):
        import sqlite3

        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME text
        marks = ", ".join("?" * len(run_ids))
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute(
                f"UPDATE runs SET status = 'queued', queued_at = ?, updated_at = ? WHERE id IN ({marks})",  # noqa: S608 - placeholders only
                (stamp, stamp, *run_ids),
            )
        return
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(
            "UPDATE runs SET status = 'queued', queued_at = %s, updated_at = %s WHERE id = ANY(%s)",
            (now, now, run_ids),
        )


def pg_counters(database_url: str) -> tuple[int, int]:
    """(transactions, reads of runs + run_events) of the bench database, as PostgreSQL counts them."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(
        database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as conn:
        transactions = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
        reads = conn.execute(
            "SELECT COALESCE(SUM(seq_scan + COALESCE(idx_scan, 0)), 0) FROM pg_stat_user_tables"
            " WHERE relname IN ('runs', 'run_events')"
        ).fetchone()
    assert transactions is not None
    assert reads is not None
    return int(transactions[0]), int(reads[0])


def seed_runs(base_url: str, permit: str, count: int) -> list[str]:
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {permit}"}) as http:
        run_ids = []
        for _ in range(count):
            created = http.post("/v1/tasks/init", json={})
            created.raise_for_status()
            run_ids.append(str(created.json()["runId"]))
        probe = http.get(f"/v1/tasks/{run_ids[0]}")
    assert probe.status_code == 200, probe.text
    return run_ids


@dataclass
class Window:
    """Counters over a span of wall time."""

    statements: int
    pg: tuple[int, int]
    cpu: float
    seconds: float


async def window(seconds: float, counter: Path, url: str, pids: list[int]) -> Window:
    postgres = not url.startswith("sqlite:///")
    statements, cpu = statements_sent(counter), _cpu_seconds(pids)
    pg = pg_counters(url) if postgres else (0, 0)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    pg_after = pg_counters(url) if postgres else (0, 0)
    return Window(
        statements_sent(counter) - statements,
        (pg_after[0] - pg[0], pg_after[1] - pg[1]),
        _cpu_seconds(pids) - cpu,
        elapsed,
    )


async def hold(
    server: LiveServer, permit: str, run_ids: list[str], args: Any, counter: Path, url: str
) -> SseResult:
    pids = server.worker_pids()
    settle = SETTLE_SECONDS if url.startswith("sqlite:///") else PG_SETTLE_SECONDS
    await asyncio.sleep(settle)
    idle = await window(min(args.hold, IDLE_SECONDS), counter, url, pids)
    followers = Followers()
    clients = [
        asyncio.create_task(
            follow(server.port, f"/v1/tasks/{run_ids[n % len(run_ids)]}/events", permit, followers)
        )
        for n in range(args.clients)
    ]
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while sum(followers.statuses.values()) + sum(followers.failed.values()) < args.clients:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)
    held = await window(args.hold, counter, url, pids)
    still_open = followers.open - followers.ended_early
    followers.holding = False
    for client in clients:
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    postgres = not url.startswith("sqlite:///")
    result = SseResult(
        backend="postgres" if postgres else "sqlite",
        clients=args.clients,
        runs=len(run_ids),
        hold_s=held.seconds,
        answered_200=followers.statuses[200],
        other_statuses={str(s): n for s, n in followers.statuses.items() if s != 200},
        connect_failures=dict(followers.failed),
        still_open=still_open,
        statements=held.statements,
        statements_per_s=held.statements / held.seconds,
        statements_per_client_per_s=held.statements / held.seconds / max(args.clients, 1),
        server_cores=held.cpu / held.seconds,
        idle_statements_per_s=idle.statements / idle.seconds,
    )
    if postgres:
        result.pg_transactions_per_s = held.pg[0] / held.seconds
        result.pg_table_reads_per_s = held.pg[1] / held.seconds
        result.idle_pg_transactions_per_s = idle.pg[0] / idle.seconds
    return result


def run_backend(backend: str, args: Any) -> SseResult:
    with scratch(backend) as (directory, database_url):
        forge = FakeForge.create(directory)
        counter = directory / "statements"
        limit = str(max(args.clients, args.runs) + 10)
        env = server_env(
            forge,
            database_url=database_url,
            var_dir=directory / "var",
            secret=os.urandom(24).hex(),
            SEECODES_LOG_LEVEL="WARNING",
            SEECODES_RUN_EXECUTION="workers",  # and no worker: a queued run stays queued
            SEECODES_RUN_EVENTS_PER_PERMIT=limit,
            SEECODES_RUN_EVENTS_PER_INSTALLATION=limit,
            SEECODES_RUN_EVENTS_MAX_SECONDS=str(int(args.hold + CONNECT_TIMEOUT + 60)),
            SEECODES_MAX_UNSTARTED_RUNS=limit,
            SEECODES_BENCH_STATEMENTS_FILE=str(counter),
        )
        log_path = directory / "server.log"
        command = [sys.executable, str(COUNTED_SERVE)]
        with LiveServer(env, log_path=log_path, command=command) as server:
            permit = _task_permit(server.base_url, forge.fit(lifetime=FIT_LIFETIME))
            run_ids = seed_runs(server.base_url, permit, args.runs)
            queue_runs(database_url, run_ids)
            result = asyncio.run(hold(server, permit, run_ids, args, counter, database_url))
        lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
        if lines:
            print(
                f"  server log ({backend}): {len(lines)} line(s) at WARNING or above; first: {lines[0][:200]}"
            )
    return result


def print_result(result: SseResult) -> None:
    print(
        f"\n== {result.backend}, 1 server process: {result.clients} idle followers on {result.runs} queued runs,"
        f" held {result.hold_s:.1f} s =="
    )
    others = ", ".join(f"HTTP {s}: {n}" for s, n in sorted(result.other_statuses.items())) or "none"
    failures = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.connect_failures.items())) or "none"
    print(
        f"  streams answered 200: {result.answered_200} of {result.clients} (other answers: {others};"
        f" connection failures: {failures}); still open at the end: {result.still_open}"
    )
    if result.answered_200 < result.clients:
        print(
            f"  !!! ERROR: only {result.answered_200} of {result.clients} streams opened; the figures below undercount"
        )
    print(
        f"  SQL statements sent by the server: {result.statements} = {result.statements_per_s:.1f}/s"
        f" ({result.statements_per_client_per_s:.3f} per client per second; with no stream open:"
        f" {result.idle_statements_per_s:.1f}/s)"
    )
    if not math.isnan(result.pg_transactions_per_s):
        print(
            f"  PostgreSQL: {result.pg_transactions_per_s:.1f} transactions/s (with no stream open:"
            f" {result.idle_pg_transactions_per_s:.1f}/s), {result.pg_table_reads_per_s:.1f} reads of runs"
            " + run_events per second"
        )
    print(f"  server CPU: {result.server_cores:.2f} cores (of {os.cpu_count()})")
    verdict = "met" if result.met else "MISSED"
    print(
        f"  goal ≤ {GOAL_STATEMENTS_PER_SECOND:g} queries/s in total with every stream open:"
        f" {result.queries_per_s:.1f}/s {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=200, help="streams held open")
    parser.add_argument("--runs", type=int, default=200, help="queued runs the clients are spread over")
    parser.add_argument("--hold", type=float, default=20.0, help="measured idle seconds")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--strict", action="store_true", help="exit non-zero when the goal is missed")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend(s) in {args.backends!r}")
    facts = machine_facts(argparse.Namespace(workers=1, concurrency=args.clients, duration=args.hold))
    print(f"cores: {facts['cores']} {facts['cpu_model']}; python {facts['python']}")
    results: list[SseResult] = []
    failed: list[str] = []
    for backend in backends:
        try:
            results.append(run_backend(backend, args))
        except Exception as error:
            print(f"\n== {backend}: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            failed.append(backend)
            continue
        print_result(results[-1])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [_finite({**asdict(r), "queries_per_s": r.queries_per_s, "met": r.met}) for r in results]
        args.json.write_text(
            json.dumps({"machine": facts, "results": rows, "failed_backends": failed}, indent=2)
        )
        print(f"wrote {args.json}")
    if failed:
        return 1
    return 1 if args.strict and not all(r.met for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
