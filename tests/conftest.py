"""Shared fixtures: a fake Forge, per-test migrated databases (SQLite and PostgreSQL), the app.

Tiers: the PostgreSQL tier is skipped with a reason when no server answers on 127.0.0.1:5432,
unless SEECODES_REQUIRE_ALL_TIERS=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import structlog
from fastapi import FastAPI

from seecodes import migrations
from seecodes.app import create_app
from seecodes.config import Settings
from seecodes.kit.clock import Clock
from seecodes.runtime import Runtime
from tests.support.fake_openai import FakeOpenAI
from tests.support.forge import TEST_APP_ID, FakeForge, JiraAppClient

REQUIRE_ALL_TIERS = os.environ.get("SEECODES_REQUIRE_ALL_TIERS") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "SEECODES_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"


def tier_unavailable(reason: str) -> None:
    """Skip on a laptop; fail in CI, where every tier is mandatory."""
    if REQUIRE_ALL_TIERS:
        pytest.fail(f"mandatory test tier unavailable: {reason}")
    pytest.skip(reason)


class FixedClock(Clock):
    """Starts at the real time (FITs are checked against it by PyJWT) and moves only when told."""

    def __init__(self) -> None:
        self._now = super().now()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seecodes")


@pytest.fixture(scope="session")
def forge(session_dir: Path) -> FakeForge:
    return FakeForge.create(session_dir)


@pytest.fixture(scope="session")
def sqlite_template(session_dir: Path) -> Path:
    template = session_dir / "template.db"
    migrations.upgrade(f"sqlite:///{template}")
    return template


def _admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that per-test databases are cloned from."""
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as error:
        tier_unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"seecodes_tpl_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrations.upgrade(_database_url(name))
    yield name
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    name = f"seecodes_t_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _database_url(name)
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    database = tmp_path / "seecodes.db"
    shutil.copyfile(sqlite_template, database)
    return f"sqlite:///{database}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """API tests run once per supported database."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def make_settings(forge: FakeForge, tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "forge_jwks_url": str(forge.jwks_path),
        "forge_app_id": TEST_APP_ID,
        "secret_key": TEST_SECRET,
        "public_base_url": "https://seecodes.example.com",
        "launch_baseurl_allowlist": ["https://eu.seecodes.example.com"],
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def settings(
    forge: FakeForge, tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(forge, tmp_path, database_url, **settings_overrides)


@pytest.fixture
async def app(settings: Settings, clock: FixedClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    yield application
    await runtime_of(application).close()


def runtime_of(application: FastAPI) -> Runtime:
    runtime: Runtime = application.state.runtime
    return runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def jira(client: httpx.AsyncClient, forge: FakeForge) -> JiraAppClient:
    """The Jira App of installation A, invoked by USER_A."""
    return JiraAppClient(client, forge)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Everything the app logs during the test, at DEBUG, through the app's own formatter."""
    root = logging.getLogger()
    formatter = next(
        h.formatter for h in root.handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible model server on loopback, started once when first needed."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The session's fake model server with no scripts and no recorded requests."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()
