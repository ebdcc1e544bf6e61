"""DESIGN.md §4 rule 10: no FIT, key, code or permit in any log line, errors included; and the
lines an operator needs are there, in the format the deployment reads."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from seecodes.kit.logging import redact
from tests.support.app import TEST_SECRET
from tests.support.forge import FakeForge, JiraAppClient
from tests.support.live_server import LiveServer, server_env


async def test_no_credential_reaches_a_log_line(
    jira: JiraAppClient, client: httpx.AsyncClient, forge: FakeForge, log_lines: io.StringIO
) -> None:
    secrets: list[str] = []
    fit = forge.fit()
    secrets.append(fit)
    await jira.bootstrap()
    secrets.append(str(jira.request_key))
    link = (
        await jira.call("POST", "/v1/security/vscode-link", json={"projectId": "AUTH", "taskId": "AUTH-128"})
    ).json()
    secrets += [str(jira.request_key), link["launchCode"]]
    await client.get("/v1/launch", params={"p": "AUTH", "t": "AUTH-128", "c": link["launchCode"]})
    permit = (
        await client.post(
            "/v1/security/launch-exchange",
            json={"code": link["launchCode"], "projectId": "AUTH", "taskId": "AUTH-128"},
        )
    ).json()["permit"]
    secrets.append(permit)
    # Failures log too: a replayed code, a replayed key, a bad permit, a validation error.
    await client.post(
        "/v1/security/launch-exchange",
        json={"code": link["launchCode"], "projectId": "AUTH", "taskId": "AUTH-128"},
    )
    await client.get(
        "/v1/instances/me",
        headers={"Authorization": f"Bearer {fit}", "X-SeeCodes-Jira-Request-Key": secrets[1]},
    )
    await client.post("/v1/tasks/AUTH-128/progress", headers={"Authorization": f"Bearer {permit}x"}, json={})
    await client.post(
        "/v1/security/launch-exchange",
        json={"code": link["launchCode"] + "!", "projectId": "A", "taskId": "B"},
    )

    output = log_lines.getvalue()
    assert output.count('"event": "request"') == 8  # the access lines really were captured
    for secret in secrets:
        assert secret not in output
        assert secret[-20:] not in output


def test_redaction_catches_credentials_in_free_text() -> None:
    text = "failed for sc_launch_abcdefghijklmnop and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-part_1"

    cleaned = redact(text)

    assert "abcdefghijklmnop" not in cleaned
    assert "eyJzdWIiOiJ4In0" not in cleaned


def test_dev_logs_written_to_a_file_carry_no_colour_codes(tmp_path: Path) -> None:
    script = (
        "from seecodes.kit.logging import configure_logging, get_logger\n"
        "configure_logging(json_lines=False)\n"
        "get_logger('seecodes.test').warning('plain_please', detail='x')\n"
    )
    with (tmp_path / "log.txt").open("w") as log:
        subprocess.run([sys.executable, "-c", script], stderr=log, check=True, timeout=60)
    written = (tmp_path / "log.txt").read_text()
    assert "plain_please" in written
    assert "\x1b[" not in written


@pytest.mark.slow
def test_with_several_processes_the_supervisor_logs_each_child_dying_and_its_replacement(
    forge: FakeForge, tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "seecodes.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = server_env(
        forge,
        database_url=f"sqlite:///{database}",
        var_dir=tmp_path / "var",
        secret=TEST_SECRET,
        SEECODES_RUN_EXECUTION="workers",
    )
    log_path = tmp_path / "server.log"
    with LiveServer(env, workers=2, log_path=log_path) as live:
        deadline = time.monotonic() + 60
        while len(started := _said(log_path, "Started server process")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        victim = started[0]
        os.kill(victim, signal.SIGKILL)
        while victim not in _said(log_path, "Child process") and time.monotonic() < deadline:
            time.sleep(0.2)
        while len(_said(log_path, "Started server process")) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(f"{live.base_url}/healthz", timeout=10).status_code == 200

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    said = {line["event"]: line for line in lines if line.get("logger") == "uvicorn.error"}
    # Outside dev every line is JSON, the supervisor's included.
    assert f"Started parent process [{live.process.pid if live.process else 0}]" in said
    assert said[f"Child process [{victim}] died"]["level"] == "info"
    assert len(set(_said(log_path, "Started server process")) - {victim}) == 2  # its replacement


def _said(log_path: Path, opening: str) -> list[int]:
    """The pids named by the supervisor's lines that open with `opening` ("… [pid] …")."""
    pids = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and (event := json.loads(line)["event"]).startswith(opening):
            pids.append(int(event.split("[", 1)[1].split("]", 1)[0]))
    return pids
