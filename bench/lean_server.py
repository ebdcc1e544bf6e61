"""A lean reference for seecodes' hot routes: the same work on the raw drivers, and nothing else.

    .venv/bin/python bench/lean_server.py --port 8090 [--workers 2]

It reads the variables `seecodes serve` reads (SEECODES_DATABASE_URL, SEECODES_SECRET_KEY, which must
be set: no dev-secret file is looked for, SEECODES_PREVIOUS_SECRET_KEYS, SEECODES_FORGE_JWKS_URL as
a file, SEECODES_FORGE_APP_ID, SEECODES_REQUEST_KEY_TTL_SECONDS) and answers, on a database seecodes' migrations created, the routes
bench/lean_bench.py compares: same paths, methods, headers, status codes and bodies, same rows read
and written, one transaction per request. What it leaves out is what the comparison prices: the
ORM, pydantic, the dependency graph, the middleware stack (request id, access log, metrics, body
limit), the head-guarding HTTP protocol. Input is still validated by the same rules, by hand.

- `GET /healthz`: a plain FastAPI route returning a pydantic model, like seecodes' own, without
  seecodes' middleware: the ratio of the two is what the stack costs.
- `POST /v1/jira/request-key`: FIT verified (RS256, JWKS, claims as security/forge.py checks them);
  installation inserted if absent and its FIT facts refreshed; a new chain's first key inserted.
- `GET /v1/instances/me`: FIT verified; the key spent by one conditional `UPDATE … RETURNING`,
  its successor inserted, the installation and its credit balance read (one statement).
- `POST /v1/tasks/{taskId}/progress`: permit HS256-verified and its jti row read (joined with the
  installation's status); the report inserted; the Jira write-back check (a connection or a fresh
  Forge token) and, when it passes, the issue's sync request upserted.
- `GET /v1/tasks/{runId}`: permit; the run's status row.
- `POST /v1/tasks/activity-snapshot`: permit; the snapshot inserted unless stored (the dedupe key),
  then its day's sums upserted, or the stored window read back.
- `POST /v1/projects/{projectId}/indexes/query`: permit; same-path entries, then hash reuse.

Drivers (lean/db.py): `sqlite3`, one connection per process, called on the event loop (`BEGIN
IMMEDIATE` for writes, a deferred `BEGIN` for reads); psycopg 3 for PostgreSQL, LEAN_PG_DRIVER
`async` (the default: a pool of LEAN_PG_POOL_SIZE connections, 5 like seecodes' pool) or `sync` (one
connection per process on the event loop, so requests take turns). `async` measured about twice
the req/s of `sync` on the 2-core bench machine (bench/lean_bench.py `--lean-pg-driver` compares):
while one request waits for PostgreSQL's commit, the others proceed. The rules (permits, FITs,
request keys, input) are in lean/rules.py, the routes in lean/routes.py.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `lean`, and workers import this module by name

from lean.routes import Lean
from lean.rules import Config, Refusal


class Health(BaseModel):
    ok: Literal[True] = True


def _answering(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """A refusal becomes its envelope here, in the route, not in an exception middleware."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Refusal as refusal:
            return refusal.response()

    return endpoint


def create_app(config: Config | None = None) -> FastAPI:
    lean = Lean(config or Config.from_env())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await lean.db.open()  # in each worker process, after it started
        try:
            yield
        finally:
            await lean.db.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> Health:
        return Health()

    routes: list[tuple[str, str, Callable[[Request], Awaitable[Response]]]] = [
        ("POST", "/v1/jira/request-key", lean.request_key),
        ("GET", "/v1/instances/me", lean.instance),
        ("POST", "/v1/tasks/activity-snapshot", lean.activity_snapshot),
        ("POST", "/v1/tasks/{taskId}/progress", lean.progress),
        ("GET", "/v1/tasks/{runId}", lean.run_status),
        ("POST", "/v1/projects/{projectId}/indexes/query", lean.index_query),
    ]
    for method, path, handler in routes:
        app.add_api_route(path, _answering(handler), methods=[method])
    app.state.lean = lean
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    Config.from_env()  # refuse to start without the settings, before any worker does
    uvicorn.run(
        "lean_server:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=75,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
