"""CPU per request of one hot route, in-process: requests go straight into the ASGI app (no HTTP
client, no server), one after another, so the figure is the app's own cost. With --profile, a
pyinstrument tree of where it goes.

    .venv/bin/python bench/inprocess.py progress|run|chain|activity|healthz [--backend sqlite|postgres]
                                        [--requests 2000] [--profile OUT.txt] [--all-frames]

Seeds through the API (a fake Forge, a permit for AUTH-128, one initialised run), warms up with 200
requests, then prints µs of wall and CPU time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import psycopg
from tests.support.app import make_settings, runtime_of
from tests.support.forge import FakeForge, JiraAppClient

from seecodes import migrations
from seecodes.app import create_app

PROGRESS = {"ready": ["a"], "left": ["b"], "progress": "45%", "confidence": "Medium", "risks": [], "logs": []}
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[bytes, bytes]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "state": {},
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode()), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    answer: dict[str, Any] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])

    await app(scope, receive, send)
    return answer["status"], answer["headers"]


async def scenario(name: str, app: Any, forge: FakeForge) -> Callable[[], Awaitable[int]]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        permit = await JiraAppClient(client, forge).permit()
        auth = {"Authorization": f"Bearer {permit}"}
        run_id = (await client.post("/v1/tasks/init", headers=auth, json={})).json()["runId"]
        fit = forge.fit(lifetime=86400)
        first_key = (
            await client.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"})
        ).json()["requestKey"]
    post = {**auth, "content-type": "application/json"}
    if name == "progress":
        body = json.dumps(PROGRESS).encode()
        return lambda: _status(call(app, "POST", "/v1/tasks/AUTH-128/progress", post, body))
    if name == "run":
        return lambda: _status(call(app, "GET", f"/v1/tasks/{run_id}", auth))
    if name == "healthz":
        return lambda: _status(call(app, "GET", "/healthz", {}))
    if name == "chain":
        key = {"value": first_key}

        async def chain() -> int:
            headers = {"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": key["value"]}
            status, answer = await call(app, "GET", "/v1/instances/me", headers)
            key["value"] = answer[b"x-seecodes-next-request-key"].decode()
            return status

        return chain
    windows = iter(range(10**9))
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

    def activity() -> Awaitable[int]:
        start = base + dt.timedelta(seconds=next(windows))
        snapshot = {
            "windowStartedAt": start.isoformat(),
            "windowEndedAt": (start + dt.timedelta(seconds=60)).isoformat(),
            "humanActiveMs": 42000,
            "locAdded": 12,
            "locRemoved": 3,
            "changedFiles": ["src/a.ts"],
            "logicChange": True,
        }
        return _status(call(app, "POST", "/v1/tasks/activity-snapshot", post, json.dumps(snapshot).encode()))

    return activity


async def _status(answer: Awaitable[tuple[int, dict[bytes, bytes]]]) -> int:
    return (await answer)[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=("progress", "run", "chain", "activity", "healthz"))
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--all-frames", action="store_true", help="with --profile: library frames too")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="seecodes-inprocess-"))
    database = f"seecodes_inprocess_{os.getpid()}"
    if args.backend == "sqlite":
        url = f"sqlite:///{directory / 'bench.db'}"
    else:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    try:
        migrations.upgrade(url)
        forge = FakeForge.create(directory)
        app = create_app(make_settings(forge, directory, url, log_level="WARNING"))
        await runtime_of(app).start(execute_runs=False)
        try:
            one = await scenario(args.scenario, app, forge)
            for _ in range(200):
                status = await one()
                assert status == 200, status
            profiler = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0002, async_mode="disabled")
                profiler.start()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                await one()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if profiler is not None:
                profiler.stop()
                args.profile.write_text(profiler.output_text(unicode=False, show_all=args.all_frames))
            per = 1e6 / args.requests
            print(
                f"{args.scenario} on {args.backend}: {wall * per:.0f} µs wall, {cpu * per:.0f} µs CPU per request"
                + (" (profiled: slower)" if profiler else "")
            )
        finally:
            await runtime_of(app).close()
    finally:
        if args.backend == "postgres":
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
