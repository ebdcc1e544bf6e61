"""Bad input gets the envelope and a 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.app import runtime_of
from tests.support.forge import JiraAppClient


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await jira.permit()


def _assert_envelope(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert response.headers["x-request-id"]


async def test_malformed_json_is_422(client: httpx.AsyncClient, permit: str) -> None:
    response = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {permit}", "Content-Type": "application/json"},
        content=b'{"progress": "4',
    )

    _assert_envelope(response, 422)


async def test_wrong_types_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/security/launch-exchange", json={"code": 5, "projectId": [], "taskId": None}
    )

    _assert_envelope(response, 422)
    assert {tuple(field["loc"]) for field in response.json()["fields"]} == {
        ("body", "code"),
        ("body", "projectId"),
        ("body", "taskId"),
    }


async def test_validation_errors_never_echo_the_input(client: httpx.AsyncClient) -> None:
    secret_looking = "sc_launch_" + "S" * 43 + "!"

    response = await client.post(
        "/v1/security/launch-exchange", json={"code": secret_looking, "projectId": "A", "taskId": "A-1"}
    )

    _assert_envelope(response, 422)
    assert secret_looking not in response.text


async def test_unknown_fields_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/security/launch-exchange",
        json={"code": "sc_launch_" + "A" * 43, "projectId": "A", "taskId": "A-1", "extra": 1},
    )

    _assert_envelope(response, 422)


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/security/launch-exchange",
        content=b"x" * (2 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )

    _assert_envelope(response, 413)
    assert response.json()["error"] == "payload_too_large"


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB with no Content-Length

    response = await client.post(
        "/v1/security/launch-exchange", content=chunks(), headers={"Content-Type": "application/json"}
    )

    _assert_envelope(response, 413)


async def test_huge_lists_are_422(client: httpx.AsyncClient, permit: str) -> None:
    response = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {permit}"},
        json={"progress": "1%", "confidence": "Low", "logs": ["x"] * 50_000},
    )

    _assert_envelope(response, 422)


async def test_overlong_ids_and_odd_characters_are_422(client: httpx.AsyncClient) -> None:
    for project in ("A" * 129, "A/../B", "", "A B", "ÄÖ"):
        response = await client.post(
            "/v1/security/launch-exchange",
            json={"code": "sc_launch_" + "A" * 43, "projectId": project, "taskId": "A-1"},
        )
        _assert_envelope(response, 422)


async def test_unknown_route_and_wrong_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    _assert_envelope(await client.get("/v1/nothing-here"), 404)
    _assert_envelope(await client.delete("/v1/security/launch-exchange"), 405)


async def test_garbage_authorization_headers_are_401(client: httpx.AsyncClient) -> None:
    for value in ("Bearer", "Basic abc", "Bearer " + "a" * 9000, "Bearer a.b.c", "Bearer ey.ey.ey"):
        _assert_envelope(await client.post("/v1/jira/request-key", headers={"Authorization": value}), 401)
        _assert_envelope(await client.get("/v1/tasks/context", headers={"Authorization": value}), 401)


async def test_incoming_request_id_is_echoed_when_safe(client: httpx.AsyncClient) -> None:
    kept = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    replaced = await client.get("/healthz", headers={"X-Request-Id": "bad id<script>"})

    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] != "bad id"


async def test_a_body_that_is_not_utf8_is_422(client: httpx.AsyncClient, permit: str) -> None:
    # Found by the fuzzer: FastAPI's own answer is a 400 that no operation documents.
    response = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {permit}", "Content-Type": "application/json"},
        content=b'{"progress": "\xff\xfe"}',
    )

    _assert_envelope(response, 422)
    assert response.json()["fields"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("risk", ["before\u0000after", "\ud800"], ids=["nul", "lone surrogate"])
async def test_text_no_database_can_store_is_422(client: httpx.AsyncClient, permit: str, risk: str) -> None:
    # Found by the fuzzer: PostgreSQL refused the INSERT (500); SQLite stored NUL silently.
    response = await client.post(
        "/v1/tasks/AUTH-128/progress",
        headers={"Authorization": f"Bearer {permit}", "Content-Type": "application/json"},
        content=json.dumps({"progress": "1%", "confidence": "Low", "risks": [risk]}).encode(),
    )

    _assert_envelope(response, 422)


async def test_free_form_documents_refuse_nul_keys_and_huge_numbers(jira: JiraAppClient) -> None:
    # Found by the fuzzer: a 500 on PostgreSQL (JSONB refuses U+0000) and on both databases
    # (an integer beyond 64 bits broke the document size check).
    for context in ({"key\u0000": "value"}, {"attachments": [2**70]}):
        response = await jira.call(
            "POST",
            "/v1/security/vscode-link",
            content=json.dumps({"projectId": "AUTH", "taskId": "AUTH-128", "jiraContext": context}).encode(),
            headers={"Content-Type": "application/json"},
        )

        _assert_envelope(response, 422)


def _cursor(created_at: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, run_id]).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("2026-11-30T10:00:00", "run_x"),  # a naive datetime: ours always carry an offset
        _cursor("not a date", "run_x"),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        "%%%",
    ],
)
async def test_a_forged_runs_cursor_is_422(client: httpx.AsyncClient, permit: str, cursor: str) -> None:
    response = await client.get(
        "/v1/tasks/runs", params={"cursor": cursor}, headers={"Authorization": f"Bearer {permit}"}
    )

    _assert_envelope(response, 422)


async def test_a_last_event_id_beyond_64_bits_is_422(client: httpx.AsyncClient, permit: str) -> None:
    run = (await client.post("/v1/tasks/init", headers={"Authorization": f"Bearer {permit}"}, json={})).json()

    response = await client.get(
        f"/v1/tasks/{run['runId']}/events",
        headers={"Authorization": f"Bearer {permit}", "Last-Event-ID": str(2**63)},
    )

    _assert_envelope(response, 422)


async def test_a_client_that_leaves_mid_upload_is_an_info_line_and_stores_nothing(
    app: FastAPI, client: httpx.AsyncClient, permit: str, log_lines: io.StringIO
) -> None:
    run = (await client.post("/v1/tasks/init", headers={"Authorization": f"Bearer {permit}"}, json={})).json()
    url = httpx.URL(run["uploads"]["list.md"])
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"- [ ] half of", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/octet-stream")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)

    logged = log_lines.getvalue()
    assert "client_disconnected" in logged
    assert "unhandled_error" not in logged
    assert "Traceback" not in logged
    assert await runtime_of(app).storage.size(f"{run['prefix']}input/list.md") is None
