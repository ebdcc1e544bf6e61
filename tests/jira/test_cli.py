"""`seecodes admin token …` and `seecodes jira connect|status|rotate-keys` against a real embedded database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from typer.testing import CliRunner

from seecodes.cli import app
from seecodes.config import get_settings
from seecodes.db import Database
from seecodes.kit.clock import Clock
from seecodes.models import Installation, JiraForgeToken

INSTALLATION = "0a3a7799-0000-4000-8000-0000000000cc"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SEECODES_ENV", "dev")
    monkeypatch.setenv("SEECODES_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SEECODES_JIRA_CLIENT_ID", "cli-client")
    monkeypatch.setenv("SEECODES_JIRA_CLIENT_SECRET", "cli-secret")
    monkeypatch.setenv("SEECODES_PUBLIC_BASE_URL", "https://seecodes.example.com")
    monkeypatch.delenv("SEECODES_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    # As beside a server: the embedded default exists (the CLI refuses to start a new one).
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    yield runner
    get_settings.cache_clear()


def _add_installation() -> None:
    async def add() -> None:
        database = Database(get_settings().effective_database_url)
        now = Clock().utcnow()
        try:
            async with database.transaction() as session:
                session.add(
                    Installation(
                        id=f"ari:cloud:ecosystem::installation/{INSTALLATION}",
                        cloud_id="d0d52620-3203-4cfa-8db5-f2587155f0dd",
                        status="active",
                        activation_source="forge-development",
                        created_at=now,
                        updated_at=now,
                    )
                )
        finally:
            await database.dispose()

    asyncio.run(add())


def test_operator_tokens_are_created_listed_and_revoked(cli: CliRunner) -> None:
    created = cli.invoke(app, ["admin", "token", "create", "--name", "ci"])
    token = created.stdout.strip().splitlines()[-1]

    listed = cli.invoke(app, ["admin", "token", "list"])
    revoked = cli.invoke(app, ["admin", "token", "revoke", "1"])
    after = cli.invoke(app, ["admin", "token", "list"])
    again = cli.invoke(app, ["admin", "token", "revoke", "1"])

    assert created.exit_code == 0, created.output
    assert token.startswith("sc_admin_")
    assert len(token) >= len("sc_admin_") + 43
    assert "ci" in listed.stdout
    assert token not in listed.stdout  # only its display prefix
    assert revoked.exit_code == 0
    assert "ci" not in after.stdout
    assert again.exit_code == 1


def test_jira_connect_prints_the_authorize_url_and_status_reads_the_connection(cli: CliRunner) -> None:
    cli.invoke(app, ["migrate"])
    _add_installation()

    connected = cli.invoke(app, ["jira", "connect", INSTALLATION])
    status = cli.invoke(app, ["jira", "status", INSTALLATION])

    assert connected.exit_code == 0, connected.output
    url = httpx.URL(connected.stdout.strip().splitlines()[-1])
    assert url.host == "auth.atlassian.com"
    assert url.params["client_id"] == "cli-client"
    assert url.params["redirect_uri"] == "https://seecodes.example.com/v1/integrations/jira/callback"
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] == "none"


def test_jira_connect_refuses_an_unknown_installation(cli: CliRunner) -> None:
    result = cli.invoke(app, ["jira", "connect", INSTALLATION])

    assert result.exit_code == 1
    assert "No installation" in result.output


def test_jira_rotate_keys_reencrypts_stored_tokens_under_the_first_key(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    monkeypatch.setenv("SEECODES_JIRA_ENCRYPTION_KEYS", old_key.decode())
    get_settings.cache_clear()
    cli.invoke(app, ["migrate"])
    _add_installation()
    asyncio.run(_store_forge_token(Fernet(old_key).encrypt(b"system-token").decode()))
    monkeypatch.setenv("SEECODES_JIRA_ENCRYPTION_KEYS", f"{new_key.decode()},{old_key.decode()}")
    get_settings.cache_clear()

    rotated = cli.invoke(app, ["jira", "rotate-keys"])

    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 1 token(s)" in rotated.output
    stored = asyncio.run(_forge_ciphertext())
    assert Fernet(new_key).decrypt(stored.encode()) == b"system-token"
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(stored.encode())


async def _store_forge_token(ciphertext: str) -> None:
    database = Database(get_settings().effective_database_url)
    now = Clock().utcnow()
    try:
        async with database.transaction() as session:
            session.add(
                JiraForgeToken(
                    installation_id=f"ari:cloud:ecosystem::installation/{INSTALLATION}",
                    cloud_id="d0d52620-3203-4cfa-8db5-f2587155f0dd",
                    token_encrypted=ciphertext,
                    expires_at=now + timedelta(hours=1),
                    received_at=now,
                )
            )
    finally:
        await database.dispose()


async def _forge_ciphertext() -> str:
    database = Database(get_settings().effective_database_url)
    try:
        async with database.transaction() as session:
            return str(await session.scalar(select(JiraForgeToken.token_encrypted)))
    finally:
        await database.dispose()
