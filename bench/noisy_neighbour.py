"""Noisy neighbour: one installation's backlog must not delay another installation's run.

Run from the repository root:

    .venv/bin/python bench/noisy_neighbour.py [--backlog 300] [--probes 5] [--backend postgres]

A deployment on loopback (tests.support.stack; PostgreSQL with one worker, or the embedded SQLite
server) whose one model has concurrency 4 and a fake provider that answers at once. Installation B
first starts `--probes` runs one after another with A idle: the reference figure. Then installation
A starts `--backlog` runs from 8 threads, and once they are queued B starts `--probes` runs again,
one after another, while A's backlog drains. Printed per round: B's start → in_process and
start → succeeded (median and max), A's backlog when B started, and how long one of A's runs held a
slot (A's runs ÷ the time they took × 4).

The goal: B waits at most about one of A's runs per free slot, not A's backlog. Exits non-zero
when B's longest wait under load exceeds the longest idle wait plus `--max-wait-runs` (default 2)
of A's run times per slot.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI, Reply  # noqa: E402
from tests.support.forge import CLOUD_A, INSTALLATION_A, INSTALLATION_B  # noqa: E402
from tests.support.stack import Stack, StackClient  # noqa: E402

CLOUD_B = "0a3a7799-0000-4000-8000-0000000000bb"
SITE_B = "https://neighbour-b.atlassian.net"
STARTERS = 8


def probe(client: StackClient, permit: str) -> tuple[float, float]:
    """One run of B: seconds from its start to in_process, and to succeeded."""
    run_id = client.init_run(permit)
    started = time.monotonic()
    client.start(permit, run_id)
    claimed: float | None = None
    while True:
        status = client.status(permit, run_id)["status"]
        now = time.monotonic()
        if claimed is None and status != "queued":
            claimed = now
        if status in ("succeeded", "failed", "cancelled"):
            if status != "succeeded":
                raise RuntimeError(f"B's run ended {status}")
            return (claimed or now) - started, now - started
        time.sleep(0.01)


def probes(client: StackClient, permit: str, count: int) -> list[tuple[float, float]]:
    return [probe(client, permit) for _ in range(count)]


def start_backlog(stack: Stack, count: int) -> tuple[list[str], Callable[[], int]]:
    """A starts `count` runs from several threads; returns the run ids and a backlog counter."""
    local = threading.local()
    clients: list[StackClient] = []
    lock = threading.Lock()

    def one(_index: int) -> str:
        if not hasattr(local, "client"):
            client = stack.client()
            local.client, local.permit = client, client.permit()
            with lock:
                clients.append(client)
        return local.client.start_run(local.permit)

    with ThreadPoolExecutor(STARTERS) as pool:
        run_ids = list(pool.map(one, range(count)))
    for client in clients:
        client.close()

    def queued() -> int:
        rows = stack.rows(
            "SELECT count(*) FROM runs WHERE installation_id = ? AND status IN ('queued', 'in_process', "
            "'processing_remote')",
            INSTALLATION_A,
        )
        return int(rows[0][0])

    return run_ids, queued


def summary(label: str, figures: list[tuple[float, float]]) -> str:
    waits = [wait for wait, _ in figures]
    totals = [total for _, total in figures]
    return (
        f"{label}: start → in_process median {statistics.median(waits) * 1000:.0f} ms, max "
        f"{max(waits) * 1000:.0f} ms; start → succeeded median {statistics.median(totals) * 1000:.0f} ms, "
        f"max {max(totals) * 1000:.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--max-wait-runs", type=float, default=2.0)
    args = parser.parse_args()
    with (
        FakeOpenAI() as model,
        Stack(
            backend=args.backend,
            model_base_url=model.base_url,
            run_workers=1 if args.backend == "postgres" else 0,
        ) as stack,
    ):
        model.script("fake-light", Reply("## Done\n- instant"))
        b = stack.client(installation=INSTALLATION_B, cloud_id=CLOUD_B, site_url=SITE_B)
        a = stack.client(installation=INSTALLATION_A, cloud_id=CLOUD_A)
        b_permit = b.permit()
        a.permit()
        stack.grant(50 * (args.backlog + 10), INSTALLATION_A)
        stack.grant(50 * (args.probes * 2 + 10), INSTALLATION_B)
        idle = probes(b, b_permit, args.probes)
        print(summary("B with A idle", idle), flush=True)

        began = time.monotonic()
        run_ids, queued = start_backlog(stack, args.backlog)
        backlog = queued()
        loaded = probes(b, b_permit, args.probes)
        print(summary(f"B behind A's backlog of {backlog} unfinished", loaded), flush=True)
        while queued() > 0:
            time.sleep(0.1)
        drained = time.monotonic() - began
        stuck = stack.rows(
            "SELECT count(*) FROM runs WHERE installation_id = ? AND status <> 'succeeded'", INSTALLATION_A
        )[0][0]
        # Approximate: A's runs shared 4 slots (with B's few) for the whole drain.
        a_run = drained * 4 / len(run_ids)
        print(
            f"A: {len(run_ids)} runs in {drained:.1f} s, about {a_run * 1000:.0f} ms per run per slot",
            flush=True,
        )
        a.close()
        b.close()
    limit = max(w for w, _ in idle) + args.max_wait_runs * a_run
    wait = max(w for w, _ in loaded)
    verdict = "PASS" if wait <= limit else "FAIL"
    print(
        f"noisy neighbour: {verdict}; B's longest wait behind A's backlog {wait * 1000:.0f} ms "
        f"(limit {limit * 1000:.0f} ms = longest idle wait + {args.max_wait_runs:g} × A's run per slot); "
        f"{stuck} of A's runs not succeeded at the end"
    )
    return 0 if verdict == "PASS" and not stuck else 1


if __name__ == "__main__":
    raise SystemExit(main())
