"""seecodes against a lean implementation of the same work (bench/lean_server.py), driven by wrk.

Run from the repository root:

    .venv/bin/python bench/lean_bench.py [--duration 5] [--connections 16] [--backends sqlite,postgres]
                                         [--workers-pg2 on|off] [--scenarios healthz,progress,…]
                                         [--lean-pg-driver sync|async] [--json PATH] [--strict]
                                         [--profile DIR]

For each backend it creates a database (SQLite in a temporary directory; PostgreSQL a scratch
database, dropped afterwards), starts a real `seecodes serve` (tests.support.live_server, one process,
SEECODES_RUN_EXECUTION=workers, log level WARNING) and seeds it through the API: a FIT from a fake
Forge, a request-key chain, a task permit for AUTH-128, one run (initialised: `GET /v1/tasks/{runId}`
answers 200) and a project index of 1,000 entries. It then runs every scenario with wrk against
seecodes, stops it, starts the lean server on the same database and runs the same scenarios again:

- ``healthz``: `GET /healthz` against a bare FastAPI route (what seecodes' middleware stack costs);
- ``progress``: `POST /v1/tasks/AUTH-128/progress` (permit, jti row, a new report);
- ``chain``: the Jira App's request-key chain on `GET /v1/instances/me`, one chain per connection
  (wrk threads == connections; bench/wrk/chain.lua rotates the key from every answer);
- ``run``: `GET /v1/tasks/{runId}` (permit, the run's status);
- ``activity``: `POST /v1/tasks/activity-snapshot`, a new window per request (stored, day's sums);
- ``index``: `POST /v1/projects/AUTH/indexes/query` with 100 items (80 same-path matches, 10 reused
  by hash from another path, 10 stale).

Rounds: 16 connections (``--connections``) with one server process on each backend, the same on
PostgreSQL with two processes for both servers (``--workers-pg2``), and progress POST at 64
connections on SQLite. Each wrk run follows a 1 s warm-up run; latencies are wrk's (every answer).
Before its scenarios each server answers one request of each kind, and the answers are compared
(status, body shape, and the whole body where it is deterministic): the lean server must do what
seecodes does, or its figures mean nothing. A scenario whose answers are more than 1 % failures is
flagged loudly and its goals count as missed.

Goals, per round at ``--connections``: seecodes' req/s ≥ 0.5× the lean server's and its p99 ≤ 3× the
lean p99 on every route, `/healthz` ≥ 0.8× the bare route's req/s; progress POST at 64 connections
on SQLite: p99 ≤ 100 ms. Each prints "met" or "MISSED"; `--strict` exits non-zero on a missed goal.
wrk, both servers and PostgreSQL share the machine's cores, so absolute figures are lower bounds;
the ratios compare two runs made minutes apart under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
from bench.http_bench import (  # noqa: E402
    PROGRESS_BODY,
    TASK_ID,
    _cpu_seconds,
    _create_database,
    _drop_database,
    _finite,
    _host_busy_seconds,
    _task_permit,
    machine_facts,
)
from bench.index_bench import entry_of, hash_of, path_of  # noqa: E402
from tests.support.forge import NEXT_KEY_HEADER, REQUEST_KEY_HEADER, FakeForge  # noqa: E402
from tests.support.live_server import LiveServer, server_env  # noqa: E402

WRK_DIR = ROOT / "bench" / "wrk"
LEAN_SERVER = ROOT / "bench" / "lean_server.py"
PROJECT = "AUTH"
WARMUP_SECONDS = 1
WRK_THREADS = 2  # one per core; the chain needs one per connection instead
INDEX_ENTRIES = 1000
FIT_LIFETIME = 900
FAILURE_SHARE_LIMIT = 0.01
THROUGHPUT_GOAL = 0.5
P99_GOAL = 3.0
HEALTHZ_GOAL = 0.8
BUSY_CONNECTIONS = 64
BUSY_P99_GOAL_MS = 100.0
SERVERS = ("seecodes", "lean")


@dataclass(frozen=True)
class Scenario:
    key: str  # what --scenarios names
    name: str
    script: str
    thread_per_connection: bool = False


SCENARIOS = (
    Scenario("healthz", "healthz", "healthz.lua"),
    Scenario("progress", "progress POST", "progress.lua"),
    Scenario("chain", "rotation chain", "chain.lua", thread_per_connection=True),
    Scenario("run", "run status GET", "run_status.lua"),
    Scenario("activity", "activity snapshot", "activity.lua"),
    Scenario("index", "index query ×100", "index_query.lua"),
)
PROGRESS = SCENARIOS[1]


@dataclass(frozen=True)
class Round:
    backend: str
    workers: int
    connections: int
    scenarios: tuple[Scenario, ...]

    @property
    def label(self) -> str:
        processes = "1 server process" if self.workers == 1 else f"{self.workers} server processes"
        return f"{self.backend}, {processes}, {self.connections} connections"


@dataclass
class Measurement:
    server: str
    backend: str
    workers: int
    connections: int
    scenario: str
    requests: int
    ok: int
    failures: dict[str, int]
    duration_s: float
    rps: float  # 2xx answers that are the scenario's work, per second
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    early: int  # requests wrk built before the previous answer on the connection was read
    bootstraps: int
    server_cores: float = math.nan
    client_cores: float = math.nan
    host_cores: float = math.nan

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    @property
    def valid(self) -> bool:
        return self.ok > 0 and self.errors <= FAILURE_SHARE_LIMIT * max(self.requests, 1) and not self.early


@dataclass
class Verdict:
    round: str
    scenario: str
    goal: str
    value: float
    met: bool
    note: str = ""


@dataclass
class Seed:
    forge: FakeForge
    permit: str
    run_id: str
    index_body: Path
    directory: Path
    runs: int = 0  # wrk runs so far: each activity run takes days of its own
    probes: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- seeding through the real API ------------------------------------------------------------------
def seed(server: LiveServer, forge: FakeForge, directory: Path) -> Seed:
    permit = _task_permit(server.base_url, forge.fit(lifetime=FIT_LIFETIME))
    auth = {"Authorization": f"Bearer {permit}"}
    with httpx.Client(base_url=server.base_url, timeout=60, headers=auth) as http:
        created = http.post("/v1/tasks/init", json={})
        created.raise_for_status()
        entries = {path_of(n): entry_of(n) for n in range(INDEX_ENTRIES)}
        http.post(f"/v1/projects/{PROJECT}/indexes/upsert", json={"entries": entries}).raise_for_status()
    items = (
        [{"path": path_of(n), "hash": hash_of(n)} for n in range(80)]  # the same path and hash
        + [{"path": f"src/moved/file{n:07d}.ts", "hash": hash_of(n)} for n in range(80, 90)]  # reuse
        + [{"path": path_of(n), "hash": hash_of(10**6 + n)} for n in range(90, 100)]  # stale
    )
    body = directory / "index-query.json"
    body.write_text(json.dumps({"items": items}))
    return Seed(forge, permit, str(created.json()["runId"]), body, directory)


def chains(base_url: str, forge: FakeForge, count: int, directory: Path) -> Path:
    """One Jira App user per connection: a FIT and the first key of a fresh chain, on `base_url`."""
    lines = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for n in range(count):
            fit = forge.fit(principal=f"557058:bench-{n:04d}", lifetime=FIT_LIFETIME)
            reply = http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})
            reply.raise_for_status()
            lines.append(f"{fit} {reply.json()['requestKey']}")
    path = directory / f"chains-{secrets.token_hex(4)}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _past_midnight(days_ago: int) -> int:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(today.timestamp()) - days_ago * 86400


# -- the same request to both servers ---------------------------------------------------------------
def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value[:1]]
    return type(value).__name__


def probe(base_url: str, ctx: Seed) -> dict[str, dict[str, Any]]:
    """One answer of each route: status, body, whether a next key came with it."""
    auth = {"Authorization": f"Bearer {ctx.permit}"}
    answers: dict[str, httpx.Response] = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        answers["healthz"] = http.get("/healthz")
        answers["progress"] = http.post(
            f"/v1/tasks/{TASK_ID}/progress",
            content=PROGRESS_BODY,
            headers={**auth, "Content-Type": "application/json"},
        )
        fit = ctx.forge.fit(principal="557058:probe", lifetime=FIT_LIFETIME)
        answers["bootstrap"] = http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})
        key = answers["bootstrap"].json().get("requestKey", "")
        fit_auth = {"Authorization": f"Bearer {fit}", REQUEST_KEY_HEADER: key}
        answers["chain"] = http.get("/v1/instances/me", headers=fit_auth)
        answers["chain replayed"] = http.get("/v1/instances/me", headers=fit_auth)
        answers["run"] = http.get(f"/v1/tasks/{ctx.run_id}", headers=auth)
        ctx.runs += 1
        window = datetime.fromtimestamp(_past_midnight(3000 + 10 * ctx.runs) + 600, UTC)
        answers["activity"] = http.post(
            "/v1/tasks/activity-snapshot",
            headers=auth,
            json={
                "windowStartedAt": window.isoformat(),
                "windowEndedAt": window.replace(minute=window.minute + 1).isoformat(),
                "humanActiveMs": 42000,
                "locAdded": 12,
                "locRemoved": 3,
                "changedFiles": ["src/a.ts", "src/b.ts"],
                "logicChange": True,
            },
        )
        answers["index"] = http.post(
            f"/v1/projects/{PROJECT}/indexes/query",
            content=ctx.index_body.read_bytes(),
            headers={**auth, "Content-Type": "application/json"},
        )
        answers["bad permit"] = http.get(f"/v1/tasks/{ctx.run_id}", headers={"Authorization": "Bearer x.y.z"})
    return {
        name: {
            "status": reply.status_code,
            "body": reply.json(),
            "next_key": NEXT_KEY_HEADER.lower() in reply.headers,
        }
        for name, reply in answers.items()
    }


# Bodies that must be equal, not just alike: the same rows give the same answer.
_SAME_BODY = ("healthz", "progress", "run", "index", "chain replayed", "bad permit")


def compare(seecodes: dict[str, dict[str, Any]], lean: dict[str, dict[str, Any]]) -> list[str]:
    differences = []
    for name, expected in seecodes.items():
        got = lean[name]
        if got["status"] != expected["status"] or got["next_key"] != expected["next_key"]:
            differences.append(
                f"{name}: seecodes {expected['status']} (next key: {expected['next_key']}), "
                f"lean {got['status']} (next key: {got['next_key']})"
            )
        elif _shape(got["body"]) != _shape(expected["body"]):
            differences.append(f"{name}: body shapes differ: {got['body']} vs {expected['body']}")
        elif name in _SAME_BODY and got["body"] != expected["body"]:
            differences.append(f"{name}: bodies differ: {got['body']} vs {expected['body']}")
        elif name == "chain":
            ignored = {"updatedAt"}  # the probe's bootstrap refreshed nothing, but be safe
            mine = {k: v for k, v in got["body"].items() if k not in ignored}
            theirs = {k: v for k, v in expected["body"].items() if k not in ignored}
            if mine != theirs:
                differences.append(f"{name}: bodies differ: {got['body']} vs {expected['body']}")
    return differences


# -- wrk ---------------------------------------------------------------------------------------------
def run_wrk(
    server: LiveServer, ctx: Seed, scenario: Scenario, connections: int, duration: int
) -> dict[str, Any]:
    env = {"WRK_PERMIT": ctx.permit, "WRK_RUN_ID": ctx.run_id, "WRK_BODY_FILE": str(ctx.index_body)}
    env["WRK_TASK"], env["WRK_PROJECT"] = TASK_ID, PROJECT
    ctx.runs += 1
    env["WRK_BASE_EPOCH"] = str(_past_midnight(40 * ctx.runs))
    if scenario.key == "chain":
        env["WRK_CHAINS"] = str(chains(server.base_url, ctx.forge, connections, ctx.directory))
    threads = connections if scenario.thread_per_connection else min(WRK_THREADS, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / scenario.script),
        server.base_url,
    ]
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            return result
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {done.stderr.strip()[-500:]}")


def measure(
    server_name: str, server: LiveServer, ctx: Seed, round_: Round, scenario: Scenario, args: Any
) -> Measurement:
    run_wrk(server, ctx, scenario, round_.connections, WARMUP_SECONDS)
    pids = server.worker_pids()
    cpu_before, host_before = _cpu_seconds(pids), _host_busy_seconds()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall_before = time.perf_counter()
    recorders = _profilers(server_name, pids, round_, scenario, args)
    raw = run_wrk(server, ctx, scenario, round_.connections, args.duration)
    wall = time.perf_counter() - wall_before
    for recorder in recorders:
        recorder.wait(timeout=60)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    failures = dict(raw["failures"])
    for kind, n in raw["socket_errors"].items():
        if n:
            failures[f"socket {kind}"] = int(n)
    latency = raw["latency_ms"]
    measurement = Measurement(
        server=server_name,
        backend=round_.backend,
        workers=round_.workers,
        connections=round_.connections,
        scenario=scenario.name,
        requests=int(raw["requests"]),
        ok=int(raw["ok"]),
        failures={kind: int(n) for kind, n in failures.items()},
        duration_s=float(raw["duration_s"]),
        rps=int(raw["ok"]) / max(float(raw["duration_s"]), 1e-9),
        p50_ms=float(latency["p50"]),
        p90_ms=float(latency["p90"]),
        p99_ms=float(latency["p99"]),
        max_ms=float(latency["max"]),
        early=int(raw["early"]),
        bootstraps=int(raw["bootstraps"]),
    )
    measurement.server_cores = (_cpu_seconds(pids) - cpu_before) / wall
    measurement.host_cores = (_host_busy_seconds() - host_before) / wall
    measurement.client_cores = (
        children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    ) / wall
    if not measurement.valid:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(measurement.failures.items())) or "none"
        message = (
            f"!!! ERROR: {server_name} {scenario.name} ({round_.label}): {measurement.errors} of "
            f"{measurement.requests} answers failed, {measurement.ok} succeeded, {measurement.early} requests "
            f"built early ({kinds}). These figures measure failures, not the work; its goals count as missed."
        )
        print(message, flush=True)
        print(message, file=sys.stderr, flush=True)
    return measurement


def _profilers(
    server_name: str, pids: list[int], round_: Round, scenario: Scenario, args: Any
) -> list[subprocess.Popen[bytes]]:
    """`--profile DIR`: py-spy samples every seecodes process (all threads, aiosqlite's included) for
    the measured run; one collapsed-stack file per process and scenario (`bench/stacks.py` sums them). It slows the server it samples,
    so a profiled run's figures are for reading the profile, not for the report."""
    if args.profile is None or server_name != "seecodes":
        return []
    args.profile.mkdir(parents=True, exist_ok=True)
    recorders = []
    for pid in pids:
        out = (
            args.profile
            / f"{round_.backend}-w{round_.workers}-c{round_.connections}-{scenario.key}-{pid}.txt"
        )
        command = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--threads",
            "--nonblocking",
            "--rate",
            "200",
            "--format",
            "raw",
        ]
        command += ["--duration", str(args.duration), "--pid", str(pid), "--output", str(out)]
        recorders.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return recorders


# -- one backend ---------------------------------------------------------------------------------------
@dataclass
class BackendRun:
    backend: str
    measurements: list[Measurement]
    differences: dict[str, list[str]]
    log_lines: dict[str, list[str]]


def rounds_for(backend: str, args: Any) -> list[Round]:
    chosen = tuple(s for s in SCENARIOS if s.key in args.scenarios)
    rounds = [Round(backend, 1, args.connections, chosen)]
    if backend == "postgres" and args.workers_pg2 == "on":
        rounds.append(Round(backend, 2, args.connections, chosen))
    if backend == "sqlite" and PROGRESS.key in args.scenarios and args.connections != BUSY_CONNECTIONS:
        rounds.append(Round(backend, 1, BUSY_CONNECTIONS, (PROGRESS,)))
    return rounds


@contextmanager
def scratch(backend: str) -> Iterator[tuple[Path, str]]:
    db_name = f"seecodes_lean_{os.getpid()}_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="seecodes-lean-bench-") as name:
        directory = Path(name)
        if backend == "sqlite":
            yield directory, f"sqlite:///{directory / 'bench.db'}"
            return
        _create_database(db_name)
        try:
            yield directory, f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"
        finally:
            _drop_database(db_name)


def run_backend(backend: str, args: Any) -> BackendRun:
    run = BackendRun(backend, [], {}, {})
    with scratch(backend) as (directory, database_url):
        forge = FakeForge.create(directory)
        env = server_env(
            forge,
            database_url=database_url,
            var_dir=directory / "var",
            secret=secrets.token_urlsafe(36)[:48],
            SEECODES_LOG_LEVEL="WARNING",
            # `serve` refuses the in-process engine with several processes; this bench starts no run.
            SEECODES_RUN_EXECUTION="workers",
            LEAN_PG_DRIVER=args.lean_pg_driver,
        )
        ctx: Seed | None = None
        rounds = rounds_for(backend, args)
        for workers in sorted({r.workers for r in rounds}):
            mine = [r for r in rounds if r.workers == workers]
            probes: dict[str, dict[str, Any]] = {}
            for server_name in SERVERS:
                command = [sys.executable, str(LEAN_SERVER)] if server_name == "lean" else None
                log_path = directory / f"{server_name}-{workers}.log"
                server = LiveServer(env, workers=workers, log_path=log_path, command=command)
                try:
                    server.start()
                    if ctx is None:
                        ctx = seed(server, forge, directory)
                    probes[server_name] = probe(server.base_url, ctx)
                    for round_ in mine:
                        for scenario in round_.scenarios:
                            run.measurements.append(measure(server_name, server, ctx, round_, scenario, args))
                except Exception:
                    # The temporary directory goes away with the log in it: show its end now.
                    if log_path.exists():
                        tail = log_path.read_text(errors="replace").splitlines()[-20:]
                        print(f"{server_name} server log, last lines:", *tail, sep="\n  ", file=sys.stderr)
                    raise
                finally:
                    server.stop()
                    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
                    run.log_lines[f"{server_name} ×{workers}"] = lines
            run.differences[f"{workers} process(es)"] = compare(probes["seecodes"], probes["lean"])
    return run


# -- the report ------------------------------------------------------------------------------------------
def verdicts(runs: list[BackendRun], args: Any) -> list[Verdict]:
    found: list[Verdict] = []
    for run in runs:
        for round_ in rounds_for(run.backend, args):
            for scenario in round_.scenarios:
                pair = _pair(run, round_, scenario)
                if pair is None:
                    continue
                mine, lean = pair
                valid = mine.valid and lean.valid
                note = "" if valid else "INVALID: too many failed answers"
                if round_.connections != args.connections:  # the busy round: its own goal
                    found.append(
                        Verdict(
                            round_.label,
                            scenario.name,
                            f"p99 ≤ {BUSY_P99_GOAL_MS:g} ms",
                            mine.p99_ms,
                            valid and mine.p99_ms <= BUSY_P99_GOAL_MS,
                            note,
                        )
                    )
                    continue
                throughput = mine.rps / lean.rps if lean.rps else math.nan
                if scenario.key == "healthz":
                    goal = f"req/s ≥ {HEALTHZ_GOAL:g}× bare FastAPI"
                    found.append(
                        Verdict(
                            round_.label,
                            scenario.name,
                            goal,
                            throughput,
                            valid and throughput >= HEALTHZ_GOAL,
                            note,
                        )
                    )
                    continue
                p99 = mine.p99_ms / lean.p99_ms if lean.p99_ms else math.nan
                found.append(
                    Verdict(
                        round_.label,
                        scenario.name,
                        f"req/s ≥ {THROUGHPUT_GOAL:g}× lean",
                        throughput,
                        valid and throughput >= THROUGHPUT_GOAL,
                        note,
                    )
                )
                found.append(
                    Verdict(
                        round_.label,
                        scenario.name,
                        f"p99 ≤ {P99_GOAL:g}× lean",
                        p99,
                        valid and p99 <= P99_GOAL,
                        note,
                    )
                )
    return found


def _pair(run: BackendRun, round_: Round, scenario: Scenario) -> tuple[Measurement, Measurement] | None:
    found = {
        m.server: m
        for m in run.measurements
        if (m.workers, m.connections, m.scenario) == (round_.workers, round_.connections, scenario.name)
    }
    return (found["seecodes"], found["lean"]) if len(found) == 2 else None


def print_backend(run: BackendRun, args: Any, found: list[Verdict]) -> None:
    for round_ in rounds_for(run.backend, args):
        print(
            f"\n== {round_.label}, {args.duration} s per scenario after {WARMUP_SECONDS} s warm-up (wrk) =="
        )
        header = (
            f"{'scenario':<19}{'server':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
            f"{'srv CPU':>9}{'wrk CPU':>9}   seecodes ÷ lean"
        )
        print(header)
        print("-" * (len(header) + 30))
        for scenario in round_.scenarios:
            pair = _pair(run, round_, scenario)
            if pair is None:
                continue
            for m in pair:
                print(
                    f"{scenario.name if m.server == 'seecodes' else '':<19}{m.server:<10}{m.rps:>9.0f}"
                    f"{m.p50_ms:>9.2f}{m.p99_ms:>9.2f}{m.max_ms:>9.1f}{m.errors:>8}{m.server_cores:>9.2f}"
                    f"{m.client_cores:>9.2f}   {_ratios(m, pair[1]) if m.server == 'seecodes' else ''}"
                )
            for verdict in found:
                if verdict.round == round_.label and verdict.scenario == scenario.name:
                    print(f"{'':<29}goal {verdict.goal}: {_verdict_text(verdict)}")
        for m in run.measurements:
            if m.failures and (m.workers, m.connections) == (round_.workers, round_.connections):
                kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(m.failures.items()))
                print(f"  errors, {m.server} {m.scenario}: {kinds}")
    print(
        f"  srv CPU / wrk CPU: cores kept busy by the server processes / by wrk (of {os.cpu_count()});"
        " errors: non-2xx answers and socket errors"
    )
    for label, differences in run.differences.items():
        if differences:
            print(f"  !!! lean and seecodes answered differently ({label}):")
            for difference in differences:
                print(f"    {difference[:300]}")
        else:
            print(f"  answers compared ({label}): the lean server answers every probe as seecodes does")
    for label, lines in run.log_lines.items():
        if lines:
            print(f"  {label} server log: {len(lines)} line(s) at WARNING or above; first: {lines[0][:200]}")


def _ratios(mine: Measurement, lean: Measurement) -> str:
    throughput = mine.rps / lean.rps if lean.rps else math.nan
    p99 = mine.p99_ms / lean.p99_ms if lean.p99_ms else math.nan
    return f"req/s {throughput:.2f}×, p99 {p99:.2f}×"


def _verdict_text(verdict: Verdict) -> str:
    unit = " ms" if verdict.goal.endswith(" ms") else "×"
    text = f"{verdict.value:.2f}{unit} {'met' if verdict.met else 'MISSED'}"
    return f"{text} ({verdict.note})" if verdict.note else text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=5, help="measured seconds per scenario (whole)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument(
        "--workers-pg2", choices=("on", "off"), default="on", help="PostgreSQL with 2 processes too"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(s.key for s in SCENARIOS),
        help=f"comma-separated, of: {', '.join(s.key for s in SCENARIOS)}",
    )
    parser.add_argument(
        "--lean-pg-driver", choices=("sync", "async"), default="async", help="psycopg mode of the lean server"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy every seecodes process while measured (collapsed stacks here)"
    )
    parser.add_argument("--strict", action="store_true", help="exit non-zero when a goal is missed")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backend(s) in {args.backends!r}")
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if args.scenarios - {s.key for s in SCENARIOS}:
        parser.error(f"unknown scenario(s) in {sorted(args.scenarios)}")

    facts = machine_facts(argparse.Namespace(workers=1, concurrency=args.connections, duration=args.duration))
    busy_before = _host_busy_seconds()
    time.sleep(1.0)
    facts["busy_cores_before_start"] = round(_host_busy_seconds() - busy_before, 2)
    facts["lean_pg_driver"] = args.lean_pg_driver
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split(
        "\n"
    )[0]
    print(
        f"cores: {facts['cores']} (usable {facts['usable_cores']}) {facts['cpu_model']}\n"
        f"python: {facts['python']}; {wrk_version.strip()}\n"
        f"backends: {', '.join(backends)}; lean PostgreSQL driver: psycopg {args.lean_pg_driver}\n"
        f"machine busy before start: {facts['busy_cores_before_start']:.2f} cores"
        + (
            "  WARNING: other load is running; figures will be noisy"
            if facts["busy_cores_before_start"] > 0.2
            else ""
        )
    )
    runs: list[BackendRun] = []
    failed: list[str] = []
    for backend in backends:
        try:
            runs.append(run_backend(backend, args))
        except Exception as error:
            print(f"\n== backend {backend}: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            failed.append(backend)
    found = verdicts(runs, args)
    for run in runs:
        print_backend(run, args, found)
    missed = [v for v in found if not v.met]
    # Each missed goal says MISSED once, above (bench/report.py counts the word).
    print(f"\ngoals: {len(found) - len(missed)} met, {len(missed)} missed")
    for verdict in missed:
        value = _verdict_text(verdict).replace("MISSED", "").replace("  ", " ")
        print(f"  missed: {verdict.round}: {verdict.scenario}: {verdict.goal}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "machine": facts,
            "measurements": [_finite(asdict(m)) for run in runs for m in run.measurements],
            "verdicts": [_finite(asdict(v)) for v in found],
            "differences": {run.backend: run.differences for run in runs},
            "failed_backends": failed,
        }
        args.json.write_text(json.dumps(document, indent=2, allow_nan=False, default=str))
        print(f"wrote {args.json}")
    if failed:
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
