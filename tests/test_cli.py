"""The operator CLI against a real embedded database."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import typer
from typer.testing import CliRunner

from seecodes import migrations
from seecodes.cli import app
from seecodes.config import DEV_FORGE_APP_ID, get_settings
from seecodes.db import Database
from seecodes.installations import service as installations
from seecodes.kit.clock import Clock
from seecodes.models import Installation
from seecodes.security.forge import installation_ari

INSTALLATION = "0a3a7799-0000-4000-8000-0000000000cc"
ARI = installation_ari(INSTALLATION)
CLOUD = "d0d52620-3203-4cfa-8db5-f2587155f0dd"


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI in a directory no server has used."""
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SEECODES_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def cli(bare: CliRunner) -> CliRunner:
    """The CLI beside a server's embedded default: `migrate` prepared the database and dev key."""
    prepared = bare.invoke(app, ["migrate"])
    assert prepared.exit_code == 0, prepared.output
    return bare


def test_outside_the_servers_directory_commands_refuse_instead_of_starting_a_new_database(
    bare: CliRunner, tmp_path: Path
) -> None:
    listed = bare.invoke(app, ["admin", "installations", "list"])
    minted = bare.invoke(
        app,
        ["admin", "forge-token", "--installation", INSTALLATION, "--cloud-id", CLOUD, "--principal", "me"],
    )

    assert listed.exit_code == 2
    assert f"no database at {tmp_path / 'var' / 'seecodes.db'}" in listed.output
    assert "SEECODES_VAR_DIR" in listed.output
    # A FIT signed by a key made here would be refused by the server: no key is made.
    assert minted.exit_code == 2
    assert "no dev key" in minted.output
    assert not (tmp_path / "var" / "seecodes.db").exists()
    assert not (tmp_path / "var" / "dev-forge-key.pem").exists()


def test_forge_token_mints_a_dev_fit(cli: CliRunner) -> None:
    result = cli.invoke(
        app,
        [
            "admin",
            "forge-token",
            "--installation",
            INSTALLATION,
            "--cloud-id",
            CLOUD,
            "--principal",
            "557058:me",
        ],
    )

    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip().splitlines()[-1], options={"verify_signature": False})
    assert claims["aud"] == DEV_FORGE_APP_ID
    assert claims["app"]["installationId"] == f"ari:cloud:ecosystem::installation/{INSTALLATION}"
    assert claims["principal"] == "557058:me"
    assert claims["exp"] > time.time()


def test_forge_token_is_refused_in_production(bare: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEECODES_ENV", "production")
    monkeypatch.setenv("SEECODES_SECRET_KEY", "p" * 40)
    monkeypatch.setenv("SEECODES_FORGE_APP_ID", "ari:cloud:ecosystem::app/x")
    monkeypatch.setenv(
        "SEECODES_FORGE_JWKS_URL", "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
    )
    monkeypatch.setenv("SEECODES_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("SEECODES_PUBLIC_BASE_URL", "https://seecodes.example.com")

    result = bare.invoke(
        app,
        ["admin", "forge-token", "--installation", INSTALLATION, "--cloud-id", CLOUD, "--principal", "me"],
    )

    assert result.exit_code == 2
    assert "refused" in result.output


def test_unsafe_production_settings_stop_the_cli(bare: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEECODES_ENV", "production")

    result = bare.invoke(app, ["migrate"])

    assert result.exit_code == 2
    assert "refusing to start in production" in result.output


def test_credit_grant_needs_a_known_installation(cli: CliRunner) -> None:
    result = cli.invoke(app, ["admin", "credits", "grant", INSTALLATION, "10"])

    assert result.exit_code == 1
    assert "unknown" in result.output


def test_enrollment_token_is_printed_once(cli: CliRunner) -> None:
    result = cli.invoke(app, ["admin", "enrollment-token", "create", "--cloud-id", CLOUD])

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].startswith("sc_enroll_")


def test_permits_list_and_revoke_without_arguments(cli: CliRunner) -> None:
    listed = cli.invoke(app, ["admin", "permits", "list", "--all"])
    refused = cli.invoke(app, ["admin", "permits", "revoke"])

    assert listed.exit_code == 0, listed.output
    assert "jti" in listed.output
    assert refused.exit_code == 2


def _installed(amount: int) -> None:
    """An installation with a grant, in the embedded default database the CLI uses."""
    settings = get_settings()
    migrations.upgrade(settings.effective_database_url)

    async def work() -> None:
        database = Database(settings.effective_database_url)
        try:
            now = datetime.now(UTC)
            async with database.transaction() as session:
                session.add(Installation(id=ARI, activation_source="test", created_at=now, updated_at=now))
                await session.flush()
                await installations.grant_credits(session, Clock(), installation_id=ARI, amount=amount)
        finally:
            await database.dispose()

    asyncio.run(work())


def test_installations_list_and_show_give_status_and_balance(cli: CliRunner) -> None:
    _installed(40)

    listed = cli.invoke(app, ["admin", "installations", "list"])
    shown = cli.invoke(app, ["admin", "installations", "show", INSTALLATION])
    missing = cli.invoke(app, ["admin", "installations", "show", "00000000-0000-4000-8000-0000000000ff"])

    assert listed.exit_code == 0, listed.output
    assert INSTALLATION in listed.output
    assert "40" in listed.output
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) | {"createdAt": None} == {
        "id": ARI,
        "cloudId": None,
        "siteUrl": None,
        "status": "active",
        "activationSource": "test",
        "balance": 40,
        "runConcurrency": None,
        "createdAt": None,
        "lastSeenAt": None,
    }
    assert missing.exit_code == 1
    assert "no installation" in missing.output


def test_what_does_not_exist_exits_non_zero(cli: CliRunner) -> None:
    revoked = cli.invoke(app, ["admin", "permits", "revoke", "bogus-jti"])
    status = cli.invoke(app, ["jira", "status", "00000000-0000-4000-8000-0000000000ff"])

    assert revoked.exit_code == 1
    assert "nothing revoked" in revoked.output
    assert status.exit_code == 1
    assert "no installation" in status.output


def test_credits_are_adjusted_down_and_up_with_a_reason_never_below_zero(cli: CliRunner) -> None:
    _installed(40)

    down = cli.invoke(app, ["admin", "credits", "adjust", INSTALLATION, "-30", "--reason", "granted twice"])
    again = cli.invoke(app, ["admin", "credits", "adjust", INSTALLATION, "-5", "--reason", "granted twice"])
    too_far = cli.invoke(app, ["admin", "credits", "adjust", INSTALLATION, "-6", "--reason", "oops"])
    no_reason = cli.invoke(app, ["admin", "credits", "adjust", INSTALLATION, "3"])
    unknown = cli.invoke(
        app, ["admin", "credits", "adjust", "00000000-0000-4000-8000-0000000000ff", "1", "--reason", "x"]
    )
    shown = cli.invoke(app, ["admin", "installations", "show", INSTALLATION])

    assert down.exit_code == 0, down.output
    assert "balance: 10" in down.output
    assert again.exit_code == 0, again.output  # the same reason twice is two rows
    assert "balance: 5" in again.output
    assert too_far.exit_code == 2
    assert "below zero" in too_far.output
    assert no_reason.exit_code == 2
    assert unknown.exit_code == 1
    assert json.loads(shown.stdout)["balance"] == 5


def test_a_worker_without_the_workers_shape_refuses_to_start(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEECODES_RUN_EXECUTION", "in_process")

    refused = cli.invoke(app, ["worker"])

    assert refused.exit_code == 2
    assert "SEECODES_RUN_EXECUTION=workers" in refused.output


def test_the_cli_does_not_import_the_model_sdks() -> None:
    # They cost about 1.4 s of CPU at import; only a process that builds a provider needs them.
    script = "import sys, seecodes.cli; print(sorted({'anthropic', 'openai'} & set(sys.modules)))"
    imported = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert imported.stdout.strip() == "[]"


def test_an_installation_can_be_given_its_own_run_cap_and_back_the_default(cli: CliRunner) -> None:
    _installed(40)
    installation = INSTALLATION
    capped = cli.invoke(app, ["admin", "installations", "concurrency", installation, "2"])
    shown = cli.invoke(app, ["admin", "installations", "show", installation])
    undone = cli.invoke(app, ["admin", "installations", "concurrency", installation, "default"])
    refused = cli.invoke(app, ["admin", "installations", "concurrency", installation, "0"])
    nonsense = cli.invoke(app, ["admin", "installations", "concurrency", installation, "many"])
    unknown = cli.invoke(
        app, ["admin", "installations", "concurrency", "00000000-0000-4000-8000-0000000000ff", "2"]
    )

    assert (capped.exit_code, capped.stdout.strip()) == (0, "run concurrency: 2")
    assert json.loads(shown.stdout)["runConcurrency"] == 2
    assert (undone.exit_code, undone.stdout.strip()) == (0, "run concurrency: default")
    assert refused.exit_code == 2
    assert "between 1 and" in refused.output
    assert nonsense.exit_code == 2
    assert unknown.exit_code == 1


def test_outside_dev_every_line_the_cli_writes_is_json(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'seecodes.db'}"
    env = {
        **os.environ,
        "SEECODES_ENV": "test",
        "SEECODES_DATABASE_URL": database,
        "SEECODES_VAR_DIR": str(tmp_path),
    }
    env.pop("SEECODES_RUN_EXECUTION", None)

    def seecodes(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seecodes", *args], env=env, capture_output=True, text=True, timeout=120
        )

    migrated = seecodes("migrate")
    created = seecodes("admin", "token", "create", "--name", "ci")
    listed = seecodes("admin", "token", "list")
    refused = seecodes("worker")

    assert (migrated.returncode, created.returncode, listed.returncode, refused.returncode) == (0, 0, 0, 2)
    for result in (migrated, created, listed, refused):
        for line in result.stderr.splitlines():
            assert json.loads(line)["level"] in {"info", "warning", "error"}, line
    # Values a script reads stay on stdout: the token as it is, a listing as one object per row.
    assert created.stdout.strip().startswith("sc_admin_")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["ci"]
    errors = [
        json.loads(line) for line in refused.stderr.splitlines() if json.loads(line)["level"] == "error"
    ]
    assert "SEECODES_RUN_EXECUTION=workers" in errors[0]["event"]
    assert any(
        json.loads(line)["event"] == "database is at the newest migration"
        for line in migrated.stderr.splitlines()
    )


def test_a_worker_whose_metrics_port_is_taken_refuses_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "SEECODES_ENV": "dev",
            "SEECODES_VAR_DIR": str(tmp_path),
            "SEECODES_RUN_EXECUTION": "workers",
            "SEECODES_WORKER_ID": "worker-metrics",
            "SEECODES_WORKER_METRICS_PORT": str(port),
        }
        env.pop("SEECODES_DATABASE_URL", None)
        refused = subprocess.run(
            [sys.executable, "-m", "seecodes", "worker"], env=env, capture_output=True, text=True, timeout=120
        )

    assert refused.returncode == 2, refused.stderr
    assert f"SEECODES_WORKER_METRICS_PORT={port}" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr


def test_every_argument_and_option_has_help() -> None:
    root = typer.main.get_command(app)
    missing: list[str] = []

    def walk(command: Any, path: list[str], context: Any) -> None:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                walk(sub, [*path, name], type(context)(sub, parent=context))
            return
        missing.extend(
            f"{' '.join(path)} {param.name}" for param in command.params if not getattr(param, "help", None)
        )

    walk(root, [], typer.Context(root))

    assert [entry for entry in missing if not entry.endswith(" help")] == []
