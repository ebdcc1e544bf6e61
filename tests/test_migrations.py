"""Migrations are safe to start from many processes at once, and a database a newer release has
migrated is refused in one sentence. Real `seecodes migrate` processes, started together."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from seecodes import migrations
from tests.support.postgres import admin_connection
from tests.support.postgres import database_url as postgres_database_url

pytestmark = pytest.mark.slow
PROCESSES = 4


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty database: nothing migrated yet (the race is over creating the schema)."""
    name = f"seecodes_mig_{uuid.uuid4().hex[:10]}"
    try:
        with admin_connection() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable: {error}")
    yield postgres_database_url(name)
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate_all_at_once(database_url: str, tmp_path: Path) -> list[subprocess.CompletedProcess[str]]:
    env = {
        **os.environ,
        "SEECODES_DATABASE_URL": database_url,
        "SEECODES_VAR_DIR": str(tmp_path / "var"),
        "SEECODES_RUN_ENGINE_DATABASE_URL": "",
    }
    # Started together, after the slow imports: each waits for a file before it migrates.
    go = tmp_path / "go"
    code = (
        "import pathlib, sys, time\n"
        "from seecodes import migrations\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.005)\n"
        f"migrations.upgrade({database_url!r})\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    go.touch()
    done = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def _head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_current_head())


@pytest.mark.postgres
def test_migrations_started_together_on_postgresql_all_succeed_once(
    fresh_postgres: str, tmp_path: Path
) -> None:
    done = _migrate_all_at_once(fresh_postgres, tmp_path)
    assert [d.returncode for d in done] == [0] * PROCESSES, [d.stderr[-2000:] for d in done]
    with psycopg.connect(fresh_postgres.replace("+psycopg", "")) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def test_migrations_started_together_on_sqlite_all_succeed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = _migrate_all_at_once(url, tmp_path)
    assert [d.returncode for d in done] == [0] * PROCESSES, [d.stderr[-2000:] for d in done]
    with sqlite3.connect(tmp_path / "fresh.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def test_an_upgrade_on_sqlite_is_one_transaction_holding_the_write_lock(tmp_path: Path) -> None:
    """The race above, made deterministic: a commit between migrations would release the write
    lock, and a process waiting for it would apply the next migration a second time."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    commits: list[object] = []

    def _count(connection: object) -> None:
        commits.append(connection)

    event.listen(Engine, "commit", _count)
    try:
        migrations.upgrade(f"sqlite:///{tmp_path / 'fresh.db'}")
    finally:
        event.remove(Engine, "commit", _count)
    assert len(commits) == 1
    with sqlite3.connect(tmp_path / "fresh.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


def test_a_schema_newer_than_the_code_is_refused_and_left_alone(sqlite_url: str, tmp_path: Path) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeed1234'")
    with pytest.raises(migrations.SchemaNewerThanCode, match=r"f00dfeed1234.*newer release"):
        migrations.upgrade(sqlite_url)
    env = {**os.environ, "SEECODES_DATABASE_URL": sqlite_url, "SEECODES_VAR_DIR": str(tmp_path / "var")}
    refused = subprocess.run(
        [sys.executable, "-m", "seecodes", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert "newer release" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("f00dfeed1234",)]


def test_an_unreachable_database_is_one_line_with_the_password_masked(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SEECODES_DATABASE_URL": "postgres://seecodes:hunter2-secret@127.0.0.1:9/nowhere",
        "SEECODES_VAR_DIR": str(tmp_path / "var"),
    }
    refused = subprocess.run(
        [sys.executable, "-m", "seecodes", "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    said = (refused.stdout + refused.stderr).strip()
    assert refused.returncode == 2
    assert said.startswith("cannot reach the database at postgresql://seecodes:***@127.0.0.1:9/nowhere: ")
    assert len(said.splitlines()) == 1
    assert "hunter2" not in said
