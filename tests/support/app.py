"""Settings and the runtime of an app under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from seecodes.config import Settings
from seecodes.runtime import Runtime
from tests.support.forge import TEST_APP_ID, FakeForge

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789abcdef"


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


def runtime_of(application: FastAPI) -> Runtime:
    runtime: Runtime = application.state.runtime
    return runtime
