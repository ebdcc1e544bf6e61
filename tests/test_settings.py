"""Startup refusals in production, and the dev default that trusts a local key pair."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from seecodes.app import create_app
from seecodes.config import DEV_FORGE_APP_ID, Settings, SettingsError, get_settings
from seecodes.security.dev_keys import load_or_create_private_key, mint_forge_token
from tests.support.forge import CLOUD_A, INSTALLATION_A, USER_A

SAFE = {
    "env": "production",
    "secret_key": "a-real-secret-a-real-secret-a-real-secret",
    "forge_app_id": "ari:cloud:ecosystem::app/8db33809-1f32-48bb-8c52-5877dab48107",
    "forge_jwks_url": "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json",
    "database_url": "postgresql+psycopg://postgres@127.0.0.1/seecodes",
    "public_base_url": "https://seecodes.example.com",
}


def test_production_with_safe_settings_starts() -> None:
    assert Settings(**SAFE).is_production


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"secret_key": "change-me"}, "SEECODES_SECRET_KEY"),
        ({"secret_key": "short"}, "SEECODES_SECRET_KEY"),
        ({"forge_app_id": ""}, "SEECODES_FORGE_APP_ID"),
        ({"forge_jwks_url": "http://forge.example.com/jwks.json"}, "SEECODES_FORGE_JWKS_URL"),
        ({"forge_jwks_url": "/etc/jwks.json"}, "SEECODES_FORGE_JWKS_URL"),
        ({"database_url": ""}, "SEECODES_DATABASE_URL"),
        ({"previous_secret_keys": "change-me"}, "SEECODES_PREVIOUS_SECRET_KEYS entry 1"),
        ({"previous_secret_keys": "a-real-secret-a-real-secret-a-real-secret-2,short"}, "entry 2"),
    ],
)
def test_production_refuses_unsafe_settings(change: dict[str, str], complaint: str) -> None:
    with pytest.raises(SettingsError, match=complaint):
        Settings(**{**SAFE, **change})


def test_production_needs_the_public_base_url_said() -> None:
    unsaid = {name: value for name, value in SAFE.items() if name != "public_base_url"}

    with pytest.raises(SettingsError, match="SEECODES_PUBLIC_BASE_URL"):
        Settings(**unsaid)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEECODES_LAUNCH_BASEURL_ALLOWLIST", "https://a.example.com/, https://b.example.com")
    monkeypatch.setenv("SEECODES_REQUEST_KEY_TTL_SECONDS", "120")
    monkeypatch.setenv("SEECODES_LEGACY_BRIDGE_ENABLED", "true")

    settings = Settings()

    assert settings.launch_baseurl_allowlist == ["https://a.example.com", "https://b.example.com"]
    assert settings.request_key_ttl_seconds == 120
    assert settings.legacy_bridge_enabled is True
    assert settings.extension_id == "eprojac.seecodes-task-runner"
    assert settings.permit_ttl_seconds == 86400


def test_test_env_without_jwks_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError):
        create_app(Settings(env="test", var_dir=tmp_path, forge_app_id="x", secret_key="s" * 40))


async def test_dev_generates_a_local_key_pair_and_trusts_it(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "dev.db"
    shutil.copyfile(sqlite_template, database)
    settings = Settings(env="dev", var_dir=tmp_path / "var", database_url=f"sqlite:///{database}")
    app = create_app(settings)
    key = load_or_create_private_key(settings.dev_forge_key_path)
    token = mint_forge_token(
        key,
        app_id=DEV_FORGE_APP_ID,
        installation_id=INSTALLATION_A,
        cloud_id=CLOUD_A,
        principal=USER_A,
        now=_now(),
    )

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dev") as client:
        response = await client.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {token}"})

    assert settings.dev_forge_key_path.exists()
    assert (tmp_path / "var" / "dev-secret-key").exists()
    assert response.status_code == 200
    await app.state.runtime.close()


def _now() -> int:
    import time

    return int(time.time())


@pytest.mark.parametrize("env", ["test", "dev"])
async def test_no_environment_signs_or_accepts_a_permit_with_the_placeholder_secret(
    env: str, tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "seecodes.db"
    shutil.copyfile(sqlite_template, database)
    settings = Settings(
        env=env,
        var_dir=tmp_path / "var",
        database_url=f"sqlite:///{database}",
        previous_secret_keys="change-me",  # a placeholder among the previous keys verifies nothing either
    )

    secrets = settings.signing_secrets()

    assert b"change-me" not in secrets
    assert len(secrets) == 1
    assert len(secrets[0]) >= 32
    assert settings.secret_key_bytes() == secrets[0]  # also what the Jira token key derives from


def test_a_bad_value_is_one_sentence_naming_the_variable_what_it_got_and_what_it_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEECODES_DATABASE_POOL_SIZE", "abc")
    monkeypatch.setenv("SEECODES_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("SEECODES_JIRA_ENCRYPTION_KEYS", "not-a-fernet-key-xxxxx")  # refused, never echoed
    with pytest.raises(SettingsError) as refused:
        get_settings()
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("SEECODES_DATABASE_POOL_SIZE: got 'abc'; input should be a valid integer")
    assert any(line.startswith("SEECODES_LOG_LEVEL: got 'LOUD'; input should be 'DEBUG'") for line in lines)
    assert any(line.startswith("SEECODES_JIRA_ENCRYPTION_KEYS:") for line in lines)
    assert "xxxxx" not in str(refused.value)


def test_log_level_in_any_case_and_postgres_scheme_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEECODES_LOG_LEVEL", "warning")
    monkeypatch.setenv("SEECODES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    settings = get_settings()
    assert settings.log_level == "WARNING"
    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/test"
