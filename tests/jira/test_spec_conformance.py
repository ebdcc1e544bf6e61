"""The spec check itself refuses what Atlassian's description refuses: a check that cannot fail
would hold the connector to nothing. (Every connector test's requests go through it when its
`atlassian` fixture ends, tests/jira/conftest.py.)"""

from __future__ import annotations

import json

from tests.support import jira_spec
from tests.support.fake_atlassian import JiraCall


def _call(method: str, path: str, query: str = "", body: object = None) -> JiraCall:
    raw = b"" if body is None else json.dumps(body).encode()
    return JiraCall(method, path, query, raw, "application/json" if raw else "", via_forge_token=False)


def test_the_requests_the_connector_makes_pass() -> None:
    assert jira_spec.problems(_call("GET", "/rest/api/3/project/search", "startAt=0&maxResults=50")) == []
    assert jira_spec.problems(_call("GET", "/rest/api/3/issue/createmeta/AUTH/issuetypes/10001")) == []
    comment = {"body": {"type": "doc", "version": 1, "content": []}}
    assert jira_spec.problems(_call("POST", "/rest/api/3/issue/AUTH-1/comment", body=comment)) == []


def test_a_deprecated_removed_operation_outside_our_scopes_is_refused() -> None:
    found = " | ".join(jira_spec.problems(_call("GET", "/rest/api/3/priority/search", "projectId=10000")))
    assert "deprecated" in found
    assert "removed as of 2024-11-22" in found
    assert "manage:jira-configuration" in found


def test_an_unknown_operation_and_bad_parameters_are_refused() -> None:
    assert "no such operation" in " ".join(jira_spec.problems(_call("GET", "/rest/api/3/nowhere/at/all")))
    assert jira_spec.problems(_call("GET", "/rest/api/3/project/search", "maxResults=many"))
    # The document leaves a comment's ADF body open (ADF has its own schema), but not its visibility.
    hidden = {"body": {"type": "doc", "version": 1, "content": []}, "visibility": {"type": "nobody"}}
    assert jira_spec.problems(_call("POST", "/rest/api/3/issue/AUTH-1/comment", body=hidden))


def test_write_operations_need_write_scope_which_we_ask_for() -> None:
    scopes = jira_spec.scopes_of(
        _call("PUT", "/rest/api/3/issue/AUTH-1/properties/seecodes-progress", body={})
    )
    assert ["write:jira-work"] in scopes
