"""A first run as a new user makes it: `seecodes serve --port N` without SEECODES_PUBLIC_BASE_URL
hands out links for the address it serves, not for the default port."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.app import TEST_SECRET
from tests.support.forge import FakeForge
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow


def test_an_unset_public_base_url_follows_the_served_port(
    forge: FakeForge, tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEECODES_PUBLIC_BASE_URL", raising=False)
    database = tmp_path / "seecodes.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = server_env(
        forge, database_url=f"sqlite:///{database}", var_dir=tmp_path / "var", secret=TEST_SECRET
    )
    assert "SEECODES_PUBLIC_BASE_URL" not in {**os.environ, **env}

    with (
        LiveServer(env, log_path=tmp_path / "server.log") as live,
        httpx.Client(base_url=live.base_url) as http,
    ):
        fit = forge.fit()
        key = http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {fit}"}).json()[
            "requestKey"
        ]
        link = http.post(
            "/v1/security/vscode-link",
            headers={"Authorization": f"Bearer {forge.fit()}", "X-SeeCodes-Jira-Request-Key": key},
            json={"projectId": "AUTH", "taskId": "AUTH-128"},
        )

    assert link.status_code == 200, link.text
    assert link.json()["httpsUrl"].startswith(f"http://127.0.0.1:{live.port}/v1/launch?")
