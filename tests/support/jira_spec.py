"""Holds the connector's Jira requests to Atlassian's own description of the REST API v3
(`../shared/reference/jira-platform-v3.openapi.json`).

For each request the fake Atlassian recorded: the operation exists for that method and path, it is
neither deprecated nor announced as removed (`x-changes`), its query parameters, path parameters and
JSON body validate against the operation's schemas (openapi-core, with the document's components),
and one of its OAuth 2.0 requirements is met by the scopes the connection asks for
(`seecodes.jira.client.SCOPES`). Forge app system tokens are held to the same scopes: the Jira
App's manifest declares no more.

Atlassian's document does not validate as a whole (one enum default is ''), so openapi-core is told
not to check the document itself; each request is still checked against it.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest

from seecodes.jira.client import SCOPES
from tests.support.fake_atlassian import JiraCall

DOCUMENT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "jira-platform-v3.openapi.json"
SERVER = "https://your-domain.atlassian.net"  # the document's server; paths are below it


@cache
def _api() -> OpenAPI:
    return OpenAPI.from_dict(json.loads(DOCUMENT.read_text()), config=Config(spec_validator_cls=None))


def _request(call: JiraCall) -> MockRequest:
    return MockRequest(
        SERVER,
        call.method.lower(),
        call.path,
        args=_query(call.query),
        data=call.body or None,
        content_type=call.content_type.split(";")[0] or "application/json",
    )


def _query(raw: str) -> dict[str, Any]:
    # openapi-core reads one value per name from a plain dict; a repeated name keeps its list.
    return {name: values[0] if len(values) == 1 else values for name, values in parse_qs(raw).items()}


def operation_of(call: JiraCall) -> dict[str, Any]:
    found = APICallPathFinder(_api().spec, base_url=None).find(call.method.lower(), f"{SERVER}{call.path}")
    operation: dict[str, Any] = found.operation.read_value()  # type: ignore[attr-defined]
    return operation


def problems(call: JiraCall) -> list[str]:
    """What is wrong with this request by Atlassian's description (nothing: an empty list)."""
    where = f"{call.method} {call.path}"
    if not DOCUMENT.exists():  # ../shared beside the checkout, as in CI: say so, not "no such operation"
        raise FileNotFoundError(f"Atlassian's description is missing: {DOCUMENT}")
    try:
        operation = operation_of(call)
    except Exception as error:  # the finder raises per kind: no such path, method or server
        return [f"{where}: no such operation ({type(error).__name__})"]
    found: list[str] = []
    name = operation.get("operationId", "?")
    if operation.get("deprecated"):
        found.append(f"{where} ({name}) is deprecated")
    for change in operation.get("x-changes", []):
        if change.get("type") == "removed":
            found.append(
                f"{where} ({name}) is removed as of {change.get('effective')}: {change.get('details')}"
            )
    oauth = [set(entry["OAuth2"]) for entry in operation.get("security", []) if "OAuth2" in entry]
    if not any(needed <= set(SCOPES) for needed in oauth):
        found.append(
            f"{where} ({name}) needs OAuth 2.0 scopes {oauth or 'none offered'}; we ask for {SCOPES}"
        )
    try:
        with warnings.catch_warnings():
            # openapi-core checks no OAuth 2.0 requirement (it warns so); the scopes are checked above.
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            _api().validate_request(_request(call))
    except Exception as error:
        details = getattr(error, "__cause__", None) or error
        found.append(f"{where} ({name}): {type(error).__name__}: {error} ({details})")
    return found


def scopes_of(call: JiraCall) -> list[list[str]]:
    """The OAuth 2.0 requirements of the request's operation (for the closing note's list)."""
    return [entry["OAuth2"] for entry in operation_of(call).get("security", []) if "OAuth2" in entry]
