"""bench/lean_server.py does the real work of each route it stands in for, on a database seeded
through seecodes itself: a benchmark against a reference that skips the work would flatter nobody.
SQLite, the lean server as its own process (as bench/lean_bench.py runs it)."""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.support.app import TEST_SECRET
from tests.support.forge import NEXT_KEY_HEADER, REQUEST_KEY_HEADER, FakeForge, JiraAppClient
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow

LEAN_SERVER = Path(__file__).resolve().parents[2] / "bench" / "lean_server.py"
PROGRESS = {"ready": ["a"], "left": ["b"], "progress": "45%", "confidence": "medium", "risks": [], "logs": []}


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: the lean server's own test (lean_bench.py covers PostgreSQL by running it)."""
    return sqlite_url


@pytest.fixture
def lean(forge: FakeForge, tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    env = server_env(forge, database_url=sqlite_url, var_dir=tmp_path / "lean-var", secret=TEST_SECRET)
    command = [sys.executable, str(LEAN_SERVER)]
    with LiveServer(env, log_path=tmp_path / "lean.log", command=command) as server:
        yield server


@pytest.fixture
async def http(lean: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=lean.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    """Minted by seecodes (in process, same database), used against the lean server."""
    return await jira.permit()


def path_of(n: int) -> str:
    return f"src/module/file{n:04d}.ts"


def hash_of(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def entry_of(n: int) -> dict[str, Any]:
    return {
        "hash": hash_of(n),
        "updatedAt": 1_710_000_000_000 + n,
        "short": f"Summary of file {n}",
        "detailed": "",
        "important_symbols": [f"Symbol{n}"],
        "dependencies": [],
        "exports": [],
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _rows(sqlite_url: str, sql: str) -> list[Any]:
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:
        return connection.execute(sql).fetchall()


async def test_progress_post_inserts_a_report(http: httpx.AsyncClient, permit: str, sqlite_url: str) -> None:
    before = _rows(sqlite_url, "SELECT count(*) FROM progress_reports")[0][0]

    answer = await http.post("/v1/tasks/AUTH-128/progress", headers=_auth(permit), json=PROGRESS)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True}
    assert _rows(sqlite_url, "SELECT count(*) FROM progress_reports")[0][0] == before + 1
    stored = _rows(
        sqlite_url,
        "SELECT task_id, progress, confidence, ready FROM progress_reports ORDER BY id DESC LIMIT 1",
    )
    assert stored == [("AUTH-128", "45%", "Medium", '["a"]')]


async def test_progress_post_for_another_task_is_refused(http: httpx.AsyncClient, permit: str) -> None:
    answer = await http.post("/v1/tasks/AUTH-999/progress", headers=_auth(permit), json=PROGRESS)

    assert answer.status_code == 403
    assert answer.json()["error"] == "permit_scope_mismatch"


async def test_request_key_is_single_use_and_its_successor_works(
    http: httpx.AsyncClient, forge: FakeForge
) -> None:
    fit = _auth(forge.fit(lifetime=120))
    first = (await http.post("/v1/jira/request-key", headers=fit)).json()["requestKey"]

    spent = await http.get("/v1/instances/me", headers={**fit, REQUEST_KEY_HEADER: first})
    successor = spent.headers[NEXT_KEY_HEADER]
    followed = await http.get("/v1/instances/me", headers={**fit, REQUEST_KEY_HEADER: successor})
    replayed = await http.get("/v1/instances/me", headers={**fit, REQUEST_KEY_HEADER: first})
    after_replay = await http.get(
        "/v1/instances/me", headers={**fit, REQUEST_KEY_HEADER: followed.headers[NEXT_KEY_HEADER]}
    )

    assert spent.status_code == 200, spent.text
    assert spent.json()["installationId"].startswith("ari:cloud:ecosystem::installation/")
    assert followed.status_code == 200, followed.text
    assert replayed.status_code == 403
    assert replayed.json()["error"] == "request_key_replayed"
    assert after_replay.status_code == 403  # a replay revokes the whole chain, as in seecodes


async def test_permit_with_a_bad_signature_is_refused(http: httpx.AsyncClient, permit: str) -> None:
    header = jwt.get_unverified_header(permit)
    claims = jwt.decode(permit, options={"verify_signature": False})
    forged = jwt.encode(
        claims, "another-secret-0123456789abcdef0123456789", algorithm="HS256", headers=header
    )

    answer = await http.post("/v1/tasks/AUTH-128/progress", headers=_auth(forged), json=PROGRESS)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_permit"


async def test_run_read_returns_the_run_as_seecodes_does(
    http: httpx.AsyncClient, client: httpx.AsyncClient, permit: str
) -> None:
    run_id = (await client.post("/v1/tasks/init", headers=_auth(permit), json={})).json()["runId"]

    answer = await http.get(f"/v1/tasks/{run_id}", headers=_auth(permit))
    missing = await http.get("/v1/tasks/run_0000000000", headers=_auth(permit))

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"]["status"] == "initialized"
    assert answer.json() == (await client.get(f"/v1/tasks/{run_id}", headers=_auth(permit))).json()
    assert missing.status_code == 404
    assert missing.json()["error"] == "run_not_found"


async def test_index_query_returns_the_entries_as_seecodes_does(
    http: httpx.AsyncClient, client: httpx.AsyncClient, permit: str
) -> None:
    entries = {path_of(n): entry_of(n) for n in range(20)}
    upserted = await client.post(
        "/v1/projects/AUTH/indexes/upsert", headers=_auth(permit), json={"entries": entries}
    )
    assert upserted.status_code == 200, upserted.text
    query = {
        "items": [{"path": path_of(n), "hash": hash_of(n)} for n in range(10)]
        + [{"path": "src/moved.ts", "hash": hash_of(15)}, {"path": path_of(16), "hash": hash_of(99)}]
    }

    answer = await http.post("/v1/projects/AUTH/indexes/query", headers=_auth(permit), json=query)

    assert answer.status_code == 200, answer.text
    matches = answer.json()["matches"]
    assert matches[path_of(3)] == {
        "pathMatched": True,
        "hashMatchedPath": path_of(3),
        "entry": entries[path_of(3)],
    }
    assert matches["src/moved.ts"]["hashMatchedPath"] == path_of(15)
    assert matches[path_of(16)] == {"pathMatched": True, "hashMatchedPath": None, "entry": None}
    seecodes = await client.post("/v1/projects/AUTH/indexes/query", headers=_auth(permit), json=query)
    assert answer.json() == seecodes.json()


async def test_activity_snapshot_is_stored_once(
    http: httpx.AsyncClient, permit: str, sqlite_url: str
) -> None:
    window = {
        "windowStartedAt": "2025-03-04T10:00:00.000Z",
        "windowEndedAt": "2025-03-04T10:15:00.000Z",
        "humanActiveMs": 420000,
        "locAdded": 28,
        "locRemoved": 11,
        "changedFiles": ["src/auth.ts", "src/routes.tsx"],
    }

    first = await http.post("/v1/tasks/activity-snapshot", headers=_auth(permit), json=window)
    retry = await http.post("/v1/tasks/activity-snapshot", headers=_auth(permit), json=window)

    assert first.status_code == 200, first.text
    assert first.json() == {
        "ok": True,
        "stored": True,
        "timestamp": "2025-03-04T10:15:00.000000Z",
        "effortUnits": 26,  # 7 min × 1.8 + 39 loc × 0.18 + 2 files × 3 = 25.62
    }
    assert retry.json()["stored"] is False
    assert _rows(sqlite_url, "SELECT snapshots, effort_units FROM activity_daily") == [(1, 26)]
