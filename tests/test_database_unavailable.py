"""A database that is down, silent or saturated is a bounded 503 in the envelope, never a 500 or a hang;
a connection the server closed while pooled is replaced instead of failing a request.

The 503 tests need no server: the app is pointed at a closed port, at a listener that accepts and
never answers, or at a pool whose only connection is taken. bench/faults/pg_outage.py drills the real
thing (PostgreSQL stopped under load, then started again).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from seecodes.app import create_app
from seecodes.db import Database
from seecodes.runtime import Runtime
from tests.support.app import make_settings, runtime_of
from tests.support.forge import FakeForge
from tests.support.live_server import free_port

DETAIL = "The database is unavailable; retry shortly."


def _postgres_url(port: int) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/seecodes"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port whose listener completes the handshake and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # the kernel accepts into the backlog; nobody ever reads
        yield int(listener.getsockname()[1])


@asynccontextmanager
async def _serving(
    forge: FakeForge, tmp_path: Path, url: str, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    app = create_app(make_settings(forge, tmp_path, url, **overrides))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, runtime_of(app)
    finally:
        await runtime_of(app).close()


async def _bootstrap(http: httpx.AsyncClient, forge: FakeForge) -> httpx.Response:
    return await http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {forge.fit()}"})


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"ok": False, "error": "service_unavailable", "detail": DETAIL}
    assert int(response.headers["Retry-After"]) > 0


async def test_refused_database_connection_is_503_with_retry_after(forge: FakeForge, tmp_path: Path) -> None:
    async with _serving(forge, tmp_path, _postgres_url(free_port())) as (http, _):
        bootstrap = await _bootstrap(http, forge)
        ready = await http.get("/readyz")

        _assert_unavailable(bootstrap)
        _assert_unavailable(ready)


async def test_silent_database_is_503_within_the_connect_timeout(
    forge: FakeForge, tmp_path: Path, silent_port: int
) -> None:
    url = _postgres_url(silent_port)
    async with _serving(forge, tmp_path, url, database_connect_timeout_seconds=2) as (http, _):
        started = time.perf_counter()
        # Without a connect timeout psycopg waits far longer than this guard.
        async with asyncio.timeout(15):
            response = await _bootstrap(http, forge)
        elapsed = time.perf_counter() - started

        _assert_unavailable(response)
        assert elapsed < 6, f"answered after {elapsed:.1f} s with a 2 s connect timeout"


async def test_exhausted_pool_is_503_after_the_pool_timeout(
    forge: FakeForge, tmp_path: Path, sqlite_url: str
) -> None:
    overrides = {"database_pool_size": 1, "database_max_overflow": 0, "database_pool_timeout_seconds": 0.5}
    async with _serving(forge, tmp_path, sqlite_url, **overrides) as (http, runtime):
        async with runtime.db.engine.connect() as held:  # the pool's only connection
            await held.exec_driver_sql("SELECT 1")
            started = time.perf_counter()
            response = await _bootstrap(http, forge)
            elapsed = time.perf_counter() - started

        _assert_unavailable(response)
        assert 0.4 < elapsed < 5


@pytest.mark.postgres
async def test_pooled_connection_the_server_closed_is_replaced_without_an_error(postgres_url: str) -> None:
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        async with database.transaction() as session:
            backend = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # What a restart does to every idle connection: the server ends the backend.
        with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))

        async with database.transaction() as session:
            replacement = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        assert replacement != backend
    finally:
        await database.dispose()
