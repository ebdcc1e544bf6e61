"""HTTP throughput and latency of a real `seecodes serve`, relative to /healthz on the same run.

Run from the repository root:

    .venv/bin/python bench/http_bench.py [--workers 2] [--duration 10] [--concurrency 32]
                                         [--backends sqlite,postgres] [--json PATH]

For each database backend it starts the server on loopback (tests.support.live_server), then drives
three scenarios from a separate load-generator process over C keep-alive connections:

- ``healthz``: ``GET /healthz``, the reference (no database, no auth).
- ``rotation chain``: every virtual user runs its own single-use request-key chain on
  ``GET /v1/instances/me`` (FIT check + key rotation per call).
- ``progress POST``: ``POST /v1/tasks/AUTH-128/progress`` with a reusable task permit.

Each scenario prints requests, errors (non-2xx and connection failures, by status and error code),
req/s and p50/p99 latency of successful (2xx) requests, the CPU the server workers, the load generator and the
whole machine kept busy, and req/s as a multiple of healthz. Goals: progress POST ≥ 0.50× and
rotation chain ≥ 0.40× healthz. Only requests started after a 1 s warm-up count. The load generator
shares the machine's cores with the server, so absolute figures are a lower bound and other load on
the machine (a test run) skews them: the script measures and prints how busy the machine was before
it started. The ratios are what the goals are about.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import math
import multiprocessing
import os
import platform
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP_SECONDS = 1.0
REQUEST_TIMEOUT = 10.0
TASK_ID = "AUTH-128"
PROGRESS_BODY = json.dumps(
    {
        "ready": ["a"],
        "left": ["b"],
        "progress": "45%",
        "confidence": "Medium",
        "risks": ["r"],
        "logs": ["l"],
    },
    separators=(",", ":"),
).encode()
SCENARIOS = ("healthz", "rotation chain", "progress POST")
GOALS = {"progress POST": 0.50, "rotation chain": 0.40}


# -- load generator (runs in its own process) -------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    scenario: str
    port: int
    duration: float
    concurrency: int
    fits: list[str] = field(default_factory=list)  # one per virtual user (rotation chain)
    permit: str = ""  # progress POST, permit GET
    path: str = ""  # permit GET: the permit-scoped resource to read over and over


@dataclass
class ClientResult:
    scenario: str
    requests: int
    errors: int
    error_kinds: dict[str, int]
    elapsed: float
    rps: float
    p50_ms: float
    p99_ms: float
    client_cores: float  # CPU the load generator used, so a saturated client is visible
    server_cores: float = math.nan  # filled in by the parent from /proc
    host_cores: float = math.nan  # the whole machine, PostgreSQL included

    @property
    def server_cpu_ms(self) -> float:
        """Server CPU per successful request: the cost that caps req/s once the cores are full."""
        return self.server_cores / self.rps * 1000 if self.rps else math.nan


class HttpError(Exception):
    """The reply could not be read as an HTTP/1.1 response with a Content-Length."""


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough protocol for this server's JSON replies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" not in headers:
            raise HttpError("reply without Content-Length")
        length = int(headers[b"content-length"])
        body = await self.reader.readexactly(length) if length else b""
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return int(parts[1]), headers, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Recorder:
    """Counts only requests started inside the measured window (after warm-up, before the end)."""

    def __init__(self, measure_from: float, until: float) -> None:
        self.measure_from = measure_from
        self.until = until
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.last_done = measure_from

    def ok(self, started: float, done: float) -> None:
        if started >= self.measure_from:
            self.latencies.append(done - started)
            self.last_done = max(self.last_done, done)

    def error(self, started: float, done: float, kind: str) -> None:
        if started >= self.measure_from:
            self.errors[kind] += 1
            self.last_done = max(self.last_done, done)


def _failure(status: int, body: bytes) -> str:
    """`HTTP 401 request_key_replayed`: the error code of the server's envelope says why."""
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        code = None
    return f"HTTP {status} {code}" if isinstance(code, str) else f"HTTP {status}"


def _get(path: str, port: int, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode()


def _post(path: str, port: int, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


async def _send(conn: Connection, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        return await conn.request(raw)


_TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError, ValueError)


async def _fixed_user(spec: ClientSpec, raw: bytes, rec: Recorder) -> None:
    """Sends the same request over and over: healthz, progress POST, permit GET."""
    conn = Connection(spec.port)
    try:
        while (started := time.perf_counter()) < rec.until:
            try:
                status, _, body = await _send(conn, raw)
            except (TimeoutError, *_TRANSPORT_ERRORS) as error:
                conn.close()  # the stream is in an unknown state; start a fresh one
                rec.error(started, time.perf_counter(), type(error).__name__)
                await asyncio.sleep(0.01)  # a refused connect must not spin and starve the server
                continue
            done = time.perf_counter()
            if 200 <= status < 300:
                rec.ok(started, done)
            else:
                rec.error(started, done, _failure(status, body))
    finally:
        conn.close()


async def _rotation_user(spec: ClientSpec, fit: str, rec: Recorder) -> None:
    """One Jira App instance: bootstrap a chain, then follow it; any failure restarts the chain."""
    conn = Connection(spec.port)
    auth = f"Authorization: Bearer {fit}\r\n"
    bootstrap = _post("/v1/jira/request-key", spec.port, b"", auth)
    key: str | None = None
    try:
        while (started := time.perf_counter()) < rec.until:
            raw = (
                bootstrap
                if key is None
                else _get("/v1/instances/me", spec.port, f"{auth}X-SeeCodes-Jira-Request-Key: {key}\r\n")
            )
            try:
                status, headers, body = await _send(conn, raw)
            except (TimeoutError, *_TRANSPORT_ERRORS) as error:
                conn.close()
                key = None  # whether the key was spent is unknown; a fresh chain is the safe move
                rec.error(started, time.perf_counter(), type(error).__name__)
                await asyncio.sleep(0.01)
                continue
            done = time.perf_counter()
            if key is None:
                # Bootstraps are chain overhead, not chain steps: only their failures are counted.
                if status == 200:
                    key = json.loads(body)["requestKey"]
                else:
                    rec.error(started, done, f"bootstrap {_failure(status, body)}")
                    await asyncio.sleep(0.01)
                continue
            next_key = headers.get(b"x-seecodes-next-request-key")
            if status == 200 and next_key:
                key = next_key.decode()
                rec.ok(started, done)
            else:
                key = None
                rec.error(started, done, _failure(status, body) if status != 200 else "200 without next key")
    finally:
        conn.close()


async def _drive(spec: ClientSpec) -> ClientResult:
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    measure_from = wall_started + WARMUP_SECONDS
    rec = Recorder(measure_from, measure_from + spec.duration)
    if spec.scenario == "healthz":
        raw = _get("/healthz", spec.port)
        users = [_fixed_user(spec, raw, rec) for _ in range(spec.concurrency)]
    elif spec.scenario == "progress POST":
        raw = _post(
            f"/v1/tasks/{TASK_ID}/progress",
            spec.port,
            PROGRESS_BODY,
            f"Authorization: Bearer {spec.permit}\r\n",
        )
        users = [_fixed_user(spec, raw, rec) for _ in range(spec.concurrency)]
    elif spec.scenario == "permit GET":
        raw = _get(spec.path, spec.port, f"Authorization: Bearer {spec.permit}\r\n")
        users = [_fixed_user(spec, raw, rec) for _ in range(spec.concurrency)]
    elif spec.scenario == "rotation chain":
        users = [_rotation_user(spec, fit, rec) for fit in spec.fits]
    else:
        raise ValueError(f"unknown scenario {spec.scenario!r}")
    await asyncio.gather(*users)
    client_cores = (time.process_time() - cpu_started) / (time.perf_counter() - wall_started)
    elapsed = max(rec.last_done - measure_from, 1e-9)
    latencies = sorted(rec.latencies)
    errors = sum(rec.errors.values())
    return ClientResult(
        scenario=spec.scenario,
        requests=len(latencies) + errors,
        errors=errors,
        error_kinds=dict(rec.errors),
        elapsed=elapsed,
        rps=len(latencies) / elapsed,  # failures are not throughput: a fast 401 must not flatter
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        client_cores=client_cores,
    )


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest rank; NaN when nothing succeeded."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def run_client(spec: ClientSpec) -> ClientResult:
    """Entry point of the load-generator process."""
    try:
        import uvloop  # the client must not be the bottleneck; uvicorn[standard] brings uvloop
    except ImportError:
        return asyncio.run(_drive(spec))
    return uvloop.run(_drive(spec))


# -- orchestration (the parent process) -------------------------------------------------------


@dataclass
class BackendRun:
    backend: str
    scenarios: list[ClientResult]
    server_log_lines: list[str]


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of whole processes (all threads), from /proc; 0 for a process that is gone."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _host_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def _task_permit(base_url: str, fit: str) -> str:
    """The Jira App path: bootstrap a chain, spend one key on a direct permit."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {fit}"}
        reply = http.post("/v1/jira/request-key", headers=auth)
        reply.raise_for_status()
        reply = http.post(
            "/v1/security/task-permit",
            headers={**auth, "X-SeeCodes-Jira-Request-Key": reply.json()["requestKey"]},
            json={"projectId": "AUTH", "taskId": TASK_ID},
        )
        reply.raise_for_status()
        return str(reply.json()["permit"])


def run_backend(backend: str, args: argparse.Namespace, pool: concurrent.futures.Executor) -> BackendRun:
    from tests.support.forge import FakeForge
    from tests.support.live_server import LiveServer, server_env

    # A FIT must outlive the scenario it is used in (warm-up included), with margin.
    fit_lifetime = max(600, int(2 * (args.duration + WARMUP_SECONDS)) + 60)
    db_name = f"seecodes_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with tempfile.TemporaryDirectory(prefix="seecodes-bench-") as tmp_name:
        tmp = Path(tmp_name)
        forge = FakeForge.create(tmp)
        if backend == "postgres":
            database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db_name}"
        else:
            database_url = f"sqlite:///{tmp / 'bench.db'}"
        env = server_env(
            forge,
            database_url=database_url,
            var_dir=tmp / "var",
            secret=secrets.token_urlsafe(36)[:48],
            SEECODES_LOG_LEVEL="WARNING",
            # Several API processes only enqueue runs (this bench starts none); `serve` refuses
            # to run the in-process engine in more than one process.
            SEECODES_RUN_EXECUTION="workers",
        )
        log_path = tmp / "server.log"
        server = LiveServer(env, workers=args.workers, log_path=log_path)
        results: list[ClientResult] = []
        try:
            if backend == "postgres":
                _create_database(db_name)
            server.start()
            permit = _task_permit(server.base_url, forge.fit(lifetime=fit_lifetime))
            for scenario in SCENARIOS:
                # Fresh FITs per scenario so a long --duration never runs into their expiry.
                fits = [
                    forge.fit(principal=f"557058:bench-{i:04d}", lifetime=fit_lifetime)
                    for i in range(args.concurrency if scenario == "rotation chain" else 0)
                ]
                spec = ClientSpec(scenario, server.port, args.duration, args.concurrency, fits, permit)
                pids = server.worker_pids()
                cpu_before, host_before = _cpu_seconds(pids), _host_busy_seconds()
                wall_before = time.perf_counter()
                result = pool.submit(run_client, spec).result()
                # Averaged over warm-up and measurement alike: says whether the run was CPU-bound,
                # and where the CPU went (server workers, load generator, the rest: PostgreSQL).
                wall = time.perf_counter() - wall_before
                result.server_cores = (_cpu_seconds(pids) - cpu_before) / wall
                result.host_cores = (_host_busy_seconds() - host_before) / wall
                results.append(result)
        except Exception:
            # The temporary directory goes away with the log in it: show its end now.
            if log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-20:]
                print(f"server log ({backend}), last lines:", *tail, sep="\n  ", file=sys.stderr)
            raise
        finally:
            server.stop()
            if backend == "postgres":
                _drop_database(db_name)
        # At WARNING level every line is worth reading: 5xx tracebacks, locked databases, ...
        log_lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    return BackendRun(backend, results, log_lines)


def machine_facts(args: argparse.Namespace) -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "server_workers": args.workers,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": WARMUP_SECONDS,
    }


def print_table(run: BackendRun, workers: int) -> None:
    print(f"\n== backend: {run.backend} (server workers: {workers}) ==")
    header = (
        f"{'scenario':<16}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'srv CPU':>9}{'gen CPU':>9}{'all CPU':>9}{'srv ms/req':>12}  vs healthz"
    )
    print(header)
    print("-" * (len(header) + 26))
    reference = next((r.rps for r in run.scenarios if r.scenario == "healthz"), 0.0)
    for r in run.scenarios:
        ratio = r.rps / reference if reference else math.nan
        note = f"{ratio:.2f}× healthz"
        if r.scenario in GOALS:
            goal = GOALS[r.scenario]
            note += f"  (goal ≥ {goal:.2f}×: {'met' if ratio >= goal else 'MISSED'})"
        print(
            f"{r.scenario:<16}{r.requests:>10}{r.errors:>8}{r.rps:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
            f"{r.server_cores:>9.2f}{r.client_cores:>9.2f}{r.host_cores:>9.2f}{r.server_cpu_ms:>12.2f}  {note}"
        )
    print(
        f"  CPU columns: cores kept busy by the server workers / the load generator / the whole machine"
        f" (of {os.cpu_count()}); srv ms/req: server CPU per 2xx request"
    )
    for r in run.scenarios:
        if r.error_kinds:
            kinds = ", ".join(f"{kind}: {count}" for kind, count in sorted(r.error_kinds.items()))
            print(f"  errors in {r.scenario}: {kinds}")
    if run.server_log_lines:
        print(f"  server log: {len(run.server_log_lines)} line(s) at WARNING or above; first ones:")
        for line in run.server_log_lines[:5]:
            print(f"    {line[:200]}")
    else:
        print("  server log: nothing at WARNING or above")


def to_json(facts: dict[str, Any], runs: list[BackendRun], failed: list[str]) -> dict[str, Any]:
    backends: dict[str, Any] = {}
    for run in runs:
        reference = next((r.rps for r in run.scenarios if r.scenario == "healthz"), 0.0)
        backends[run.backend] = {
            "scenarios": [
                _finite(
                    {
                        **asdict(r),
                        "server_cpu_ms_per_request": r.server_cpu_ms,
                        "ratio_to_healthz": (r.rps / reference if reference else None),
                    }
                )
                for r in run.scenarios
            ],
            "server_log_lines": run.server_log_lines[:50],
        }
    return {"machine": facts, "goals": GOALS, "backends": backends, "failed_backends": failed}


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a scenario with no successful request has no percentiles."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")

    facts = machine_facts(args)
    # Other work on the machine (a test run, a build) skews every figure; say so up front.
    busy_before = _host_busy_seconds()
    time.sleep(1.0)
    facts["busy_cores_before_start"] = round(_host_busy_seconds() - busy_before, 2)
    print(
        f"cores: {facts['cores']} (usable {facts['usable_cores']}) {facts['cpu_model']}\n"
        f"python: {facts['python']} on {facts['platform']}\n"
        f"server workers: {args.workers}; load generator: 1 separate process, {args.concurrency} keep-alive "
        f"connections; {args.duration:g} s per scenario after {WARMUP_SECONDS:g} s warm-up\n"
        f"backends: {', '.join(backends)}  (the load generator shares the cores with the server)\n"
        f"machine busy before start: {facts['busy_cores_before_start']:.2f} cores"
        + (
            "  WARNING: other load is running; figures will be noisy"
            if facts["busy_cores_before_start"] > 0.2
            else ""
        )
    )
    runs: list[BackendRun] = []
    failed: list[str] = []
    # spawn: a clean interpreter for the load generator, nothing inherited from this process.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(os.getpid).result()  # spawn now, so start-up cost stays out of the first scenario
        for backend in backends:
            try:
                run = run_backend(backend, args, pool)
            except Exception as error:
                # One broken backend (say, PostgreSQL down) should not hide the other's figures.
                print(f"\n== backend: {backend}: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
                failed.append(backend)
                continue
            runs.append(run)
            print_table(run, args.workers)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(facts, runs, failed), indent=2, allow_nan=False, default=str))
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
