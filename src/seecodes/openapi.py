"""The OpenAPI document's conventions, applied once to what FastAPI generates.

Routes say what they take and answer (their dependencies, response models, `responses(...)` from
`seecodes.errors`); this module adds what holds for every operation alike, so no route repeats it:

- `security: []` on every operation that declares no credential: it is public, said explicitly;
- the request-key headers: the current key `required` where leaving it out is always refused,
  its successor declared on every answer (errors included) of an operation that spends one;
- optional headers and query parameters are absent, never `null`;
- `Retry-After` declared on 429 and 503;
- error bodies documented as `application/json` on every route (they are sent so, whatever the
  route's own media type);
- `servers`, `contact`, `license`, one tag per caller surface, and the two documentation routes.

Kept in step with Redocly's recommended rules, Spectral's `spectral:oas` and two generators by
`tests/test_openapi_lint.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from seecodes.config import Settings
from seecodes.error_bodies import ErrorEnvelope
from seecodes.errors import RETRY_AFTER_STATUSES
from seecodes.kit.http import NEXT_REQUEST_KEY_HEADER

# Marks on a parameter's schema (set by `security.deps`), turned into the document's own terms here.
REQUIRED_MARK = "x-seecodes-required"
ROTATES_MARK = "x-seecodes-rotates-request-key"

JIRA_APP = "Jira App"
IDE = "IDE"
BROWSER = "Browser"
STORAGE = "Storage"
SYSTEM = "System"
LEGACY = "Legacy bridge"
SHARED = "Share links"

TAGS = [
    {
        "name": JIRA_APP,
        "description": "Called by the Forge Jira App with its invocation token (FIT) and the current "
        "single-use request key. The Jira connection routes also take an operator token "
        "(`seecodes admin token create`) with `installationId`.",
    },
    {
        "name": IDE,
        "description": "Called by the VS Code / Cursor extension with a task permit bound to one "
        "project and task, after it exchanged its launch code.",
    },
    {
        "name": BROWSER,
        "description": "Pages a person opens in a browser: the launcher and the Jira connection.",
    },
    {
        "name": STORAGE,
        "description": "The signed upload and download URLs the run routes hand out (local storage "
        "only; with S3 they point at the bucket). Use each URL exactly as given.",
    },
    {
        "name": SHARED,
        "description": "Read-only views of one run for anyone holding its share link (the token in "
        "the path is the credential; the IDE mints it with `POST /v1/tasks/{runId}/share`).",
    },
    {"name": SYSTEM, "description": "Probes, metrics and this document."},
    {
        "name": LEGACY,
        "description": "The pre-Forge instance-key bridge; 404 unless `SEECODES_LEGACY_BRIDGE_ENABLED`.",
    },
]

_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 0},
}
NEXT_KEY_HEADER = {
    "description": "The successor of the request key this request spent: send it with the next call "
    "of this chain. Present on every answer once the key was accepted, errors included; a call "
    "that loses it loses the chain (bootstrap again with `createRequestKey`).",
    "schema": {"type": "string"},
}

# What any route can answer whatever it does: the body limit, and shedding at capacity.
_ANY_ROUTE = {
    "413": {
        "description": "`payload_too_large`",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PayloadTooLargeError"}}},
    },
    "503": {
        "description": "`service_unavailable`",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceUnavailableError"}}},
    },
}

_ANY_OTHER_ERROR = {
    "description": "Any other status: the error envelope.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
}

_DOCUMENTATION_PATHS: dict[str, Any] = {
    "/openapi.json": {
        "get": {
            "tags": [SYSTEM],
            "operationId": "getOpenApiDocument",
            "summary": "This document",
            "description": "The OpenAPI 3.1 description of every operation, for client generators.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **_ANY_ROUTE,
            },
        }
    },
    "/docs": {
        "get": {
            "tags": [SYSTEM],
            "operationId": "getApiDocsPage",
            "summary": "Interactive documentation",
            "description": "Swagger UI for this document, served with its assets by this server "
            "(no CDN). ReDoc is at `/redoc`.",
            "security": [],
            "responses": {
                "200": {"description": "The page.", "content": {"text/html": {"schema": {"type": "string"}}}},
                **_ANY_ROUTE,
            },
        }
    },
}


def operation_id(route: APIRoute) -> str:
    """A route without an explicit `operation_id` is named after its handler, in camelCase."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def install(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Apply the conventions to FastAPI's document (in place) and return it."""
    document["info"]["contact"] = {"name": "The operators of this server", "url": settings.public_base_url}
    document["info"]["license"] = {
        "name": "Proprietary",
        "identifier": "LicenseRef-seecodes-proprietary",
    }
    document["servers"] = [{"url": settings.public_base_url, "description": "This server"}]
    document["tags"] = TAGS
    document["paths"] = {**copy.deepcopy(_DOCUMENTATION_PATHS), **document.get("paths", {})}
    document["components"]["schemas"]["ErrorEnvelope"] = ErrorEnvelope.model_json_schema()
    for operations in document["paths"].values():
        for operation in operations.values():
            _finish_operation(operation)
    return document


def _finish_operation(operation: dict[str, Any]) -> None:
    operation.setdefault("security", [])
    # Whatever status a route does not list (405, 406, 415, …) is the envelope too.
    operation["responses"].setdefault("default", copy.deepcopy(_ANY_OTHER_ERROR))
    rotates = False
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        rotates |= bool(schema.pop(ROTATES_MARK, False))
        if schema.pop(REQUIRED_MARK, False):
            parameter["required"] = True
        if parameter["in"] in ("header", "query"):
            _drop_null(parameter)
    for status, response in operation.get("responses", {}).items():
        content = response.get("content")
        if status[:1] in "45" and content and "application/json" not in content:
            schema = next(iter(content.values())).get("schema", {})
            response["content"] = {"application/json": {"schema": schema}}
        if not status.isdigit():
            continue  # `default`: statuses refused before any route work (405, 406, 415)
        headers = response.setdefault("headers", {})
        if int(status) in RETRY_AFTER_STATUSES:
            headers["Retry-After"] = _RETRY_AFTER
        # A 401 is refused before any key is looked at: it carries no successor.
        if rotates and status != "401":
            headers[NEXT_REQUEST_KEY_HEADER] = NEXT_KEY_HEADER
        if not headers:
            del response["headers"]


def _drop_null(parameter: dict[str, Any]) -> None:
    """`str | None = None` in a signature documents `anyOf: [string, null]`; a header or query
    parameter is either sent or not, so generators should see `string`, optional."""
    schema = parameter["schema"]
    variants = schema.get("anyOf")
    if not variants:
        return
    kept = [variant for variant in variants if variant != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(variants):
        del schema["anyOf"]
        schema.update(kept[0])
        if schema.get("default", "") is None:
            del schema["default"]
