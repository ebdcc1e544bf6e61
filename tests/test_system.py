"""Health, metrics and the OpenAPI document every client generator reads."""

from __future__ import annotations

from pathlib import Path

import httpx

from seecodes.app import create_app
from tests.support.app import make_settings, runtime_of
from tests.support.forge import FakeForge

CONTRACT_ROUTES = {
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("post", "/v1/jira/request-key"),
    ("get", "/v1/instances/me"),
    ("post", "/v1/security/vscode-link"),
    ("post", "/v1/security/task-permit"),
    ("post", "/v1/security/launch-exchange"),
    ("get", "/v1/launch"),
    ("get", "/v1/tasks/context"),
    ("post", "/v1/tasks/{taskId}/progress"),
    ("get", "/v1/tasks/{taskId}/progress"),
    ("post", "/public/connect"),
}


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.json() == {"ok": True}
    assert response.headers["x-request-id"]


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/readyz")).json() == {"ok": True}


async def test_openapi_is_3_1_and_documents_every_route_of_this_milestone(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert spec["openapi"].startswith("3.1")
    assert CONTRACT_ROUTES - {("get", "/openapi.json")} <= documented
    link = spec["paths"]["/v1/security/vscode-link"]["post"]
    assert link["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "401", "403", "422"} <= set(link["responses"])
    schemas = spec["components"]["schemas"]
    assert {"launchCode", "vscodeUrl", "httpsUrl", "expiresAt"} <= set(
        schemas["VscodeLinkResponse"]["properties"]
    )
    assert set(schemas["InstanceResponse"]["properties"]) >= {
        "ok",
        "cloudId",
        "status",
        "credits",
        "apiKeyPrefix",
        "updatedAt",
        "installationId",
        "capabilitySet",
        "licenseActive",
        "activationSource",
        "devModeActive",
        "billingMode",
        "siteUrl",
    }


async def test_swagger_ui_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/tasks/AUTH-1/progress")

    text = (await client.get("/metrics")).text

    assert (
        'seecodes_http_requests_total{method="GET",route="/v1/tasks/{taskId}/progress",status="401"}' in text
    )
    assert "seecodes_http_request_duration_seconds_bucket" in text


async def test_every_documented_error_is_the_json_envelope(client: httpx.AsyncClient) -> None:
    # FastAPI files error schemas under an HTML or text route's own media type; they are JSON.
    spec = (await client.get("/openapi.json")).json()

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, documented in operation["responses"].items():
                if status[0] in "45" or status == "default":
                    assert list(documented["content"]) == ["application/json"], (method, path, status)
                    reference = documented["content"]["application/json"]["schema"]["$ref"]
                    schema = spec["components"]["schemas"][reference.rsplit("/", 1)[1]]
                    assert {"ok", "error", "detail"} <= set(schema["required"]), (method, path, status)
                    assert schema["properties"]["ok"]["const"] is False
    launcher = spec["paths"]["/v1/launch"]["get"]["responses"]
    assert list(launcher["200"]["content"]) == ["text/html"]


async def test_every_operation_documents_the_body_limit(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert "413" in operation["responses"], (method, path)


async def test_a_storage_url_no_route_matches_is_documented(client: httpx.AsyncClient) -> None:
    # Found by the fuzzer: `{key:path}` does not match a line break, so the router answers 404.
    spec = (await client.get("/openapi.json")).json()
    response = await client.put("/v1/storage/seecodes-runs/runs/a%0Ab", content=b"x")

    assert response.status_code == 404
    assert response.json()["ok"] is False
    assert "404" in spec["paths"]["/v1/storage/{bucket}/{key}"]["put"]["responses"]


async def test_readyz_names_each_part_that_is_not_ready(
    forge: FakeForge, tmp_path: Path, sqlite_url: str
) -> None:
    # A real Redis URL that nothing answers on (port 9, discard): the rate-limit store is down.
    application = create_app(make_settings(forge, tmp_path, sqlite_url, redis_url="redis://127.0.0.1:9/0"))
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/readyz")
    finally:
        await runtime_of(application).close()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.json()
    assert body["error"] == "service_unavailable"
    assert body["detail"] == "Not ready: rate-limit store (Redis): not answering."
