"""Operators manage an installation's endpoints with `seecodes admin webhooks …`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seecodes import migrations
from seecodes.cli import app
from seecodes.config import get_settings

INSTALLATION = "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-0000000000ee"
BARE = INSTALLATION.rsplit("/", 1)[1]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    # Outside dev, listings are JSON rows on stdout and messages JSON lines on stderr.
    monkeypatch.setenv("SEECODES_ENV", "test")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SEECODES_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:9")
    monkeypatch.delenv("SEECODES_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    path = tmp_path / "var" / "seecodes.db"
    migrations.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO installations (id, status, activation_source, created_at, updated_at) "
            "VALUES (?, 'active', 'forge-license', '2026-12-01 00:00:00.000000', '2026-12-01 00:00:00.000000')",
            (INSTALLATION,),
        )
    yield path
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["admin", "webhooks", *args])
    return result.exit_code, result.stdout, result.stderr


def test_add_prints_the_secret_once_and_list_shows_the_endpoint_without_it(database: Path) -> None:
    added = _run("add", BARE, "http://127.0.0.1:9/hooks", "run.failed", "progress.saved")
    listed = _run("list", INSTALLATION)

    assert added[0] == 0, added
    secret = added[1].strip()
    assert secret.startswith("whsec_")
    assert listed[0] == 0, listed
    assert secret not in listed[1]
    [row] = [json.loads(line) for line in listed[1].splitlines()]
    assert row["state"] == "enabled"
    assert row["events"] == "progress.saved,run.failed"
    assert row["url"] == "http://127.0.0.1:9/hooks"


def test_remove_enable_and_deliveries_name_an_unknown_endpoint_with_exit_1(database: Path) -> None:
    for command in ("remove", "enable", "deliveries"):
        code, _out, err = _run(command, BARE, "wh_nosuchendpoint")
        assert code == 1, (command, err)
        assert "No webhook endpoint" in err


def test_remove_takes_the_endpoint_away(database: Path) -> None:
    _run("add", BARE, "http://127.0.0.1:9/hooks", "run.failed")
    [row] = [json.loads(line) for line in _run("list", BARE)[1].splitlines()]

    removed = _run("remove", BARE, row["webhook"])

    assert removed[0] == 0, removed
    assert _run("list", BARE)[1] == ""


def test_a_private_address_and_an_unknown_event_are_refused_with_exit_2(database: Path) -> None:
    private = _run("add", BARE, "https://10.0.0.5/hooks", "run.failed")
    unknown = _run("add", BARE, "http://127.0.0.1:9/hooks", "run.exploded")

    assert (private[0], unknown[0]) == (2, 2)
    assert "10.0.0.5" in private[2]
    assert "run.exploded" in unknown[2]
