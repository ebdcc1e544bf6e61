"""What the analytics and index benchmarks share: a scratch migrated database per backend, an
in-process app with a fake Forge (real FITs, permits and request keys), raw DB-API connections
for the reference queries, and the timing/printing helpers."""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from tests.support.forge import INSTALLATION_A, TEST_APP_ID, FakeForge, JiraAppClient  # noqa: E402

from seecodes import migrations  # noqa: E402
from seecodes.app import create_app  # noqa: E402
from seecodes.config import Settings  # noqa: E402
from seecodes.runtime import Runtime  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgres")
__all__ = [
    "BACKENDS",
    "INSTALLATION_A",
    "BenchApp",
    "Scratch",
    "bench_app",
    "best_of",
    "best_of_sync",
    "line",
]


@dataclass
class Scratch:
    backend: str
    url: str  # SQLAlchemy URL for the app
    directory: Path

    def raw(self) -> Any:
        """A plain DB-API connection (sqlite3 or psycopg), for the hand-written reference."""
        if self.backend == "sqlite":
            import sqlite3

            return sqlite3.connect(self.url.removeprefix("sqlite:///"))
        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))

    @property
    def placeholder(self) -> str:
        return "?" if self.backend == "sqlite" else "%s"


@contextmanager
def scratch_database(backend: str) -> Iterator[Scratch]:
    with tempfile.TemporaryDirectory(prefix="seecodes-bench-") as directory:
        if backend == "sqlite":
            url = f"sqlite:///{directory}/bench.db"
            migrations.upgrade(url)
            yield Scratch(backend, url, Path(directory))
            return
        name = f"seecodes_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = (
                PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
            )
            migrations.upgrade(url)
            yield Scratch(backend, url, Path(directory))
        finally:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class BenchApp:
    app: FastAPI
    http: httpx.AsyncClient
    jira: JiraAppClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def bench_app(scratch: Scratch, **overrides: Any) -> AsyncIterator[BenchApp]:
    """The real app in-process (ASGI), with a fake Forge whose FITs it verifies."""
    forge = FakeForge.create(scratch.directory)
    settings = Settings(
        env="test",
        var_dir=scratch.directory / "var",
        database_url=scratch.url,
        forge_jwks_url=str(forge.jwks_path),
        forge_app_id=TEST_APP_ID,
        secret_key="bench-secret-key-0123456789abcdef0123456789abcdef",  # noqa: S106
        max_body_bytes=16 * 1024 * 1024,
        log_level="WARNING",  # one log line per request would be part of what is measured
        **overrides,
    )
    app = create_app(settings)
    # No lifespan: like the tests, the routes measured here need no run engine.
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            jira = JiraAppClient(http, forge)
            await jira.bootstrap()  # creates the installation
            yield BenchApp(app, http, jira)
    finally:
        await app.state.runtime.close()


# Like timeit, runs are timed with the garbage collector paused (and a full collection before
# each), unless --with-gc: a full collection of this process's ~0.5 M objects costs 150–300 ms on
# the test VM and lands on whichever run allocates past the threshold, which would measure the heap
# the bench script holds rather than the code under test. In a server, `gc.freeze()` after startup
# takes the import-time objects out of those collections.
PAUSE_GC = True


async def best_of(repeat: int, work: Callable[[], Awaitable[Any]]) -> float:
    """Median wall time of `repeat` runs after one warm-up run, in seconds."""
    await work()
    times = []
    for _ in range(repeat):
        with _collector_paused():
            started = time.perf_counter()
            await work()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def best_of_sync(repeat: int, work: Callable[[], Any]) -> float:
    work()
    times = []
    for _ in range(repeat):
        with _collector_paused():
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def _collector_paused() -> Iterator[None]:
    if not PAUSE_GC:
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def add_gc_option(parser: Any) -> None:
    parser.add_argument(
        "--with-gc", action="store_true", help="time with the garbage collector running (default: paused)"
    )


def apply_gc_option(args: Any) -> None:
    global PAUSE_GC
    PAUSE_GC = not args.with_gc
    print("garbage collector:", "running" if args.with_gc else "paused while timing (see --with-gc)")


def line(label: str, seconds: float, reference: float | None = None, goal: float | None = None) -> str:
    text = f"  {label:<58} {seconds * 1000:10.1f} ms"
    if reference:
        ratio = seconds / reference
        text += f"   {ratio:5.2f}× reference"
        if goal is not None:
            text += "   ok" if ratio <= goal else f"   OVER the {goal:g}× goal"
    return text
