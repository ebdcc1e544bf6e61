"""Online backup and restore of the embedded default, on real SQLite files and real storage
directories: taken while the app writes, restored into a fresh directory, served again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from seecodes import backups, migrations
from seecodes.app import create_app
from seecodes.cli import app as cli_app
from seecodes.config import PLACEHOLDER_SECRET, Settings, get_settings
from seecodes.engine import migrate_system_database, system_database_url
from seecodes.kit.clock import Clock
from seecodes.models import ProgressReport
from tests.support.app import make_settings, runtime_of
from tests.support.clock import FixedClock
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.forge import FakeForge, JiraAppClient
from tests.support.runs import auth, fake_model_settings, grant, init_and_upload, settle

DOCUMENT = {"ready": [], "left": [], "progress": "50%", "confidence": "Medium", "risks": []}
WARM_UP_WRITES = 20
BULK_OBJECTS = 40  # 10 MB of storage: the backup takes long enough for writes to land during it

Serve = Callable[[Path], Awaitable[FastAPI]]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the embedded default only


@pytest.fixture
def settings_overrides(
    tmp_path: Path, fake_openai_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    # The placeholder secret: permits are signed with the random one kept in var/dev-secret-key.
    return {
        **fake_model_settings(tmp_path, fake_openai_server, monkeypatch),
        "secret_key": PLACEHOLDER_SECRET,
    }


def _layout(settings: Settings) -> backups.Embedded:
    return backups.embedded(settings, system_database_url=system_database_url(settings))


async def _progress_writes(
    client: httpx.AsyncClient, permit: str, acknowledged: list[int], warm: asyncio.Event, stop: asyncio.Event
) -> None:
    """Progress POSTs one after another, each remembered once the server has answered 200."""
    number = 0
    while not stop.is_set():
        number += 1
        saved = await client.post(
            "/v1/tasks/AUTH-128/progress",
            headers=auth(permit),
            json={**DOCUMENT, "logs": [f"write {number}"]},
        )
        assert saved.status_code == 200, saved.text
        acknowledged.append(number)
        if number == WARM_UP_WRITES:
            warm.set()


@pytest.fixture
async def restored_app(
    settings: Settings, tmp_path: Path, forge: FakeForge, clock: FixedClock
) -> AsyncIterator[Serve]:
    """Restores into a fresh var/ (the embedded default) and serves it, as `seecodes serve` would."""
    overrides = {
        "models_file": settings.models_file,
        "secret_key": PLACEHOLDER_SECRET,
        "run_timeout_seconds": 20,
    }
    fresh = make_settings(forge, tmp_path / "restored", "", **overrides)
    built: list[FastAPI] = []

    async def serve(backup: Path) -> FastAPI:
        backups.restore(backup, _layout(fresh))
        migrations.upgrade(fresh.effective_database_url)
        migrate_system_database(fresh)
        application = create_app(fresh, clock=clock)
        built.append(application)
        await runtime_of(application).start(execute_runs=True)
        return application

    yield serve
    for application in built:
        await runtime_of(application).close()


async def test_a_backup_taken_under_writes_restores_every_acknowledged_write_and_serves_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    jira: JiraAppClient,
    settings: Settings,
    tmp_path: Path,
    restored_app: Serve,
    fake_openai: FakeOpenAI,
) -> None:
    # An enqueue-only engine: the run below waits in the run engine's database, not yet executed.
    migrate_system_database(settings)
    await runtime_of(app).start(execute_runs=False)
    permit = await jira.permit(project="AUTH", task="AUTH-128")
    await grant(app, 1000)
    run = await init_and_upload(client, permit)
    started = await client.post(
        f"/v1/tasks/{run['runId']}/start", headers=auth(permit), json={"userPrompt": "go"}
    )
    assert started.status_code == 200, started.text
    for number in range(BULK_OBJECTS):
        await runtime_of(app).storage.write(
            f"bulk/{number}", bytes([number]) * 256 * 1024, content_type="x/y"
        )
    acknowledged: list[int] = []
    stop = asyncio.Event()
    warm = asyncio.Event()
    writes = asyncio.create_task(_progress_writes(client, permit, acknowledged, warm, stop))
    await warm.wait()

    before = list(acknowledged)
    manifest = await asyncio.to_thread(backups.take, _layout(settings), tmp_path / "backup", Clock())
    during = len(acknowledged) - len(before)
    stop.set()
    await writes
    fake_openai.script("fake-light", Reply("## Restored\n- and finished"))
    restored = await restored_app(tmp_path / "backup")

    assert during > 0, "no write landed while the backup ran: it proved nothing about writes going on"
    with closing(sqlite3.connect(tmp_path / "backup" / "dbos.sqlite")) as engine_copy:
        queued = engine_copy.execute(
            "SELECT status FROM workflow_status WHERE workflow_uuid = ?", (run["runId"],)
        ).fetchall()
    assert queued == [("ENQUEUED",)]
    async with runtime_of(restored).db.reading() as session:
        logs = (await session.scalars(select(ProgressReport.logs))).all()
    assert {f"write {number}" for number in before} <= {line for lines in logs for line in lines}
    assert {entry.path for entry in manifest.files} >= {
        "seecodes.db",
        "dbos.sqlite",
        "dev-secret-key",
        "storage/seecodes-runs/bulk/0",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=restored), base_url="http://testserver"
    ) as http:
        # The permit issued before the backup verifies: the dev secret came back with the database.
        read = await http.get("/v1/tasks/AUTH-128/progress?projectId=AUTH", headers=auth(permit))
        # The run queued before the backup is executed by the restored engine, from its uploads.
        status = await settle(http, permit, run["runId"])
    assert read.status_code == 200, read.text
    assert status["status"] == "succeeded", status


# -- the CLI and its refusals ------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    for name in ("SEECODES_DATABASE_URL", "SEECODES_STORAGE_BACKEND", "SEECODES_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def installed(cli: CliRunner, sqlite_template: Path, tmp_path: Path) -> Path:
    """An embedded default with a database, a stored object and its dev secret."""
    var = tmp_path / "var"
    var.mkdir()
    shutil.copyfile(sqlite_template, var / "seecodes.db")
    (var / "storage" / "seecodes-runs" / "runs" / "r1").mkdir(parents=True)
    (var / "storage" / "seecodes-runs" / "runs" / "r1" / "list.md").write_text("- [ ] item\n")
    get_settings().secret_key_bytes()
    return var


@pytest.fixture
def backup(cli: CliRunner, installed: Path, tmp_path: Path) -> Path:
    taken = cli.invoke(cli_app, ["admin", "backup", str(tmp_path / "backup")])
    assert taken.exit_code == 0, taken.output
    return tmp_path / "backup"


def _fresh_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    var = tmp_path / "fresh"
    monkeypatch.setenv("SEECODES_VAR_DIR", str(var))
    get_settings.cache_clear()
    return var


def _restore(cli: CliRunner, backup: Path) -> Any:
    return cli.invoke(cli_app, ["admin", "restore", str(backup)])


def test_the_cli_restores_a_backup_into_a_fresh_var_dir(
    cli: CliRunner, backup: Path, installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _fresh_var_dir(tmp_path, monkeypatch)

    restored = _restore(cli, backup)

    assert restored.exit_code == 0, restored.output
    for name in ("dev-secret-key", "storage/seecodes-runs/runs/r1/list.md"):
        assert (fresh / name).read_bytes() == (installed / name).read_bytes()
    with sqlite3.connect(fresh / "seecodes.db") as connection:
        assert connection.execute("PRAGMA quick_check").fetchone() == ("ok",)
    assert json.loads((backup / "manifest.json").read_text())["schemaRevision"] == _head()


def test_a_backup_into_a_directory_that_is_not_empty_is_refused(
    cli: CliRunner, installed: Path, tmp_path: Path
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")

    refused = cli.invoke(cli_app, ["admin", "backup", str(tmp_path / "taken")])

    assert refused.exit_code == 2
    assert "is not empty" in refused.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SEECODES_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none", "pg_dump"),
        ("SEECODES_STORAGE_BACKEND", "s3", "aws s3 sync"),
    ],
)
def test_a_backup_of_postgresql_or_s3_is_refused_naming_their_own_tools(
    cli: CliRunner,
    installed: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()

    refused = cli.invoke(cli_app, ["admin", "backup", str(tmp_path / "taken")])

    assert refused.exit_code == 2
    assert said in refused.output
    assert "README" in refused.output
    assert not (tmp_path / "taken").exists()


def test_a_restore_refuses_a_file_that_does_not_match_its_checksum(
    cli: CliRunner, backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (backup / "storage/seecodes-runs/runs/r1/list.md").write_text("- [x] item\n")  # same size
    fresh = _fresh_var_dir(tmp_path, monkeypatch)

    refused = _restore(cli, backup)

    assert refused.exit_code == 2
    assert "storage/seecodes-runs/runs/r1/list.md does not match its SHA-256" in refused.output
    assert not fresh.exists()


def test_a_restore_refuses_a_backup_missing_a_file(
    cli: CliRunner, backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (backup / "dev-secret-key").unlink()
    fresh = _fresh_var_dir(tmp_path, monkeypatch)

    refused = _restore(cli, backup)

    assert refused.exit_code == 2
    assert "missing dev-secret-key" in refused.output
    assert not fresh.exists()


def test_a_restore_refuses_a_schema_newer_than_this_code(
    cli: CliRunner, backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(backup / "seecodes.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00dfeed1234'")
    connection.close()
    _reseal(backup, "seecodes.db")  # a consistent backup, from a release newer than this one
    fresh = _fresh_var_dir(tmp_path, monkeypatch)

    refused = _restore(cli, backup)

    assert refused.exit_code == 2
    assert "f00dfeed1234" in refused.output
    assert "newer release" in refused.output
    assert not fresh.exists()


def test_a_restore_refuses_a_journal_left_where_the_database_goes(
    cli: CliRunner, backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = _fresh_var_dir(tmp_path, monkeypatch)
    fresh.mkdir()
    (fresh / "seecodes.db-wal").write_bytes(b"another installation's journal")

    refused = _restore(cli, backup)

    assert refused.exit_code == 2
    assert "seecodes.db-wal already exists" in refused.output
    assert sorted(p.name for p in fresh.iterdir()) == ["seecodes.db-wal"]


def test_a_restore_over_the_live_installation_is_refused(
    cli: CliRunner, backup: Path, installed: Path
) -> None:
    before = (installed / "seecodes.db").read_bytes()

    refused = _restore(cli, backup)

    assert refused.exit_code == 2
    assert "seecodes.db already exists" in refused.output
    assert (installed / "seecodes.db").read_bytes() == before


def test_a_restore_of_a_backup_that_is_not_there_is_not_found(cli: CliRunner, tmp_path: Path) -> None:
    missing = _restore(cli, tmp_path / "nowhere")

    assert missing.exit_code == 1
    assert "no backup at" in missing.output


def _reseal(backup: Path, path: str) -> None:
    """Rewrite one file's size and checksum in the manifest, as its writer would have."""
    manifest = json.loads((backup / "manifest.json").read_text())
    data = (backup / path).read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == path:
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (backup / "manifest.json").write_text(json.dumps(manifest))


def _head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_current_head())
