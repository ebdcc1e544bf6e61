"""Webhook delivery figures: latency after the event, and deliveries per second, against a direct
sender posting the same signed requests to the same receiver.

Run from the repository root:

    .venv/bin/python bench/webhook_bench.py [--events 100] [--burst 500] [--concurrency 8]
                                            [--shapes embedded,workers] [--short]

Each shape is a real deployment on loopback (tests.support.stack): ``embedded`` is one `seecodes
serve` on SQLite that executes its own workflows; ``workers`` is `seecodes serve` on PostgreSQL
that only enqueues, and one `seecodes worker` that delivers. The receiver is an HTTP server in this
process (tests.support.webhook_receiver) that answers 200 at once.

1. latency: ``--events`` progress reports posted one after another, each after the previous one's
   delivery arrived, so none waits behind another: from the moment the POST was answered (the
   event is committed by then) until the receiver had the signed request.
2. throughput: ``--burst`` progress reports posted by ``--concurrency`` clients at once: deliveries
   per second from the first POST until the last delivery arrived.
3. reference: the same number of requests, signed with the `standardwebhooks` library, posted by
   this process straight to the receiver with ``--concurrency`` at once: what the receiver and the
   loopback can take. The ratio of (2) to it is the figure that survives a busy machine.

The receiver, the clients, the server, the worker and PostgreSQL share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.stack import Stack  # noqa: E402
from tests.support.webhook_receiver import Receiver, verify  # noqa: E402

SHAPES = {
    "embedded": {"backend": "sqlite", "run_workers": 0},
    "workers": {"backend": "postgres", "run_workers": 1},
}
PROGRESS = {"ready": ["a"], "left": ["b"], "progress": "50%", "confidence": "High", "risks": [], "logs": []}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _arrivals(receiver: Receiver) -> int:
    return len(receiver.received)


def _wait_arrivals(receiver: Receiver, count: int, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while _arrivals(receiver) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{_arrivals(receiver)} of {count} deliveries arrived")
        time.sleep(0.001)


def measure_shape(name: str, args: argparse.Namespace, fake_model: FakeOpenAI) -> dict[str, Any]:
    with (
        Receiver() as receiver,
        Stack(
            **SHAPES[name],
            model_base_url=fake_model.base_url,
            settings={"SEECODES_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"},
        ) as stack,
    ):
        client = stack.client()
        permit = client.permit()
        created = client.jira(
            "POST", "/v1/jira/webhooks", json={"url": receiver.url, "events": ["progress.saved"]}
        )
        created.raise_for_status()
        secret = created.json()["secret"]
        auth = {"Authorization": f"Bearer {permit}"}

        for _ in range(5):  # warm-up: the first delivery opens connections and loads code
            client.http.post("/v1/tasks/AUTH-128/progress", headers=auth, json=PROGRESS).raise_for_status()
        _wait_arrivals(receiver, 5)

        latencies: list[float] = []
        for _ in range(args.events):
            before = _arrivals(receiver)
            client.http.post("/v1/tasks/AUTH-128/progress", headers=auth, json=PROGRESS).raise_for_status()
            answered = time.time()
            _wait_arrivals(receiver, before + 1)
            latencies.append((receiver.received[before].at - answered) * 1000)

        start_count = _arrivals(receiver)

        def post_some(count: int) -> None:
            with httpx.Client(base_url=stack.base_url, timeout=60) as http:
                for _ in range(count):
                    http.post("/v1/tasks/AUTH-128/progress", headers=auth, json=PROGRESS).raise_for_status()

        shares = [
            args.burst // args.concurrency + (i < args.burst % args.concurrency)
            for i in range(args.concurrency)
        ]
        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(post_some, shares))
        posted = time.monotonic() - began
        _wait_arrivals(receiver, start_count + args.burst, within=600)
        delivered = time.monotonic() - began
        for request in receiver.received[-20:]:
            verify(secret, request)  # the figures are of real, valid deliveries
        ids = {request.webhook_id for request in receiver.received}
        client.close()
    return {
        "shape": name,
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": _percentile(latencies, 0.99),
        "latency_max_ms": max(latencies),
        "events_per_second": args.burst / posted,
        "deliveries_per_second": args.burst / delivered,
        "distinct_ids": len(ids) == len(receiver.received),
    }


async def _direct(receiver: Receiver, count: int, concurrency: int) -> float:
    signer = Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=")
    body = json.dumps({"type": "progress.saved", "timestamp": "2026-12-04T00:00:00Z", "data": PROGRESS})
    queue = list(range(count))

    async with httpx.AsyncClient(timeout=30) as http:

        async def sender() -> None:
            while queue:
                index = queue.pop()
                now = datetime.now(UTC)
                message_id = f"msg_direct_{index}"
                headers = {
                    "content-type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signer.sign(message_id, now, body),
                }
                (await http.post(receiver.url, content=body, headers=headers)).raise_for_status()

        began = time.monotonic()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        return count / (time.monotonic() - began)


def reference(args: argparse.Namespace) -> float:
    with Receiver() as receiver:
        return asyncio.run(_direct(receiver, args.burst, args.concurrency))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--shapes", default="embedded,workers")
    parser.add_argument("--short", action="store_true", help="embedded only, 30 events, a burst of 100")
    args = parser.parse_args()
    if args.short:
        args.events, args.burst, args.shapes = 30, 100, "embedded"
    with FakeOpenAI() as fake_model:
        results = [measure_shape(name, args, fake_model) for name in args.shapes.split(",")]
    direct = reference(args)
    print(
        f"reference: the same {args.burst} signed requests posted directly, {args.concurrency} at once: {direct:.0f}/s"
    )
    print()
    print("| shape | latency p50 | p99 | max | events/s (burst) | deliveries/s | ÷ direct |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for result in results:
        failed |= not result["distinct_ids"]
        print(
            f"| {result['shape']} | {result['latency_p50_ms']:.1f} ms | {result['latency_p99_ms']:.1f} ms "
            f"| {result['latency_max_ms']:.1f} ms | {result['events_per_second']:.0f} "
            f"| {result['deliveries_per_second']:.0f} | {result['deliveries_per_second'] / direct:.2f}× |"
        )
    if failed:
        print("FAILED: a webhook-id arrived twice")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
