"""The OpenAPI document, held to the tools integrators use on it: Redocly's recommended rules and
Spectral's `spectral:oas` (no error, no warning), and two client generators
(`openapi-python-client` warns about nothing; `openapi-typescript`'s output compiles under
`tsc --strict`). The npm tools are pinned in tools/openapi/package.json (`npm ci` there; .ci/run
does it); openapi-python-client is a test dependency.

Also the conventions no linter knows: readable operationIds, the request-key headers, public
operations said to be public.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import openapi_document
from tests.support.tiers import tier_unavailable

pytestmark = pytest.mark.slow

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "openapi"
BIN = TOOLS / "node_modules" / ".bin"
# Not example.com: Redocly warns about a server URL left at a placeholder.
PUBLIC_BASE_URL = "https://seecodes.acme.test"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return openapi_document(tmp_path_factory.mktemp("openapi"), PUBLIC_BASE_URL)


@pytest.fixture(scope="module")
def document_file(document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openapi-file") / "openapi.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def _tool(name: str) -> Path:
    tool = BIN / name
    if not tool.exists() or shutil.which("node") is None:
        tier_unavailable(f"{tool} is missing: run `npm ci --prefix {TOOLS}` (needs Node.js 20)")
    return tool


def _run(*args: str | Path, cwd: Path = TOOLS) -> subprocess.CompletedProcess[str]:
    # The generator formats its output with ruff, found on PATH: this environment's.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_redocly_recommended_finds_no_error_and_no_warning(document_file: Path) -> None:
    linted = _run(
        _tool("redocly"), "lint", document_file, "--config", TOOLS / "redocly.yaml", "--format=json"
    )
    report = json.loads(linted.stdout)
    problems = [(p["ruleId"], p["severity"], p["location"][0]["pointer"]) for p in report["problems"]]
    assert problems == [], problems
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}


def test_spectral_oas_finds_nothing(document_file: Path) -> None:
    linted = _run(
        _tool("spectral"), "lint", document_file, "--ruleset", TOOLS / ".spectral.yaml", "--format", "json",
        "--fail-severity", "hint",
    )  # fmt: skip
    start = linted.stdout.find("[")
    assert start >= 0, linted.stdout + linted.stderr
    findings, _ = json.JSONDecoder().raw_decode(linted.stdout[start:])
    assert [(f["code"], ".".join(map(str, f["path"]))) for f in findings] == []


def test_openapi_python_client_generates_without_a_warning(document_file: Path, tmp_path: Path) -> None:
    generator = Path(sys.executable).with_name("openapi-python-client")
    if not generator.exists():
        tier_unavailable("openapi-python-client is missing: pip install -e '.[test]'")
    generated = _run(
        generator, "generate", "--path", document_file, "--output-path", tmp_path / "client", "--meta", "none",
        cwd=tmp_path,
    )  # fmt: skip
    said = generated.stdout + generated.stderr
    assert generated.returncode == 0, said
    for complaint in ("Warning", "Unable", "Error"):
        assert complaint not in said, said
    # The request-key bootstrap sends no body when given none (it used to send `Unset`).
    bootstrap = (tmp_path / "client" / "api" / "jira_app" / "create_request_key.py").read_text()
    assert "if not isinstance(body, Unset):" in bootstrap


def test_openapi_typescript_output_compiles_under_tsc_strict(document_file: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.d.ts"
    generated = _run(_tool("openapi-typescript"), document_file, "-o", schema)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (tmp_path / "tsconfig.json").write_text(
        json.dumps(
            {"compilerOptions": {"strict": True, "noEmit": True, "target": "ES2022"}, "files": [str(schema)]}
        )
    )
    compiled = _run(_tool("tsc"), "-p", tmp_path / "tsconfig.json")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    text = schema.read_text()
    # The successor header is typed, not `unknown`; run statuses are a union, not `string`.
    assert '"X-SeeCodes-Next-Request-Key"?: string;' in text
    assert '"initialized" | "awaiting_approval" | "queued" | "in_process"' in text


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_operation_ids_are_readable_and_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"[a-z][a-zA-Z]+", i)] == []
    for expected in (
        "createRequestKey",
        "getInstance",
        "mintLaunchLink",
        "exchangeLaunchCode",
        "saveProgress",
    ):
        assert expected in ids
    assert {"initRun", "startRun", "getRun", "getOpenApiDocument", "getApiDocsPage"} <= set(ids)


def test_every_operation_has_one_caller_surface_tag_and_a_description(document: dict[str, Any]) -> None:
    surfaces = {tag["name"] for tag in document["tags"]}
    for method, path, op in _operations(document):
        assert op["tags"], (method, path)
        assert set(op["tags"]) <= surfaces, (method, path)
        assert op["description"].strip(), (method, path)
    assert document["paths"]["/v1/jira/usage"]["get"]["tags"] == ["Jira App"]


def test_public_operations_say_so_and_the_others_name_their_credential(document: dict[str, Any]) -> None:
    public = {(m, p) for m, p, op in _operations(document) if op["security"] == []}
    assert {("get", "/healthz"), ("get", "/v1/models"), ("post", "/v1/security/launch-exchange")} <= public
    assert ("post", "/v1/tasks/init") not in public
    assert document["servers"] == [{"url": PUBLIC_BASE_URL, "description": "This server"}]


def _header(op: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in op.get("parameters", []) if p["in"] == "header" and p["name"] == name), None)


def test_the_request_key_is_required_where_leaving_it_out_is_always_refused(document: dict[str, Any]) -> None:
    name = "X-SeeCodes-Jira-Request-Key"
    instance = _header(document["paths"]["/v1/instances/me"]["get"], name)
    assert instance is not None
    assert instance["required"] is True
    assert instance["schema"]["type"] == "string"  # never null
    # Its presence tells the Jira App from the IDE on the progress read: optional there.
    progress = _header(document["paths"]["/v1/tasks/{taskId}/progress"]["get"], name)
    assert progress is not None
    assert not progress.get("required", False)
    # Operators call the connection routes without one.
    status = _header(document["paths"]["/v1/integrations/jira/status"]["get"], name)
    assert status is not None
    assert not status.get("required", False)


def test_every_jira_app_answer_declares_the_successor_key(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        spends = (
            _header(op, "X-SeeCodes-Jira-Request-Key") is not None or op["operationId"] == "createRequestKey"
        )
        for status, response in op["responses"].items():
            declared = "X-SeeCodes-Next-Request-Key" in response.get("headers", {})
            expected = (
                spends
                and status not in ("401", "default")
                and not (op["operationId"] == "createRequestKey" and status != "200")
            )
            assert declared == expected, (method, path, status)


def test_error_codes_are_enums_per_status_with_typed_extras(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "request_key_replayed" in schemas["ForbiddenError"]["properties"]["error"]["enum"]
    payment = schemas["PaymentRequiredError"]
    assert set(payment["properties"]["error"]["enum"]) == {"insufficient_credits", "budget_exceeded"}
    # Each 402 code adds its own extras, so none is required of both; every one is typed.
    for extra in ("requiredCredits", "availableCredits", "shortfall", "spentCredits", "monthlyCredits"):
        assert payment["properties"][extra]["type"] == "integer", extra
    assert payment["properties"]["budgetScope"]["enum"] == ["installation", "project"]
    assert schemas["ConflictError"]["properties"]["missing"]["items"] == {"type": "string"}
    fields = schemas["ValidationFailedError"]["properties"]["fields"]
    assert fields["items"] == {"$ref": "#/components/schemas/FieldError"}
    start = document["paths"]["/v1/tasks/{runId}/start"]["post"]["responses"]
    assert start["402"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaymentRequiredError")
    assert "Retry-After" in start["503"]["headers"]


def test_always_present_fields_are_required_and_closed_values_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "ok" in schemas["StartRunResponse"]["required"]
    assert schemas["StartRunResponse"]["properties"]["status"] == {"$ref": "#/components/schemas/RunStatus"}
    assert schemas["StoredProgress"]["properties"]["confidence"]["enum"] == ["Low", "Medium", "High"]
    assert schemas["InstanceResponse"]["properties"]["billingMode"]["enum"] == ["forge", "operator"]
    # /readyz leaves `degraded` out when nothing is degraded: not required.
    assert schemas["Readiness"]["required"] == ["ok"]
