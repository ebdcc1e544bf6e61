"""Shared fixtures: a fake Forge, per-test migrated databases (SQLite and PostgreSQL), the app.

Tiers: the PostgreSQL tier is skipped with a reason when no server answers on 127.0.0.1:5432,
unless SEECODES_REQUIRE_ALL_TIERS=1 (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import io
import logging
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
from tests.support.app import make_settings, runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI
from tests.support.forge import FakeForge, JiraAppClient
from tests.support.postgres import POSTGRES_ADMIN_URL, admin_connection
from tests.support.postgres import database_url as postgres_database_url
from tests.support.tiers import tier_unavailable


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


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated database that per-test databases are cloned from."""
    try:
        admin = admin_connection()
    except psycopg.OperationalError as error:
        tier_unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"seecodes_tpl_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    migrations.upgrade(postgres_database_url(name))
    yield name
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    name = f"seecodes_t_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield postgres_database_url(name)
    with admin_connection() as admin:
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
