"""API fuzzing (issue 5 §1; DESIGN.md §8): Schemathesis against the server's own /openapi.json.

Every operation the document lists is generated from its schema (the examples, coverage and
fuzzing phases; valid and invalid data) and sent over real HTTP to a `seecodes serve` process
(tests/fuzz/harness.py). Each call carries real credentials minted for it: a fresh FIT signed by
the test Forge key with the current key of a request-key chain (rotated from
`X-SeeCodes-Next-Request-Key`), a task permit bound to the project and task the case names (and a
real run id for some `{runId}` cases), or an operator token. A second pass sends the same
operations with no, malformed, forged, expired or mis-bound credentials.

Pass condition for every response: no 5xx; the status is documented for the operation; the body
and headers match the documented schema; every non-2xx body is the error envelope
(`seecodes.errors.ErrorEnvelope`); invalid input is refused; no operation that declares
credentials answers 2xx without them.

Bounded for CI (DESIGN.md §8, issue 5 §6): a fixed seed and `derandomize`, so a run is
reproducible; `FUZZ_EXAMPLES` per operation and mode; no shrinking (a failure prints the exact
request as curl). Both databases: SQLite (the embedded default) gets the full budget; PostgreSQL
gets one pass with a smaller budget, enough for the queries and constraints that differ there
(case-sensitive comparisons, JSON columns, integer bounds). Set SEECODES_FUZZ_EXAMPLES for a longer
local run, and
SEECODES_FUZZ_SEED to explore other inputs (reproducible with the same seed).
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.harness import INSTALLATION_A, PROJECT, PUBLIC_BASE_URL, TASK, FuzzStack, fuzz_stack
from tests.support.app import openapi_document
from tests.support.forge import REQUEST_KEY_HEADER, FakeForge
from tests.support.postgres import admin_connection
from tests.support.postgres import database_url as postgres_database_url

FUZZ_EXAMPLES = int(os.environ.get("SEECODES_FUZZ_EXAMPLES", "12"))
EXPLORE_SEED = os.environ.get("SEECODES_FUZZ_SEED")
SEED = int(EXPLORE_SEED or "20261122")
JIRA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
ENVELOPE_KEYS = {
    "ok",
    "error",
    "detail",
    "fields",
    "missing",
    "requiredCredits",
    "availableCredits",
    "shortfall",
}


def error_envelope(_ctx: Any, response: Any, case: Any) -> bool | None:
    """Every non-2xx answer is {"ok": false, "error": <code>, "detail": <sentence>} (+ documented extras)."""
    assert response.headers.get("x-request-id"), "every response carries X-Request-Id"
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {response.text[:200]}"
    assert body.get("ok") is False, f"`ok` must be false on {response.status_code}: {body}"
    for key in ("error", "detail"):
        assert isinstance(body.get(key), str), f"`{key}` must be a string: {body}"
        assert body[key], f"`{key}` must not be empty: {body}"
    assert set(body) <= ENVELOPE_KEYS, f"keys outside the envelope: {set(body) - ENVELOPE_KEYS}"
    return None


CHECKS: list[Callable[..., bool | None]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
    error_envelope,
]

# With bad credentials the refusal comes before any input is looked at, so the input checks and the
# auth probes have nothing to say there.
CREDENTIAL_CHECKS = [check for check in CHECKS if check not in (negative_data_rejection, ignored_auth)]


def _config(*, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": 30,
            # An event stream of an unsettled run is cut after this many events instead of hanging.
            "max-stream-events": 3,
            # The coverage phase walks every schema boundary (deterministic, a few dozen cases per
            # operation): the full pass only; the others sample.
            "phases": {"coverage": {"enabled": coverage}},
            "generation": {
                "mode": "all",
                "max-examples": FUZZ_EXAMPLES,
                "deterministic": True,
                # Unknown query parameters are ignored, as HTTP APIs do (cache busters, newer
                # clients); sent as "invalid data" they would expect a 4xx we never promised.
                "allow-extra-parameters": False,
                # The Authorization header is ours to set (real credentials); a generated one would be
                # replaced, turning a "negative" case into a valid one.
                "with-security-parameters": False,
            },
        }
    )


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=EXPLORE_SEED is None,  # with a seed, Schemathesis seeds Hypothesis itself
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


# -- the stacks --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_stack(
    forge: FakeForge, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzStack]:
    directory = tmp_path_factory.mktemp("fuzz-sqlite")
    database = directory / "seecodes.db"
    shutil.copyfile(sqlite_template, database)
    with fuzz_stack(forge, directory, f"sqlite:///{database}") as stack:
        yield stack


@pytest.fixture(scope="module")
def postgres_stack(
    forge: FakeForge, postgres_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzStack]:
    name = f"seecodes_fuzz_{uuid.uuid4().hex[:10]}"
    with admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        with fuzz_stack(
            forge, tmp_path_factory.mktemp("fuzz-postgres"), postgres_database_url(name)
        ) as stack:
            yield stack
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _openapi_document() -> dict[str, Any]:
    """The document the app factory publishes at /openapi.json, built without a server.

    Schemathesis' lazy (fixture-provided) schemas do not run under pytest 9, so the operations are
    collected from this document; `test_the_server_publishes_the_fuzzed_document` proves that the
    server under test serves exactly it.
    """
    # The document names its server: the one under test.
    return openapi_document(Path(tempfile.mkdtemp(prefix="seecodes-fuzz-schema-")), PUBLIC_BASE_URL)


def _without_request_key(document: dict[str, Any]) -> dict[str, Any]:
    """The request key is the harness's to send, like Authorization (`valid_headers` mints the
    current one, `invalid_headers` a wrong one): not a parameter to generate. Where the document
    says it is required, a generated "header missing" case would otherwise get the harness's valid
    key and then count as a negative case the server accepted."""
    fuzzed = copy.deepcopy(document)
    for item in fuzzed["paths"].values():
        for operation in item.values():
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p["name"].lower() != REQUEST_KEY_HEADER.lower()
            ]
    return fuzzed


DOCUMENT = _openapi_document()
FUZZED = _without_request_key(DOCUMENT)
schema = schemathesis.openapi.from_dict(FUZZED, config=_config(coverage=True))
sampled_schema = schemathesis.openapi.from_dict(FUZZED, config=_config(coverage=False))


def test_the_server_publishes_the_fuzzed_document(sqlite_stack: FuzzStack) -> None:
    served = httpx.get(f"{sqlite_stack.base_url}/openapi.json", timeout=10)

    assert served.status_code == 200
    assert served.json() == DOCUMENT


# -- credentials per case ------------------------------------------------------------------------------
class Credential(Enum):
    VALID = "valid"
    NONE = "none"
    MALFORMED = "malformed"
    FOREIGN_KEY = "forged: signed by a key Forge never published"
    EXPIRED = "expired FIT"
    WRONG_AUDIENCE = "FIT for another app"
    UNKNOWN_REQUEST_KEY = "made-up request key"
    OTHER_TASK_PERMIT = "permit of another task"


INVALID = [credential for credential in Credential if credential is not Credential.VALID]
_turns: dict[str, Iterator[int]] = {}


def _turn(label: str) -> int:
    """Deterministic alternation per operation (the run is derandomized, so the order is fixed)."""
    return next(_turns.setdefault(label, itertools.count()))


def _schemes(case: Any) -> set[str]:
    security = case.operation.definition.raw.get("security") or []
    return {name for requirement in security for name in requirement}


def _text(value: Any, default: str) -> str:
    return value if isinstance(value, str) and JIRA_ID.fullmatch(value) else default


def _negative_at(case: Any, location: ParameterLocation) -> bool:
    return case.meta is not None and case.meta.is_negative_at(location)


def _permit_headers(case: Any, stack: FuzzStack) -> dict[str, str]:
    """A permit bound to the project and task the case names; some run ids swapped for real ones."""
    path, query = case.path_parameters or {}, case.query or {}
    project = _text(path.get("projectId") or query.get("projectId"), PROJECT)
    task = _text(path.get("taskId"), TASK)
    permit = stack.credentials.permit(project, task) or stack.credentials.permit()
    if "runId" in path and not _negative_at(case, ParameterLocation.PATH):
        seeds = stack.seeds
        # An unsettled run's event stream never ends: only the finished run for /events.
        real = (
            [seeds.finished_run]
            if case.operation.path.endswith("/events")
            else [seeds.idle_run, seeds.finished_run]
        )
        choice = _turn(case.operation.label + "#run") % (len(real) + 1)
        if choice < len(real):
            path["runId"] = real[choice]
    return {"Authorization": f"Bearer {permit}"}


def _operator_headers(case: Any, stack: FuzzStack) -> dict[str, str]:
    if not _negative_at(case, ParameterLocation.QUERY):
        case.query = {"installationId": INSTALLATION_A, **(case.query or {})}
    return {"Authorization": f"Bearer {stack.credentials.operator_token}"}


def valid_headers(case: Any, stack: FuzzStack) -> dict[str, str]:
    """What the operation's `security` asks for, minted for this call."""
    schemes, turn = _schemes(case), _turn(case.operation.label)
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != REQUEST_KEY_HEADER.lower()}
    if "OperatorTokenOrForgeInvocationToken" in schemes or "OperatorToken" in schemes:
        return _operator_headers(case, stack) if turn % 2 == 0 else stack.credentials.jira_headers()
    if "TaskPermit" in schemes and ("ForgeInvocationToken" not in schemes or turn % 2 == 0):
        return _permit_headers(case, stack)
    if "ForgeInvocationToken" in schemes:
        return stack.credentials.jira_headers()
    return {}


@functools.cache
def _forger() -> FakeForge:
    """Same kid and claims as the trusted key, another private key."""
    return FakeForge.create(Path(tempfile.mkdtemp(prefix="seecodes-forger-")))


def invalid_headers(case: Any, stack: FuzzStack, credential: Credential) -> dict[str, str]:
    credentials = stack.credentials
    case.headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if k.lower() not in {"authorization", REQUEST_KEY_HEADER.lower()}
    }
    key = {REQUEST_KEY_HEADER: "sc_jira_req_" + "0" * 43}
    match credential:
        case Credential.NONE:
            return {}
        case Credential.MALFORMED:
            return {"Authorization": "Bearer not-a-token", **key}
        case Credential.FOREIGN_KEY:
            return {"Authorization": f"Bearer {_forger().fit()}", **key}
        case Credential.EXPIRED:
            return {"Authorization": f"Bearer {credentials.fit(now=int(time.time()) - 600)}", **key}
        case Credential.WRONG_AUDIENCE:
            other_app = "ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"
            return {"Authorization": f"Bearer {credentials.fit(app_id=other_app)}", **key}
        case Credential.UNKNOWN_REQUEST_KEY:
            return {"Authorization": f"Bearer {credentials.fit()}", **key}
        case Credential.OTHER_TASK_PERMIT:
            # Only where the case names a task, project or run: elsewhere any permit is valid.
            if not {"taskId", "projectId", "runId"} & set(case.path_parameters or {}):
                return {"Authorization": "Bearer not-a-token"}
            return {"Authorization": f"Bearer {credentials.permit('ZZZ', 'ZZZ-999')}"}
    raise AssertionError(credential)


def exercise(case: Any, stack: FuzzStack, credential: Credential) -> None:
    if credential is Credential.VALID:
        headers = valid_headers(case, stack)
    else:
        headers = invalid_headers(case, stack, credential)
    response = case.call(base_url=stack.base_url, headers=headers)
    stack.credentials.observe(response.headers)
    try:
        checks = CHECKS if credential is Credential.VALID else CREDENTIAL_CHECKS
        case.validate_response(response, headers=headers, checks=checks)
        # A credential this bad never opens a protected operation (for /v1/jira/request-key a
        # made-up key is irrelevant: it takes the FIT alone, and that one is valid).
        fit_alone = case.operation.path == "/v1/jira/request-key"
        irrelevant = credential is Credential.UNKNOWN_REQUEST_KEY and fit_alone
        if credential is not Credential.VALID and _schemes(case) and not irrelevant:
            assert response.status_code >= 400, f"{credential.value}: {response.status_code}"
        if response.status_code == 403 and response.json().get("error") == "request_key_replayed":
            raise AssertionError("a previous response spent the request key without returning its successor")
    except BaseException:
        print(f"--- server log (tail) ---\n{stack.server_log_tail()}")
        raise


# -- the tests -------------------------------------------------------------------------------------
@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_with_valid_credentials_sqlite(case: Any, sqlite_stack: FuzzStack) -> None:
    exercise(case, sqlite_stack, Credential.VALID)


@sampled_schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=max(5, FUZZ_EXAMPLES // 2))
@pytest.mark.postgres
def test_every_operation_with_valid_credentials_postgres(case: Any, postgres_stack: FuzzStack) -> None:
    exercise(case, postgres_stack, Credential.VALID)


@sampled_schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=len(INVALID))
def test_every_operation_refuses_bad_credentials(case: Any, sqlite_stack: FuzzStack) -> None:
    exercise(case, sqlite_stack, INVALID[_turn(case.operation.label + "#bad") % len(INVALID)])
