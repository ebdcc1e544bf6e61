"""Operators see the reported installation metrics with `seecodes admin metrics show`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seecodes import migrations
from seecodes.cli import app
from seecodes.config import get_settings

INSTALLATION = "ari:cloud:ecosystem::installation/0a3a7799-0000-4000-8000-0000000000dd"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SEECODES_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    path = tmp_path / "var" / "seecodes.db"
    migrations.upgrade(f"sqlite:///{path}")
    yield path
    get_settings.cache_clear()


def _report(path: Path, count: int, source: str, at: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT OR IGNORE INTO installations (id, status, activation_source, created_at, updated_at) "
            "VALUES (?, 'active', 'forge-license', ?, ?)",
            (INSTALLATION, at, at),
        )
        connection.execute(
            "INSERT INTO instance_metrics (installation_id, installed_users_count, source, created_at) "
            "VALUES (?, ?, ?, ?)",
            (INSTALLATION, count, source, at),
        )


def test_show_prints_the_newest_report(database: Path) -> None:
    _report(database, 17, "forge-hourly-sync", "2026-11-22 10:00:00.000000")
    _report(database, 21, "forge-hourly-sync", "2026-11-22 11:00:00.000000")

    result = CliRunner().invoke(app, ["admin", "metrics", "show", "0a3a7799-0000-4000-8000-0000000000dd"])

    assert result.exit_code == 0, result.output
    assert "21" in result.stdout
    assert "2026-11-22T11:00:00Z" in result.stdout
    assert "17" not in result.stdout


def test_show_history_lists_newest_first(database: Path) -> None:
    _report(database, 17, "forge-hourly-sync", "2026-11-22 10:00:00.000000")
    _report(database, 21, "manual", "2026-11-22 11:00:00.000000")

    result = CliRunner().invoke(app, ["admin", "metrics", "show", INSTALLATION, "--history", "5"])

    assert result.exit_code == 0, result.output
    assert result.stdout.index("21") < result.stdout.index("17")
    assert "manual" in result.stdout


def test_show_without_reports_says_so(database: Path) -> None:
    result = CliRunner().invoke(app, ["admin", "metrics", "show", INSTALLATION])

    assert result.exit_code == 0
    assert "no metrics reported yet" in result.output
