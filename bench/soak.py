"""Soak: a bounded mixed load on a multi-process deployment on PostgreSQL, then every write read back.

Run from the repository root:

    .venv/bin/python bench/soak.py [--duration 600] [--users 6] [--think-ms 10] [--json PATH]

The deployment is `tests.support.stack.Stack` on loopback: a scratch PostgreSQL database on the
shared server, `seecodes serve --workers 2`, two `seecodes worker` processes, and the fake
OpenAI-compatible model (`tests.support.fake_openai`), whose unscripted answers are instant.
`--users` virtual users (closed loop, `--think-ms` pause between actions, one task and task permit
each, their own Jira App request-key chain) pick from this mix over raw keep-alive HTTP/1.1
connections (`http_bench.Connection`, reopened every 25 requests: the kernel gives a connection to
whichever API process accepts first, and a few long-lived ones can all land on one process):

    chain            GET /v1/instances/me with the Jira App rotation (bootstraps counted apart)
    progress write   POST /v1/tasks/{taskId}/progress (a unique marker in `logs`)
    progress read    GET  /v1/tasks/{taskId}/progress; must show the user's last acknowledged write
    snapshot         POST /v1/tasks/activity-snapshot (a new window each time)
    index upsert     POST /v1/projects/AUTH/indexes/upsert (three new paths)
    index query      POST /v1/projects/AUTH/indexes/query; every path the user wrote must match
    run              POST /v1/tasks/init, PUT the upload, POST /v1/tasks/{runId}/start
    run status       GET  /v1/tasks/{runId} of one of the user's runs
    run follow       GET  /v1/tasks/{runId}/events of one of the user's runs (server-sent events,
                     as the IDE follows a run), read until its `end` event

Every acknowledged (2xx) write is journaled. When the load stops, the runs are waited for and the
writes read back: progress versions from SQL (the API returns only the newest, which is checked
through the API too), snapshots from SQL, index entries through the query route, runs through the
run list (each must be `succeeded`).

Goals, each failing the run (exit status 1): no error (non-2xx or transport failure, by status and
code), no stale read, every acknowledged write found, every run succeeded, RSS growth < 10 % per
process. RSS is sampled for every API worker and run worker once the warm-up is over (10 % of the
duration, 10–60 s: every kind of request has then run many times, so import-time and first-use
allocations — pools, compiled statements, caches — are behind us) and again when the load stops,
next to the CPU seconds each process used (a process that served nothing shows as such).

The RSS decision: on runs shorter than 300 s the growth is reported but does not fail the run
(`--rss-gate` forces it). Measured here: on a 20 s run a run worker that had executed nothing before
the warm-up ended grew 34 % when its first runs loaded the provider code; on 60 s runs the warmed
processes grew 0.3–2.9 % (a few MiB of ~245), still filling caches. A 60 s window cannot tell that
from a leak, so CI runs `--duration 60` for errors and lost writes, and the default 600 s run is the
one that judges memory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from bench.http_bench import (  # noqa: E402
    _TRANSPORT_ERRORS,
    Connection,
    _cpu_seconds,
    _host_busy_seconds,
    _percentile,
    machine_facts,
)
from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.forge import INSTALLATION_A, NEXT_KEY_HEADER, REQUEST_KEY_HEADER  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

PROJECT = "AUTH"
REQUEST_TIMEOUT = 10.0
RECONNECT_EVERY = 25
RSS_GOAL = 0.10
RSS_GATE_MIN_DURATION = 300.0
RUN_SETTLE_SECONDS = 120.0
SNAPSHOT_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
MIX: dict[str, float] = {
    "chain": 3,
    "progress write": 3,
    "progress read": 3,
    "snapshot": 2,
    "index upsert": 1,
    "index query": 2,
    "run": 0.5,
    "run status": 1,
    "run follow": 0.5,
}
# Request kinds as reported (an action may send several requests).
KINDS = (
    "request-key bootstrap",
    "chain",
    "progress write",
    "progress read",
    "snapshot",
    "index upsert",
    "index query",
    "run init",
    "run upload",
    "run start",
    "run status",
    "run follow",
)


# -- one request, recorded -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # time.perf_counter()
    elapsed: float
    status: int  # 0: no HTTP answer (timeout, connection error)
    error: str  # "" for 2xx, else "HTTP 503 service_unavailable", "TimeoutError", ...
    enveloped: bool = True  # a non-2xx body is {"ok": false, "error": str, "detail": str}
    retry_after: bool = False


@dataclass
class Journal:
    """Every request, every acknowledged write, and every read that contradicted one."""

    samples: list[Sample] = field(default_factory=list)
    progress_acked: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    snapshots: dict[tuple[str, str], int] = field(default_factory=dict)  # (task, window start) → units
    index: dict[str, str] = field(default_factory=dict)  # path → hash
    runs: dict[str, str] = field(default_factory=dict)  # run id → task
    stale_reads: list[str] = field(default_factory=list)


def envelope_of(body: bytes) -> tuple[str | None, bool]:
    """(error code, whether the body is the error envelope)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return None, False
    if not isinstance(decoded, dict):
        return None, False
    code = decoded.get("error")
    ok = decoded.get("ok") is False and isinstance(code, str) and isinstance(decoded.get("detail"), str)
    return (code if isinstance(code, str) else None), ok


def _raw(method: str, target: str, port: int, body: bytes | None = None, headers: str = "") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}"
    if body is None:
        return (head + "\r\n").encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class User:
    """One IDE + Jira App pair: a task, its permit, a FIT for its own request-key chain."""

    index: int
    task: str
    permit: str
    fit: str
    port: int
    journal: Journal
    timeout: float = REQUEST_TIMEOUT
    conn: Connection = field(init=False)
    request_key: str | None = None
    progress_seq: int = 0
    snapshot_seq: int = 0
    index_seq: int = 0
    index_paths: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    sent: int = 0
    follower: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        self.conn = Connection(self.port)

    @property
    def auth(self) -> str:
        return f"Authorization: Bearer {self.permit}\r\n"

    async def send(
        self,
        kind: str,
        method: str,
        target: str,
        payload: Any = None,
        headers: str = "",
        raw: bytes | None = None,
    ) -> tuple[int, dict[bytes, bytes], bytes] | None:
        """One request; None when no HTTP answer came (recorded either way)."""
        body = raw if raw is not None else (None if payload is None else json.dumps(payload).encode())
        request = _raw(method, target, self.port, body, headers)
        self.sent += 1
        if self.sent % RECONNECT_EVERY == 0:
            # The kernel hands a new connection to whichever API process accepts first, so a few
            # long-lived connections can all end up on one; reconnecting spreads them over time.
            self.conn.close()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                status, reply_headers, reply = await self.conn.request(request)
        except (TimeoutError, *_TRANSPORT_ERRORS) as error:
            self.conn.close()  # the stream is in an unknown state; the next request opens a fresh one
            self.journal.samples.append(
                Sample(kind, started, time.perf_counter() - started, 0, type(error).__name__, False)
            )
            await asyncio.sleep(0.05)  # a refused connect must not spin
            return None
        elapsed = time.perf_counter() - started
        if 200 <= status < 300:
            self.journal.samples.append(Sample(kind, started, elapsed, status, ""))
        else:
            code, enveloped = envelope_of(reply)
            error = f"HTTP {status} {code}" if code else f"HTTP {status}"
            retry_after = b"retry-after" in reply_headers
            self.journal.samples.append(Sample(kind, started, elapsed, status, error, enveloped, retry_after))
        return status, reply_headers, reply

    async def close(self) -> None:
        self.conn.close()
        if self.follower is not None:
            await self.follower.aclose()

    # -- the Jira App ----------------------------------------------------------------------
    async def chain(self) -> None:
        fit = f"Authorization: Bearer {self.fit}\r\n"
        if self.request_key is None:
            reply = await self.send("request-key bootstrap", "POST", "/v1/jira/request-key", {}, fit)
            if reply is None or reply[0] != 200:
                return
            self.request_key = json.loads(reply[2])["requestKey"]
        headers = f"{fit}{REQUEST_KEY_HEADER}: {self.request_key}\r\n"
        reply = await self.send("chain", "GET", "/v1/instances/me", headers=headers)
        if reply is None:
            self.request_key = None  # whether the key was spent is unknown: a new chain is safe
            return
        status, reply_headers, _ = reply
        successor = reply_headers.get(NEXT_KEY_HEADER.lower().encode())
        if successor:
            self.request_key = successor.decode()
        elif status == 403:
            self.request_key = None  # refused (replayed, expired, ...): bootstrap again
        # Otherwise (a 503 before the key check committed) the key was not spent: use it again.

    # -- the IDE ---------------------------------------------------------------------------
    async def progress_write(self) -> None:
        self.progress_seq += 1
        seq = self.progress_seq
        document = {
            "ready": [f"step {seq}"],
            "left": ["the rest"],
            "progress": f"{seq % 101}%",
            "confidence": ("Low", "Medium", "High")[seq % 3],
            "risks": [],
            "logs": [marker(self.task, seq)],
        }
        reply = await self.send(
            "progress write", "POST", f"/v1/tasks/{self.task}/progress", document, self.auth
        )
        if reply is not None and 200 <= reply[0] < 300:
            self.journal.progress_acked[self.task].append(seq)

    async def progress_read(self) -> None:
        acked = self.journal.progress_acked[self.task]
        floor = acked[-1] if acked else 0  # acknowledged before this read started
        target = f"/v1/tasks/{self.task}/progress?projectId={PROJECT}"
        reply = await self.send("progress read", "GET", target, headers=self.auth)
        if reply is None or reply[0] != 200:
            return
        stored = json.loads(reply[2])["progress"]
        seen = seq_of(stored["logs"][0]) if stored else 0
        if seen < floor:
            self.journal.stale_reads.append(f"{self.task}: read #{seen} after #{floor} was acknowledged")

    async def snapshot(self) -> None:
        n = self.snapshot_seq
        self.snapshot_seq += 1
        start = SNAPSHOT_EPOCH + timedelta(days=40 * self.index, minutes=2 * n)
        body = {
            "windowStartedAt": iso(start),
            "windowEndedAt": iso(start + timedelta(minutes=1)),
            "humanActiveMs": 30_000 + (n % 30) * 1000,
            "locAdded": n % 50,
            "locRemoved": n % 7,
            "changedFiles": [f"src/file{n % 5}.ts"],
            "logicChange": n % 2 == 0,
        }
        reply = await self.send("snapshot", "POST", "/v1/tasks/activity-snapshot", body, self.auth)
        if reply is not None and reply[0] == 200:
            self.journal.snapshots[(self.task, iso(start))] = int(json.loads(reply[2])["effortUnits"])

    async def index_upsert(self) -> None:
        self.index_seq += 1
        entries = {}
        for k in range(3):
            path = f"soak/u{self.index}/{self.index_seq}-{k}.ts"
            entries[path] = {"hash": file_hash(path), "short": f"soak file {path}", "exports": ["main"]}
        target = f"/v1/projects/{PROJECT}/indexes/upsert"
        reply = await self.send("index upsert", "POST", target, {"entries": entries}, self.auth)
        if reply is not None and reply[0] == 200:
            self.index_paths.extend(entries)
            self.journal.index.update({path: entry["hash"] for path, entry in entries.items()})

    async def index_query(self, rng: random.Random) -> None:
        paths = rng.sample(self.index_paths, min(20, len(self.index_paths)))
        items = [{"path": path, "hash": file_hash(path)} for path in paths]
        items.append({"path": f"soak/u{self.index}/never.ts", "hash": "0" * 64})
        target = f"/v1/projects/{PROJECT}/indexes/query"
        reply = await self.send("index query", "POST", target, {"items": items}, self.auth)
        if reply is None or reply[0] != 200:
            return
        matches = json.loads(reply[2])["matches"]
        for path in paths:
            match = matches.get(path) or {}
            if not (match.get("pathMatched") and (match.get("entry") or {}).get("hash") == file_hash(path)):
                self.journal.stale_reads.append(f"index {path}: {match or 'absent'}")

    async def run(self) -> None:
        reply = await self.send("run init", "POST", "/v1/tasks/init", {"files": ["list.md"]}, self.auth)
        if reply is None or reply[0] != 200:
            return
        created = json.loads(reply[2])
        upload = urlsplit(created["uploads"]["list.md"])
        content = f"- [ ] soak item {self.index}\n".encode()
        put = await self.send(
            "run upload",
            "PUT",
            f"{upload.path}?{upload.query}",
            raw=content,
        )
        if put is None or not 200 <= put[0] < 300:
            return
        target = f"/v1/tasks/{created['runId']}/start"
        started = await self.send("run start", "POST", target, {"userPrompt": "tick the item"}, self.auth)
        if started is not None and started[0] == 200:
            self.run_ids.append(created["runId"])
            self.journal.runs[created["runId"]] = self.task

    async def run_status(self, rng: random.Random) -> None:
        if self.run_ids:
            await self.send("run status", "GET", f"/v1/tasks/{rng.choice(self.run_ids)}", headers=self.auth)

    async def run_follow(self, rng: random.Random) -> None:
        """The run's event stream on a connection of its own, as the IDE follows a run, until the
        stream's `end` event: one sample, its time the whole stream's."""
        if not self.run_ids:
            return
        if self.follower is None:
            self.follower = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=self.timeout)
        target = f"/v1/tasks/{rng.choice(self.run_ids)}/events"
        started = time.perf_counter()
        status, error, enveloped = 0, "", True
        try:
            async with asyncio.timeout(self.timeout):
                headers = {"Authorization": f"Bearer {self.permit}"}
                async with self.follower.stream("GET", target, headers=headers) as response:
                    status = response.status_code
                    if status == 200:
                        ended = False
                        async for line in response.aiter_lines():
                            if line == "event: end":
                                ended = True
                                break
                        error = "" if ended else "stream closed before its end event"
                    else:
                        code, enveloped = envelope_of(await response.aread())
                        error = f"HTTP {status} {code}" if code else f"HTTP {status}"
        except (TimeoutError, httpx.HTTPError) as failure:
            error = type(failure).__name__
        sample = Sample("run follow", started, time.perf_counter() - started, status, error, enveloped)
        self.journal.samples.append(sample)


def marker(task: str, seq: int) -> str:
    return f"soak {task} #{seq}"


def seq_of(text: str) -> int:
    return int(text.rsplit("#", 1)[1])


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def file_hash(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


async def drive(users: list[User], until: float, mix: dict[str, float], think: float, seed: int) -> None:
    """Closed loop: each user picks an action, waits for it, pauses `think` seconds, until `until`."""

    async def loop(user: User) -> None:
        rng = random.Random(seed * 1000 + user.index)
        kinds, weights = list(mix), list(mix.values())
        actions = {
            "chain": user.chain,
            "progress write": user.progress_write,
            "progress read": user.progress_read,
            "snapshot": user.snapshot,
            "index upsert": user.index_upsert,
            "index query": lambda: user.index_query(rng),
            "run": user.run,
            "run status": lambda: user.run_status(rng),
            "run follow": lambda: user.run_follow(rng),
        }
        try:
            while time.perf_counter() < until:
                await actions[rng.choices(kinds, weights)[0]]()
                if think:
                    await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        finally:
            await user.close()

    await asyncio.gather(*(loop(user) for user in users))


# -- the deployment --------------------------------------------------------------------------


def make_users(
    stack: Stack, count: int, journal: Journal, fit_lifetime: int, first_task: int = 100
) -> list[User]:
    """A task, a permit and a FIT per user; the permit comes through each user's own Jira App chain."""
    users = []
    port = int(urlsplit(stack.base_url).port or 80)
    for index in range(count):
        principal = f"557058:soak-{index:03d}"
        client = stack.client(principal=principal)
        try:
            task = f"{PROJECT}-{first_task + index}"
            permit = client.permit(project=PROJECT, task=task)
        finally:
            client.close()
        fit = stack.forge.fit(principal=principal, lifetime=fit_lifetime)
        users.append(User(index, task, permit, fit, port, journal))
    return users


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def processes(stack: Stack) -> dict[str, int]:
    """Label → pid of every process that serves or executes: API workers, run workers."""
    # multiprocessing's resource tracker is a child of the server too, but serves nothing.
    serving = [pid for pid in sorted(stack.api.worker_pids()) if b"resource_tracker" not in _cmdline(pid)]
    found = {f"api worker {n + 1}": pid for n, pid in enumerate(serving)}
    found.update({f"run {worker.worker_id}": worker.pid for worker in stack.workers if worker.alive()})
    return found


# -- reading every write back ----------------------------------------------------------------


def progress_found(stack: Stack, journal: Journal, users: list[User]) -> tuple[int, list[str]]:
    """Acknowledged progress versions present in the database; the newest through the API too."""
    stored = {
        str(row[0])
        for row in stack.rows(
            "SELECT logs->>0 FROM progress_reports WHERE installation_id = ?", INSTALLATION_A
        )
    }
    missing = [
        marker(task, seq)
        for task, seqs in journal.progress_acked.items()
        for seq in seqs
        if marker(task, seq) not in stored
    ]
    found = sum(len(seqs) for seqs in journal.progress_acked.values()) - len(missing)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for user in users:
            acked = journal.progress_acked.get(user.task)
            if not acked:
                continue
            reply = http.get(
                f"/v1/tasks/{user.task}/progress",
                params={"projectId": PROJECT},
                headers={"Authorization": f"Bearer {user.permit}"},
            )
            if reply.status_code != 200:
                missing.append(f"GET {user.task}/progress answered {reply.status_code}: {reply.text[:200]}")
                continue
            progress = reply.json()["progress"]
            newest = seq_of(progress["logs"][0]) if progress else 0
            # A write answered with an error may still have committed; it can only be newer.
            if newest < acked[-1]:
                missing.append(f"GET {user.task}/progress shows #{newest}, #{acked[-1]} was acknowledged")
    return found, missing


def snapshots_found(stack: Stack, journal: Journal) -> tuple[int, list[str]]:
    rows = stack.rows(
        "SELECT task_id, window_started_at, effort_units FROM activity_snapshots WHERE installation_id = ?",
        INSTALLATION_A,
    )
    stored = {(str(task), iso(_utc(start))): int(units) for task, start, units in rows}
    missing = [
        f"snapshot {task} {start}: acknowledged {units} units, stored {stored.get((task, start))}"
        for (task, start), units in journal.snapshots.items()
        if stored.get((task, start)) != units
    ]
    return len(journal.snapshots) - len(missing), missing


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def index_found(stack: Stack, journal: Journal, permit: str) -> tuple[int, list[str]]:
    paths = sorted(journal.index)
    missing: list[str] = []
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        for start in range(0, len(paths), 5000):
            batch = paths[start : start + 5000]
            reply = http.post(
                f"/v1/projects/{PROJECT}/indexes/query",
                json={"items": [{"path": path, "hash": journal.index[path]} for path in batch]},
                headers={"Authorization": f"Bearer {permit}"},
            )
            reply.raise_for_status()
            matches = reply.json()["matches"]
            for path in batch:
                entry = (matches.get(path) or {}).get("entry") or {}
                if entry.get("hash") != journal.index[path] or entry.get("short") != f"soak file {path}":
                    missing.append(f"index {path}")
    return len(paths) - len(missing), missing


def run_statuses(stack: Stack, users: list[User]) -> dict[str, str]:
    """run id → status of every run of the users' tasks, through the paged run list."""
    statuses: dict[str, str] = {}
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for user in users:
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
                reply = http.get(
                    "/v1/tasks/runs", params=params, headers={"Authorization": f"Bearer {user.permit}"}
                )
                reply.raise_for_status()
                page = reply.json()
                statuses.update({item["runId"]: item["status"] for item in page["items"]})
                cursor = page.get("nextCursor")
                if not cursor:
                    break
    return statuses


def runs_settled(
    stack: Stack, journal: Journal, users: list[User], within: float
) -> tuple[int, list[str], float]:
    """(succeeded, problems, seconds waited) for the started runs, once all settled or time is up."""
    waited_from = time.monotonic()
    while True:
        statuses = run_statuses(stack, users)
        pending = [
            run for run in journal.runs if statuses.get(run) not in ("succeeded", "failed", "cancelled")
        ]
        if not pending or time.monotonic() - waited_from > within:
            break
        time.sleep(0.5)
    problems = [
        f"run {run}: {statuses.get(run, 'absent')}"
        for run in journal.runs
        if statuses.get(run) != "succeeded"
    ]
    return len(journal.runs) - len(problems), problems, time.monotonic() - waited_from


# -- the report ------------------------------------------------------------------------------


def kind_table(samples: list[Sample]) -> list[dict[str, Any]]:
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    rows = []
    for kind in [k for k in KINDS if k in by_kind] + sorted(set(by_kind) - set(KINDS)):
        group = by_kind[kind]
        latencies = sorted(s.elapsed for s in group if not s.error)
        rows.append(
            {
                "kind": kind,
                "requests": len(group),
                "errors": sum(1 for s in group if s.error),
                "p50_ms": _ms(_percentile(latencies, 0.50)),
                "p99_ms": _ms(_percentile(latencies, 0.99)),
                "max_ms": _ms(max(latencies)) if latencies else None,
            }
        )
    return rows


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 2)


def soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the whole soak and return its figures (`passed` says whether every goal was met)."""
    duration = float(args.duration)
    warmup = min(max(10.0, duration * 0.1), 60.0)
    rss_gated = args.rss_gate or duration >= RSS_GATE_MIN_DURATION
    journal = Journal()
    facts = machine_facts(argparse.Namespace(workers=2, concurrency=args.users, duration=duration))
    facts.pop("warmup_s", None)
    busy = _host_busy_seconds()
    time.sleep(1.0)
    facts["busy_cores_before_start"] = round(_host_busy_seconds() - busy, 2)
    with FakeOpenAI() as model:
        stack = Stack(
            backend="postgres",
            model_base_url=model.base_url,
            api_processes=2,
            run_workers=2,
            # Every acknowledged progress version is read back at the end, so none may be pruned
            # (the retention of progress versions is a setting, tested on its own).
            settings={"SEECODES_LOG_LEVEL": "WARNING", "SEECODES_MAX_PROGRESS_VERSIONS": "100000"},
        )
        with stack:
            users = make_users(stack, args.users, journal, fit_lifetime=int(duration) + 900)
            stack.grant(10_000_000)  # the installation exists once the first permit was minted
            pids = processes(stack)
            rss_cold = {label: rss_bytes(pid) for label, pid in pids.items()}
            started = time.perf_counter()
            until = started + duration

            async def load_and_sample() -> dict[str, int | None]:
                load = asyncio.create_task(drive(users, until, MIX, args.think_ms / 1000, args.seed))
                await asyncio.sleep(warmup)
                warm = {label: rss_bytes(pid) for label, pid in pids.items()}
                await load
                return warm

            rss_warm = asyncio.run(load_and_sample())
            elapsed = time.perf_counter() - started
            rss_end = {label: rss_bytes(pid) for label, pid in pids.items()}
            cpu = {label: _cpu_seconds([pid]) for label, pid in pids.items()}
            log_lines = (
                stack.api.log_path.read_text(errors="replace").splitlines() if stack.api.log_path else []
            )
            runs_ok, run_problems, settle_wait = runs_settled(stack, journal, users, RUN_SETTLE_SECONDS)
            progress_ok, progress_missing = progress_found(stack, journal, users)
            snapshots_ok, snapshots_missing = snapshots_found(stack, journal)
            index_ok, index_missing = index_found(stack, journal, users[0].permit)
            restarted = sorted(set(pids.items()) ^ set(processes(stack).items()))

    errors = Counter(f"{s.kind}: {s.error}" for s in journal.samples if s.error)
    rss = []
    for label in pids:
        warm, end = rss_warm.get(label), rss_end.get(label)
        growth = (end - warm) / warm if warm and end else None
        rss.append(
            {
                "process": label,
                "cold_mib": _mib(rss_cold.get(label)),
                "warm_mib": _mib(warm),
                "end_mib": _mib(end),
                "growth": None if growth is None else round(growth, 4),
                "cpu_s": round(cpu[label], 1),
            }
        )
    writes = {
        "progress": {
            "acknowledged": sum(len(v) for v in journal.progress_acked.values()),
            "found": progress_ok,
        },
        "snapshots": {"acknowledged": len(journal.snapshots), "found": snapshots_ok},
        "index entries": {"acknowledged": len(journal.index), "found": index_ok},
        "runs": {"acknowledged": len(journal.runs), "found": runs_ok},
    }
    lost = progress_missing + snapshots_missing + index_missing + run_problems
    worst_rss = max((row["growth"] for row in rss if row["growth"] is not None), default=None)
    failures = []
    if errors:
        failures.append(f"{sum(errors.values())} errors")
    if journal.stale_reads:
        failures.append(f"{len(journal.stale_reads)} stale reads")
    if lost:
        failures.append(f"{len(lost)} writes not found or runs not succeeded")
    if restarted:
        failures.append(f"processes changed during the soak: {restarted}")
    rss_missed = worst_rss is None or worst_rss >= RSS_GOAL
    if rss_missed and rss_gated:
        failures.append(f"RSS growth {worst_rss}")
    return {
        "machine": facts,
        "settings": {
            "duration_s": duration,
            "users": args.users,
            "think_ms": args.think_ms,
            "seed": args.seed,
            "warmup_s": warmup,
            "rss_gated": rss_gated,
            "mix": MIX,
        },
        "elapsed_s": round(elapsed, 1),
        "requests": len(journal.samples),
        "rps": round(len(journal.samples) / elapsed, 1),
        "kinds": kind_table(journal.samples),
        "errors": dict(errors),
        "stale_reads": journal.stale_reads[:50],
        "rss": rss,
        "worst_rss_growth": worst_rss,
        "writes": writes,
        "lost": lost[:50],
        "run_settle_wait_s": round(settle_wait, 1),
        "server_log_lines": len(log_lines),
        "server_log_head": log_lines[:10],
        "failures": failures,
        "passed": not failures,
    }


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def print_report(report: dict[str, Any]) -> None:
    facts, settings = report["machine"], report["settings"]
    print(
        f"cores: {facts['cores']} {facts['cpu_model']}; python {facts['python']}; machine busy before start: "
        f"{facts['busy_cores_before_start']:.2f} cores\n"
        f"stack: PostgreSQL, 2 API processes, 2 run workers, instant fake model; {settings['users']} users, "
        f"think {settings['think_ms']} ms, {report['elapsed_s']} s ({report['rps']} req/s)"
    )
    print(f"\n{'kind':<22}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for row in report["kinds"]:
        print(
            f"{row['kind']:<22}{row['requests']:>10}{row['errors']:>8}"
            + "".join(
                f"{'-' if row[k] is None else format(row[k], '.1f'):>10}"
                for k in ("p50_ms", "p99_ms", "max_ms")
            )
        )
    for kind, count in sorted(report["errors"].items()):
        print(f"  error {kind}: {count}")
    for line in report["stale_reads"][:5]:
        print(f"  stale read: {line}")
    gate = (
        "fails the run"
        if settings["rss_gated"]
        else f"reported only (runs under {RSS_GATE_MIN_DURATION:g} s)"
    )
    print(f"\nRSS (warm = after the {settings['warmup_s']:g} s warm-up; goal growth < 10 %, {gate})")
    print(f"{'process':<22}{'cold MiB':>10}{'warm MiB':>10}{'end MiB':>10}{'growth':>9}{'CPU s':>8}")
    for row in report["rss"]:
        growth = "-" if row["growth"] is None else f"{row['growth'] * 100:+.1f}%"
        print(
            f"{row['process']:<22}{row['cold_mib'] or '-':>10}{row['warm_mib'] or '-':>10}{row['end_mib'] or '-':>10}{growth:>9}{row['cpu_s']:>8}"
        )
    print(f"\n{'writes':<22}{'acknowledged':>14}{'found':>8}")
    for name, row in report["writes"].items():
        print(f"{name:<22}{row['acknowledged']:>14}{row['found']:>8}")
    print(f"  runs settled within {report['run_settle_wait_s']} s of the load's end (runs found = succeeded)")
    for line in report["lost"][:5]:
        print(f"  lost: {line}")
    print(f"server log: {report['server_log_lines']} line(s) at WARNING or above")
    for line in report["server_log_head"][:5]:
        print(f"  {line[:200]}")


def summary_line(report: dict[str, Any]) -> str:
    writes = report["writes"]
    acked = sum(row["acknowledged"] for row in writes.values())
    found = sum(row["found"] for row in writes.values())
    worst = report["worst_rss_growth"]
    rss = "-" if worst is None else f"{worst * 100:+.1f}%"
    verdict = "PASS" if report["passed"] else "FAIL (" + "; ".join(report["failures"]) + ")"
    return (
        f"soak: {report['elapsed_s']:g} s, {report['requests']} requests, {sum(report['errors'].values())} errors, "
        f"{len(report['stale_reads'])} stale reads, writes {found}/{acked} found, worst RSS growth {rss}"
        f"{'' if report['settings']['rss_gated'] else ' (not gated)'} {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (CI: 60)")
    parser.add_argument("--users", type=int, default=6, help="virtual users (closed loop)")
    parser.add_argument("--think-ms", type=float, default=10.0, help="pause between a user's actions")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rss-gate", action="store_true", help="fail on RSS growth even on a short run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = soak(args)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    print(summary_line(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
