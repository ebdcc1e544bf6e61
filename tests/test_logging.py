"""DESIGN.md §4 rule 10: no FIT, key, code or permit in any log line, errors included."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx

from seecodes.kit.logging import redact
from tests.support.forge import FakeForge, JiraAppClient


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
