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


def openapi_document(var_dir: Path, public_base_url: str) -> dict[str, Any]:
    """The document the app factory publishes at /openapi.json, built without a server."""
    from seecodes.app import create_app

    app = create_app(
        Settings(
            env="test",
            var_dir=var_dir,
            database_url=f"sqlite:///{var_dir / 'unused.db'}",
            forge_jwks_url=str(var_dir / "jwks.json"),
            forge_app_id=TEST_APP_ID,
            secret_key=TEST_SECRET,
            public_base_url=public_base_url,
        )
    )
    return app.openapi()
