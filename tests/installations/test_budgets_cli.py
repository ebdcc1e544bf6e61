"""Operators read and replace budgets with `seecodes admin budgets show|set`."""

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
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
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


def test_set_replaces_the_document_and_show_reads_it(database: Path, tmp_path: Path) -> None:
    document = tmp_path / "budgets.json"
    document.write_text(
        json.dumps({"monthlyCredits": 900, "mode": "stop", "projects": {"AUTH": {"monthlyCredits": 50}}})
    )

    written = CliRunner().invoke(app, ["admin", "budgets", "set", BARE, f"@{document}"])
    shown = CliRunner().invoke(app, ["admin", "budgets", "show", INSTALLATION])

    assert written.exit_code == 0, written.output
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert json.loads(written.stdout) == body
    assert (body["monthlyCredits"], body["mode"], body["remaining"]) == (900, "stop", 900)
    assert body["projects"]["AUTH"]["monthlyCredits"] == 50


def test_a_bad_document_is_refused_with_the_field_named(database: Path) -> None:
    refused = CliRunner().invoke(app, ["admin", "budgets", "set", BARE, '{"monthlyCredits": -5}'])

    assert refused.exit_code == 2
    assert "monthlyCredits" in refused.output
    assert (
        json.loads(CliRunner().invoke(app, ["admin", "budgets", "show", BARE]).stdout)["monthlyCredits"]
        is None
    )


def test_an_unknown_installation_exits_1(database: Path) -> None:
    result = CliRunner().invoke(app, ["admin", "budgets", "show", "0a3a7799-0000-4000-8000-000000000099"])

    assert result.exit_code == 1
    assert "No installation" in result.output
