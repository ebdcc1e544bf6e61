"""Fault drill: PostgreSQL stopped for 10 s under load, then started again; seecodes is not restarted.

Run from the repository root (as root or as the `postgres` OS user; needs the PostgreSQL server
binaries, e.g. /usr/lib/postgresql/15/bin):

    .venv/bin/python bench/faults/pg_outage.py [--before 5] [--outage 10] [--after 20] [--json PATH]

A private PostgreSQL cluster (initdb into a temporary directory, trust auth, a free loopback port,
run as the `postgres` OS user) carries a `tests.support.stack.Stack`: `seecodes serve --workers 2`
and one `seecodes worker`. Virtual users (`bench.soak.User`) keep up a steady load of request-key
chains, progress writes and progress reads; the drill stops PostgreSQL with `pg_ctl stop -m fast`,
keeps it down for `--outage` seconds, starts it again and keeps the load going `--after` seconds.
The shared server on 127.0.0.1:5432 is never touched.

Goals (each failing the drill, exit status 1):
- before the outage every request succeeds;
- during it (any request whose time overlaps stop → started again) every failure is a 503 in the
  error envelope with Retry-After: no 500, no other status, no connection error, and no answer
  slower than the client's request timeout (the slowest is reported);
- afterwards requests succeed again without restarting anything: failures after the restart are
  503s and end within 10 s (the time to recovery is reported), the API and worker processes are the
  same, reads on new connections (which land on either API process, also one that was idle through
  the outage) all succeed, and a run started after the outage succeeds;
- every acknowledged (2xx) progress write is in the database, and the newest through the API.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench.http_bench import _percentile  # noqa: E402
from bench.soak import Journal, Sample, drive, make_users, processes, progress_found  # noqa: E402
from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.live_server import free_port  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

MIX = {"chain": 1.0, "progress write": 1.0, "progress read": 1.0}
REQUEST_TIMEOUT = 10.0
RECOVERY_GOAL = 10.0


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: SEECODES_PG_BIN, else the newest Debian-style install, else PATH."""
    configured = os.environ.get("SEECODES_PG_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 that this process may stop and start at will.

    PostgreSQL refuses to run as root, so as root every command runs as the `postgres` OS user,
    which owns the data directory. The cluster is stopped (immediate) and deleted at exit even if the
    drill fails half-way: pg_ctl daemonizes, so it would not die with us.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="seecodes-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        atexit.register(self.destroy)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 120.0) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run(
            [*prefix, str(self.bin_dir / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-instructions")
        return self

    def start(self) -> float:
        """Start and wait until it accepts connections; returns the seconds that took."""
        started = time.perf_counter()
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory}"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60"
        )
        return time.perf_counter() - started

    def stop(self, mode: str = "fast") -> float:
        started = time.perf_counter()
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")
        return time.perf_counter() - started

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Timeline:
    """perf_counter() moments of the outage."""

    stop_issued: float = 0.0
    stopped: float = 0.0
    start_issued: float = 0.0
    started: float = 0.0


def run_drill(
    *, before: float = 5.0, outage: float = 10.0, after: float = 20.0, users: int = 4, think_ms: float = 20.0
) -> dict[str, Any]:
    """The whole drill; returns its figures (`passed` says whether every goal was met)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError(
            "no PostgreSQL server binaries (initdb, pg_ctl): install postgresql or set SEECODES_PG_BIN"
        )
    postgres = PrivatePostgres(bin_dir).init()
    journal = Journal()
    timeline = Timeline()
    try:
        postgres.start()
        with (
            FakeOpenAI() as model,
            Stack(
                backend="postgres",
                model_base_url=model.base_url,
                api_processes=2,
                run_workers=1,
                # Every acknowledged progress version is read back: none may be pruned meanwhile.
                settings={"SEECODES_LOG_LEVEL": "WARNING", "SEECODES_MAX_PROGRESS_VERSIONS": "100000"},
                pg_admin_url=postgres.admin_url,
            ) as stack,
        ):
            virtual_users = make_users(stack, users, journal, fit_lifetime=int(before + outage + after) + 600)
            for user in virtual_users:
                user.timeout = REQUEST_TIMEOUT
            stack.grant(1000)
            pids_before = processes(stack)

            async def load_with_outage() -> None:
                began = time.perf_counter()
                until = began + before + outage + after
                load = asyncio.create_task(drive(virtual_users, until, MIX, think_ms / 1000, seed=5))
                await asyncio.sleep(before)
                timeline.stop_issued = time.perf_counter()
                await asyncio.to_thread(postgres.stop, "fast")
                timeline.stopped = time.perf_counter()
                await asyncio.sleep(max(0.0, timeline.stop_issued + outage - time.perf_counter()))
                timeline.start_issued = time.perf_counter()
                await asyncio.to_thread(postgres.start)
                timeline.started = time.perf_counter()
                await load

            asyncio.run(load_with_outage())
            pids_after = processes(stack)
            found, missing = progress_found(stack, journal, virtual_users)
            # New connections land on either API process, including one that saw no request during
            # the outage and still pools connections the restart closed: none may fail.
            fresh = []
            for user in virtual_users * 3:
                with httpx.Client(base_url=stack.base_url, timeout=REQUEST_TIMEOUT) as http:
                    reply = http.get(
                        f"/v1/tasks/{user.task}/progress",
                        params={"projectId": "AUTH"},
                        headers={"Authorization": f"Bearer {user.permit}"},
                    )
                    fresh.append(reply.status_code)
            # The worker lived through the outage too: a run started now must complete.
            client = stack.client()
            try:
                permit = client.permit(task="AUTH-999")
                run_started = time.perf_counter()
                run_id = client.start_run(permit)
                run_status = client.wait_for(permit, run_id, within=60)["status"]
                run_seconds = time.perf_counter() - run_started
            finally:
                client.close()
            log_lines = (
                stack.api.log_path.read_text(errors="replace").splitlines() if stack.api.log_path else []
            )
    finally:
        postgres.destroy()
    return report(
        journal,
        timeline,
        found=found,
        missing=missing,
        processes_changed=sorted(set(pids_before.items()) ^ set(pids_after.items())),
        fresh_connections=fresh,
        run_after=(run_status, run_seconds),
        log_lines=log_lines,
        settings={
            "before_s": before,
            "outage_s": outage,
            "after_s": after,
            "users": users,
            "think_ms": think_ms,
        },
    )


def _describe(samples: list[Sample]) -> dict[str, int]:
    return dict(Counter(str(s.status) if s.status else s.error for s in samples))


def report(
    journal: Journal,
    timeline: Timeline,
    *,
    found: int,
    missing: list[str],
    processes_changed: list[Any],
    fresh_connections: list[int],
    run_after: tuple[str, float],
    log_lines: list[str],
    settings: dict[str, Any],
) -> dict[str, Any]:
    samples = journal.samples
    end = lambda s: s.started + s.elapsed  # noqa: E731
    before = [s for s in samples if end(s) < timeline.stop_issued]
    during = [s for s in samples if end(s) >= timeline.stop_issued and s.started <= timeline.started]
    after = [s for s in samples if s.started > timeline.started]
    during_bad = [s for s in during if s.error and not (s.status == 503 and s.enveloped and s.retry_after)]
    after_failures = [s for s in after if s.error]
    after_bad = [s for s in after_failures if not (s.status == 503 and s.enveloped and s.retry_after)]
    last_failure = max((end(s) for s in after_failures), default=timeline.started)
    recovery = last_failure - timeline.started
    first_success = min((end(s) for s in after if not s.error), default=None)
    acked = sum(len(v) for v in journal.progress_acked.values())
    max_during = max((s.elapsed for s in during), default=0.0)
    failures = []
    if any(s.error for s in before):
        failures.append(f"errors before the outage: {_describe([s for s in before if s.error])}")
    if during_bad:
        failures.append(
            f"during the outage, answers other than 503 + envelope + Retry-After: {_describe(during_bad)}"
        )
    if max_during >= REQUEST_TIMEOUT:
        failures.append(f"a request took {max_during:.1f} s during the outage")
    if not any(s.status == 503 for s in during):
        failures.append("no 503 during the outage: the drill did not reach the database")
    if after_bad:
        failures.append(f"after the restart, answers other than 503 + envelope: {_describe(after_bad)}")
    if recovery > RECOVERY_GOAL or not after or first_success is None:
        failures.append(
            f"not recovered within {RECOVERY_GOAL:g} s of the restart (last failure at {recovery:.1f} s)"
        )
    if missing:
        failures.append(f"{len(missing)} acknowledged progress writes not found")
    if processes_changed:
        failures.append(f"processes changed: {processes_changed}")
    if any(status != 200 for status in fresh_connections):
        failures.append(f"reads on new connections after the outage answered {Counter(fresh_connections)}")
    if run_after[0] != "succeeded":
        failures.append(f"the run started after the outage ended {run_after[0]}")
    codes = Counter(s.error for s in during if s.error)
    return {
        "settings": settings,
        "timeline_s": {
            "pg_ctl_stop": round(timeline.stopped - timeline.stop_issued, 2),
            "down": round(timeline.start_issued - timeline.stopped, 2),
            "pg_ctl_start": round(timeline.started - timeline.start_issued, 2),
        },
        "phases": {
            name: {
                "requests": len(group),
                "ok": sum(1 for s in group if not s.error),
                "by_status": _describe(group),
                "p50_ms": round(_percentile(sorted(s.elapsed for s in group), 0.5) * 1000, 1)
                if group
                else None,
                "max_ms": round(max((s.elapsed for s in group), default=0.0) * 1000, 1),
            }
            for name, group in (("before", before), ("during", during), ("after", after))
        },
        "during_error_codes": dict(codes),
        "during_all_503_enveloped": not during_bad,
        "during_max_latency_s": round(max_during, 3),
        "request_timeout_s": REQUEST_TIMEOUT,
        "recovery_s": round(recovery, 2),
        "first_success_after_restart_s": None
        if first_success is None
        else round(first_success - timeline.started, 3),
        "failures_after_restart": len(after_failures),
        "progress_writes": {"acknowledged": acked, "found": found},
        "missing": missing[:20],
        "processes_changed": processes_changed,
        "fresh_connection_reads": dict(Counter(str(status) for status in fresh_connections)),
        "run_after_outage": {"status": run_after[0], "seconds": round(run_after[1], 2)},
        "server_log_lines": len(log_lines),
        "server_log_head": log_lines[:5],
        "failures": failures,
        "passed": not failures,
    }


def print_report(result: dict[str, Any]) -> None:
    timeline, settings = result["timeline_s"], result["settings"]
    print(
        f"PostgreSQL outage drill: {settings['users']} users (chains, progress writes and reads), "
        f"{settings['before_s']:g} s before, {settings['outage_s']:g} s outage, {settings['after_s']:g} s after\n"
        f"pg_ctl stop -m fast took {timeline['pg_ctl_stop']} s; down {timeline['down']} s; "
        f"pg_ctl start took {timeline['pg_ctl_start']} s"
    )
    print(f"\n{'phase':<8}{'requests':>10}{'2xx':>7}{'p50 ms':>9}{'max ms':>9}  by status")
    for name, row in result["phases"].items():
        p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.1f}"
        print(
            f"{name:<8}{row['requests']:>10}{row['ok']:>7}{p50:>9}{row['max_ms']:>9.1f}  {row['by_status']}"
        )
    print(
        f"\nduring the outage: error codes {result['during_error_codes']}; every failure a 503 in the envelope"
        f" with Retry-After: {'yes' if result['during_all_503_enveloped'] else 'NO'}; slowest answer"
        f" {result['during_max_latency_s']} s (client timeout {result['request_timeout_s']:g} s)"
    )
    print(
        f"after the restart: first success {result['first_success_after_restart_s']} s, last failure"
        f" {result['recovery_s']} s after PostgreSQL accepted connections again"
        f" ({result['failures_after_restart']} failed requests); processes restarted: "
        f"{result['processes_changed'] or 'none'}; reads on new connections: {result['fresh_connection_reads']};"
        f" a run started afterwards: {result['run_after_outage']['status']}"
        f" in {result['run_after_outage']['seconds']} s"
    )
    writes = result["progress_writes"]
    print(f"progress writes acknowledged {writes['acknowledged']}, found {writes['found']}")
    for line in result["missing"][:5]:
        print(f"  missing: {line}")
    print(f"server log: {result['server_log_lines']} line(s) at WARNING or above")
    for line in result["server_log_head"][:3]:
        print(f"  {line[:200]}")


def summary_line(result: dict[str, Any]) -> str:
    verdict = "PASS" if result["passed"] else "FAIL (" + "; ".join(result["failures"]) + ")"
    during = result["phases"]["during"]
    writes = result["progress_writes"]
    return (
        f"pg_outage: during {during['requests']} requests {during['by_status']}, slowest"
        f" {result['during_max_latency_s']} s; recovered {result['recovery_s']} s after restart;"
        f" writes {writes['found']}/{writes['acknowledged']} found {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the stop")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of load after the start")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--think-ms", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run_drill(
        before=args.before, outage=args.outage, after=args.after, users=args.users, think_ms=args.think_ms
    )
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
        print(f"wrote {args.json}")
    print(summary_line(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
