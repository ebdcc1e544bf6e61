"""Run engine figures: dispatch latency, run throughput, and status-read throughput vs /healthz.

Run from the repository root:

    .venv/bin/python bench/run_bench.py [--runs 60] [--burst 120] [--concurrency 8]
                                        [--read-seconds 5] [--shapes embedded,workers] [--json PATH]

Two deployment shapes, each a real deployment on loopback (tests.support.stack) with an instant
fake OpenAI-compatible model (tests.support.fake_openai, unscripted: answers at once):

- ``embedded``: one `seecodes serve` on SQLite executing runs in process (the default install);
- ``workers``: `seecodes serve` on PostgreSQL only enqueues; two `seecodes worker` processes execute.

For each shape:

1. latency: ``--runs`` runs started one after another, each after the previous one settled, so no
   run waits behind another. start → in_process and start → succeeded are measured from the moment
   the client sent `start` (wall clock) to the server's own `claimed_at` / `finished_at` stamps (the
   same machine's clock). Goal: start → in_process p50 under 100 ms.
2. throughput: ``--burst`` runs started by ``--concurrency`` clients at once; runs started per
   second (start acknowledged) and runs settled per second. The model's queue admits 4 at a time
   (the models file's `concurrency`), as a real provider's rate limit would.
3. reads: ``GET /v1/tasks/{runId}`` (permit check + one run row + a signed result URL) for
   ``--read-seconds`` from a separate load-generator process, and ``GET /healthz`` the same way, in
   the same run; the ratio of the two is the figure that survives a busy machine.

The client, the fake model, the server, the workers and PostgreSQL share this machine's cores, so
absolute figures are lower bounds; ratios are taken within one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.stack import Stack, StackClient  # noqa: E402

from http_bench import ClientSpec, machine_facts, run_client  # noqa: E402

SHAPES = {
    "embedded": {"backend": "sqlite", "api_processes": 1, "run_workers": 0},
    "workers": {"backend": "postgres", "api_processes": 1, "run_workers": 2},
}
GOAL_DISPATCH_P50_MS = 100.0
READ_CONCURRENCY = 16


@dataclass
class ShapeResult:
    shape: str
    runs: int
    dispatch_p50_ms: float
    dispatch_p95_ms: float
    settle_p50_ms: float
    settle_p95_ms: float
    start_request_p50_ms: float
    burst_runs: int
    burst_started_per_s: float
    burst_settled_per_s: float
    burst_failed: int
    status_get_rps: float
    status_get_p50_ms: float
    healthz_rps: float
    healthz_p50_ms: float
    read_errors: int

    @property
    def status_vs_healthz(self) -> float:
        return self.status_get_rps / self.healthz_rps if self.healthz_rps else math.nan


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def _stamps(stack: Stack, run_ids: list[str]) -> dict[str, tuple[str, float, float]]:
    """run id → (status, claimed_at, finished_at) as epoch seconds, from the server's own stamps."""

    def epoch(value: Any) -> float:
        if value is None:  # not claimed / not settled yet
            return math.nan
        if isinstance(value, str):  # SQLite hands back text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        if value.tzinfo is None:  # stored as UTC
            value = value.replace(tzinfo=UTC)
        return value.timestamp()

    found: dict[str, tuple[str, float, float]] = {}
    for chunk in range(0, len(run_ids), 200):
        ids = run_ids[chunk : chunk + 200]
        marks = ",".join("?" * len(ids))
        for run_id, status, claimed, finished in stack.rows(
            f"SELECT id, status, claimed_at, finished_at FROM runs WHERE id IN ({marks})",  # noqa: S608 - placeholders only
            *ids,
        ):
            found[run_id] = (status, epoch(claimed), epoch(finished))
    return found


def _prepare(client: StackClient, permit: str, count: int) -> list[str]:
    """init + upload, untimed: what is measured starts at `start`."""
    return [client.init_run(permit) for _ in range(count)]


def measure_latency(stack: Stack, client: StackClient, permit: str, runs: int) -> dict[str, float]:
    prepared = _prepare(client, permit, runs)
    sent_at: dict[str, float] = {}
    start_requests: list[float] = []
    for run_id in prepared:
        sent_at[run_id] = time.time()
        began = time.perf_counter()
        client.start(permit, run_id)
        start_requests.append((time.perf_counter() - began) * 1000)
        client.wait_for(permit, run_id, within=60)
    stamps = _stamps(stack, prepared)
    dispatch = [(stamps[run][1] - sent_at[run]) * 1000 for run in prepared]
    settle = [(stamps[run][2] - sent_at[run]) * 1000 for run in prepared]
    failed = [run for run in prepared if stamps[run][0] != "succeeded"]
    if failed:
        raise RuntimeError(f"{len(failed)} latency runs did not succeed, e.g. {failed[0]}")
    return {
        "dispatch_p50_ms": _percentile(dispatch, 0.50),
        "dispatch_p95_ms": _percentile(dispatch, 0.95),
        "settle_p50_ms": _percentile(settle, 0.50),
        "settle_p95_ms": _percentile(settle, 0.95),
        "start_request_p50_ms": statistics.median(start_requests),
    }


def measure_burst(stack: Stack, permit: str, runs: int, concurrency: int) -> dict[str, float]:
    clients = [stack.client() for _ in range(concurrency)]
    try:
        shares = [
            runs // concurrency + (1 if index < runs % concurrency else 0) for index in range(concurrency)
        ]
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            prepared = list(
                pool.map(lambda pair: _prepare(pair[0], permit, pair[1]), zip(clients, shares, strict=True))
            )
            gate = threading.Barrier(concurrency)

            def fire(pair: tuple[StackClient, list[str]]) -> float:
                client, run_ids = pair
                gate.wait()
                for run_id in run_ids:
                    client.start(permit, run_id)
                return time.time()

            began = time.time()
            acknowledged = max(pool.map(fire, zip(clients, prepared, strict=True)))
        everything = [run for share in prepared for run in share]
        deadline = time.monotonic() + 300
        while True:
            stamps = _stamps(stack, everything)
            settled = [stamp for stamp in stamps.values() if stamp[0] in ("succeeded", "failed", "cancelled")]
            if len(settled) == len(everything) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(settled) != len(everything):
            raise RuntimeError(f"{len(everything) - len(settled)} burst runs never settled")
        last_settled = max(stamp[2] for stamp in settled)
        return {
            "burst_runs": len(everything),
            "burst_started_per_s": len(everything) / (acknowledged - began),
            "burst_settled_per_s": len(everything) / (last_settled - began),
            "burst_failed": sum(1 for stamp in settled if stamp[0] != "succeeded"),
        }
    finally:
        for client in clients:
            client.close()


def measure_reads(stack: Stack, permit: str, run_id: str, seconds: float) -> dict[str, float]:
    port = stack.api.port
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        status = pool.submit(
            run_client,
            ClientSpec(
                "permit GET", port, seconds, READ_CONCURRENCY, permit=permit, path=f"/v1/tasks/{run_id}"
            ),
        ).result()
        healthz = pool.submit(run_client, ClientSpec("healthz", port, seconds, READ_CONCURRENCY)).result()
    return {
        "status_get_rps": status.rps,
        "status_get_p50_ms": status.p50_ms,
        "healthz_rps": healthz.rps,
        "healthz_p50_ms": healthz.p50_ms,
        "read_errors": status.errors + healthz.errors,
    }


def run_shape(name: str, model: FakeOpenAI, args: argparse.Namespace) -> ShapeResult:
    shape = SHAPES[name]
    # Enough credit for every run of the bench; the estimate is ~11 credits per run.
    settings = {"SEECODES_LOG_LEVEL": "WARNING"}
    with Stack(model_base_url=model.base_url, settings=settings, **shape) as stack:  # type: ignore[arg-type]
        client = stack.client()
        try:
            permit = client.permit()
            stack.grant(100 * (args.runs + args.burst + 10))
            measure_latency(stack, client, permit, 5)  # warm-up: imports, pools, caches
            latency = measure_latency(stack, client, permit, args.runs)
            burst = measure_burst(stack, permit, args.burst, args.concurrency)
            last = client.start_run(permit)
            client.wait_for(permit, last)
            reads = measure_reads(stack, permit, last, args.read_seconds)
        except Exception:
            print(f"api log ({name}), last lines:\n{stack.tail()}", file=sys.stderr)
            raise
        finally:
            client.close()
    return ShapeResult(shape=name, runs=args.runs, **latency, **burst, **reads)  # type: ignore[arg-type]


def print_table(results: list[ShapeResult]) -> None:
    print()
    print(
        f"{'shape':<9} {'start→in_process p50/p95':>25} {'start→succeeded p50/p95':>24} "
        f"{'start req p50':>13} {'burst started/s':>15} {'settled/s':>9} "
        f"{'GET run req/s':>13} {'healthz req/s':>13} {'ratio':>6}"
    )
    for row in results:
        print(
            f"{row.shape:<9} {row.dispatch_p50_ms:>11.1f} / {row.dispatch_p95_ms:>6.1f} ms "
            f"{row.settle_p50_ms:>10.1f} / {row.settle_p95_ms:>6.1f} ms {row.start_request_p50_ms:>10.1f} ms "
            f"{row.burst_started_per_s:>15.1f} {row.burst_settled_per_s:>9.1f} "
            f"{row.status_get_rps:>13.0f} {row.healthz_rps:>13.0f} {row.status_vs_healthz:>5.2f}×"
        )
    print()
    for row in results:
        verdict = "met" if row.dispatch_p50_ms < GOAL_DISPATCH_P50_MS else "MISSED"
        print(
            f"goal {row.shape}: start → in_process p50 {row.dispatch_p50_ms:.1f} ms "
            f"< {GOAL_DISPATCH_P50_MS:.0f} ms: {verdict}; burst failures {row.burst_failed}; "
            f"read errors {row.read_errors}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60, help="sequential runs for the latency figures")
    parser.add_argument("--burst", type=int, default=120, help="runs started at once for throughput")
    parser.add_argument("--concurrency", type=int, default=8, help="clients starting the burst")
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument("--shapes", default="embedded,workers")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    shapes = [name.strip() for name in args.shapes.split(",") if name.strip()]
    facts = machine_facts(
        argparse.Namespace(workers=1, duration=args.read_seconds, concurrency=READ_CONCURRENCY)
    )
    print(json.dumps(facts))
    results: list[ShapeResult] = []
    with FakeOpenAI() as model:
        for name in shapes:
            print(f"-- {name}: {SHAPES[name]}", flush=True)
            results.append(run_shape(name, model, args))
    print_table(results)
    if args.json:
        rows = [{**asdict(row), "status_vs_healthz": row.status_vs_healthz} for row in results]
        args.json.write_text(json.dumps({"machine": facts, "runs": rows}, indent=2))
    missed = [row for row in results if row.dispatch_p50_ms >= GOAL_DISPATCH_P50_MS or row.burst_failed]
    return 1 if missed or any(row.read_errors for row in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
