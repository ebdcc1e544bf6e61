"""Overload drill: at 4× the sustainable rate, the excess is shed and the accepted keep their latency.

Run from the repository root:

    .venv/bin/python bench/overload.py [--duration 30] [--factor 4] [--backend sqlite|postgres]

A server on loopback (tests.support.stack: the embedded SQLite default, or PostgreSQL with one
API process) answers progress POSTs (`POST /v1/tasks/AUTH-128/progress`, a new report each).

1. Sustainable rate: 16 connections, each sending its next request when the last is answered,
   for 10 s: the accepted req/s and their p99.
2. Overload: requests *arrive* at `--factor` × that rate for `--duration` s (open loop, as many
   clients would: a request is sent on schedule whether or not earlier ones were answered), on up
   to 1,024 connections, each request given up after 10 s.
3. Recovery: after the load stops, how long until one request at a time is answered at the
   sustainable p99 again.

Prints the accepted req/s, the p99 of the accepted requests against the sustainable p99, the
share shed (503 `service_unavailable` with Retry-After), requests that hung past 10 s, any other
answer, and the recovery time. Fails when one request hangs past 10 s or anything other than 200
and the 503s comes back; the goal "accepted p99 within 3× the sustainable p99" is printed as met or
MISSED. The client holds at most 256 connections (that many clients); an arrival finding them all
busy is counted as not sent.

The client is asyncio (uvloop) on raw sockets with prebuilt request bytes, so it keeps up with the
server where an HTTP library would not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

BODY = b'{"ready":["a"],"left":["b"],"progress":"45%","confidence":"Medium","risks":["r"],"logs":["l"]}'
HANG_SECONDS = 10.0
MAX_CONNECTIONS = 256
SUSTAIN_CONNECTIONS = 16


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # of the 200s
    shed: int = 0
    shed_without_retry_after: int = 0
    hung: int = 0
    unsent: int = 0  # arrivals the client had no connection for: offered load it could not make
    other: dict[str, int] = field(default_factory=dict)

    def note_other(self, what: str) -> None:
        self.other[what] = self.other.get(what, 0) + 1


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request and read its answer: (status, whether Retry-After came with it)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, retry_after, closing = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"retry-after":
                retry_after = True
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        if length:
            await self.reader.readexactly(length)
        if closing:
            raise ConnectionResetError("the server closed the connection")
        return status, retry_after

    def close(self) -> None:
        self.writer.close()


def build_request(port: int, permit: str) -> bytes:
    return (
        f"POST /v1/tasks/AUTH-128/progress HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {permit}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


async def one(pool: list[Connection], port: int, request: bytes, tally: Tally, opened: list[int]) -> None:
    if pool:
        connection = pool.pop()
    else:
        if opened[0] >= MAX_CONNECTIONS:
            tally.unsent += 1
            return
        opened[0] += 1
        try:
            connection = await Connection.open(port)
        except OSError as error:
            opened[0] -= 1
            tally.note_other(f"connect: {type(error).__name__}")
            return
    began = time.perf_counter()
    try:
        async with asyncio.timeout(HANG_SECONDS):
            status, retry_after = await connection.exchange(request)
    except TimeoutError:
        tally.hung += 1
        connection.close()
        opened[0] -= 1
        return
    except (OSError, asyncio.IncompleteReadError, ValueError) as error:
        tally.note_other(type(error).__name__)
        connection.close()
        opened[0] -= 1
        return
    if status == 200:
        tally.latencies.append(time.perf_counter() - began)
    elif status == 503:
        tally.shed += 1
        tally.shed_without_retry_after += not retry_after
    else:
        tally.note_other(f"HTTP {status}")
    pool.append(connection)


async def sustained(port: int, request: bytes, seconds: float) -> tuple[float, Tally]:
    """Closed loop: each connection sends its next request when the last is answered."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        pool: list[Connection] = []
        opened = [0]
        while time.perf_counter() < deadline:
            await one(pool, port, request, tally, opened)
        for connection in pool:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(SUSTAIN_CONNECTIONS)))
    return len(tally.latencies) / (time.perf_counter() - began), tally


async def offered(port: int, request: bytes, rate: float, seconds: float) -> tuple[float, Tally]:
    """Open loop: a request arrives every 1/rate s, on a free connection or a new one."""
    tally = Tally()
    pool: list[Connection] = []
    opened = [0]
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    def arrive() -> None:
        task = loop.create_task(one(pool, port, request, tally, opened))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    began = loop.time()
    # Every arrival on the loop's timer, on schedule whatever the answers do.
    for number in range(int(rate * seconds)):
        loop.call_at(began + number / rate, arrive)
    await asyncio.sleep(seconds)
    elapsed = loop.time() - began
    await asyncio.gather(*tasks)
    for connection in pool:
        connection.close()
    return len(tally.latencies) / elapsed, tally


async def recovery(port: int, request: bytes, target: float) -> float:
    """Seconds until a lone request is answered within the sustainable p99 again."""
    began = time.perf_counter()
    connection = await Connection.open(port)
    try:
        while time.perf_counter() - began < 60:
            sent = time.perf_counter()
            status, _ = await connection.exchange(request)
            if status == 200 and time.perf_counter() - sent <= target:
                return time.perf_counter() - began
            await asyncio.sleep(0.01)
    finally:
        connection.close()
    return float("inf")


async def drill(port: int, permit: str, duration: float, factor: float) -> dict[str, object]:
    request = build_request(port, permit)
    await sustained(port, request, 2)  # warm-up
    rate, calm = await sustained(port, request, 10)
    calm_p99 = p99(calm.latencies)
    print(
        f"sustainable: {rate:.0f} req/s accepted at {SUSTAIN_CONNECTIONS} connections, p99 {calm_p99 * 1000:.1f} ms",
        flush=True,
    )
    accepted, load = await offered(port, request, rate * factor, duration)
    back = await recovery(port, request, calm_p99)
    total = len(load.latencies) + load.shed + load.hung + sum(load.other.values())
    return {
        "sustainable_rps": round(rate),
        "sustainable_p99_ms": round(calm_p99 * 1000, 1),
        "offered_rps": round(rate * factor),
        "accepted_rps": round(accepted),
        "accepted_p99_ms": round(p99(load.latencies) * 1000, 1),
        "shed_share": round(load.shed / total, 3) if total else 0.0,
        "shed_without_retry_after": load.shed_without_retry_after,
        "hung": load.hung,
        "unsent": load.unsent,
        "other": load.other,
        "recovery_s": round(back, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--factor", type=float, default=4)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with FakeOpenAI() as model, Stack(backend=args.backend, model_base_url=model.base_url) as stack:
        client = stack.client()
        permit = client.permit()
        client.close()
        port = int(stack.base_url.rsplit(":", 1)[1])
        # uvloop: the client must not be what saturates first.
        figures = uvloop.run(drill(port, permit, args.duration, args.factor))
    problems = []
    p99_goal = figures["accepted_p99_ms"] <= 3 * figures["sustainable_p99_ms"]  # type: ignore[operator]
    if figures["hung"]:
        problems.append(f"{figures['hung']} requests hung past {HANG_SECONDS:.0f} s")
    if figures["other"] or figures["shed_without_retry_after"]:
        problems.append(f"answers other than 200 and 503 with Retry-After: {figures['other']}")
    print(
        f"overload drill ({args.factor:g}× for {args.duration:g} s, {args.backend}): "
        f"{'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}; offered {figures['offered_rps']} req/s, "
        f"accepted {figures['accepted_rps']} req/s (sustainable {figures['sustainable_rps']}), accepted p99 "
        f"{figures['accepted_p99_ms']} ms (sustainable {figures['sustainable_p99_ms']} ms), shed "
        f"{float(figures['shed_share']) * 100:.1f} %, hung {figures['hung']}, other {figures['other'] or 0}, "  # type: ignore[arg-type]
        f"{figures['unsent']} arrivals not sent (the client's {MAX_CONNECTIONS} connections were busy), "
        f"recovered in {figures['recovery_s']} s"
    )
    # A latency goal missed is reported (bench/report.py counts MISSED); hangs and errors fail.
    print(
        f"goal: accepted p99 ≤ 3× the sustainable p99: {'met' if p99_goal else 'MISSED'} "
        f"({figures['accepted_p99_ms']} ms vs {3 * figures['sustainable_p99_ms']:.1f} ms)"  # type: ignore[operator]
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
