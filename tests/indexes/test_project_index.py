"""The shared project index: same-path match, hash reuse, stale paths, deletes, scoping, bounds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.clock import FixedClock
from tests.support.forge import CLOUD_B, INSTALLATION_B, SITE_B, JiraAppClient

H1, H2, H3 = "a" * 64, "b" * 64, "0123456789abcdef" * 4
ENTRY = {
    "hash": H1,
    "updatedAt": 1710000000000,
    "short": "Authentication helper",
    "detailed": "Longer explainer...",
    "important_symbols": ["AuthGuard"],
    "dependencies": ["src/session.ts"],
    "exports": ["AuthGuard"],
}


@pytest.fixture
async def permit(jira: JiraAppClient) -> str:
    return await jira.permit(project="AUTH", task="AUTH-128")


def _auth(permit: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {permit}"}


async def _upsert(
    client: httpx.AsyncClient, permit: str, entries: dict[str, Any], delete: list[str] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"entries": entries}
    if delete is not None:
        body["deletePaths"] = delete
    return await client.post("/v1/projects/AUTH/indexes/upsert", headers=_auth(permit), json=body)


async def _query(client: httpx.AsyncClient, permit: str, *items: tuple[str, str]) -> dict[str, Any]:
    response = await client.post(
        "/v1/projects/AUTH/indexes/query",
        headers=_auth(permit),
        json={"items": [{"path": path, "hash": file_hash} for path, file_hash in items]},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_contract_example_upsert_reports_counts_and_time(
    client: httpx.AsyncClient, permit: str, clock: FixedClock
) -> None:
    response = await _upsert(client, permit, {"src/auth.ts": ENTRY}, delete=["src/old-auth.ts"])

    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True,
        "updatedAt": int(clock.now() * 1000),
        "upserted": 1,
        "deleted": 0,
        "totalFiles": 1,
    }


async def test_same_path_with_same_hash_matches_its_entry(
    client: httpx.AsyncClient, permit: str, clock: FixedClock
) -> None:
    await _upsert(client, permit, {"src/auth.ts": ENTRY})

    body = await _query(client, permit, ("src/auth.ts", H1))

    assert body["updatedAt"] == int(clock.now() * 1000)
    assert body["matches"] == {
        "src/auth.ts": {"pathMatched": True, "hashMatchedPath": "src/auth.ts", "entry": ENTRY}
    }


async def test_moved_file_reuses_the_entry_of_the_path_with_its_hash(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(client, permit, {"src/old-auth.ts": ENTRY})

    body = await _query(client, permit, ("src/auth/index.ts", H1))

    assert body["matches"] == {
        "src/auth/index.ts": {"pathMatched": False, "hashMatchedPath": "src/old-auth.ts", "entry": ENTRY}
    }


async def test_changed_file_without_a_reusable_entry_is_reported_stale(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(client, permit, {"src/auth.ts": ENTRY})

    body = await _query(client, permit, ("src/auth.ts", H2))

    assert body["matches"] == {"src/auth.ts": {"pathMatched": True, "hashMatchedPath": None, "entry": None}}


async def test_changed_file_whose_new_hash_exists_elsewhere_reuses_that_entry(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(
        client, permit, {"src/auth.ts": ENTRY, "src/copy.ts": {**ENTRY, "hash": H2, "short": "Copy"}}
    )

    body = await _query(client, permit, ("src/auth.ts", H2))

    match = body["matches"]["src/auth.ts"]
    assert (match["pathMatched"], match["hashMatchedPath"], match["entry"]["short"]) == (
        False,
        "src/copy.ts",
        "Copy",
    )


async def test_unknown_path_and_hash_is_absent_from_matches(client: httpx.AsyncClient, permit: str) -> None:
    await _upsert(client, permit, {"src/auth.ts": ENTRY})

    body = await _query(client, permit, ("src/new.ts", H3), ("src/auth.ts", H1))

    assert set(body["matches"]) == {"src/auth.ts"}


async def test_hash_shared_by_several_paths_reuses_one_deterministically(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(client, permit, {f"pkg/{name}/__init__.py": {**ENTRY, "hash": H3} for name in "cab"})

    first = await _query(client, permit, ("pkg/d/__init__.py", H3))
    second = await _query(client, permit, ("pkg/d/__init__.py", H3))

    assert first["matches"]["pkg/d/__init__.py"]["hashMatchedPath"] == "pkg/a/__init__.py"
    assert first == second


async def test_deleted_path_no_longer_matches_and_leaves_the_count(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(client, permit, {"src/auth.ts": ENTRY, "src/old.ts": {**ENTRY, "hash": H2}})

    response = await _upsert(
        client, permit, {"src/new.ts": {**ENTRY, "hash": H3}}, delete=["src/old.ts", "gone.ts"]
    )
    body = await _query(client, permit, ("src/old.ts", H2), ("src/auth.ts", H1))

    assert (response.json()["upserted"], response.json()["deleted"], response.json()["totalFiles"]) == (
        1,
        1,
        2,
    )
    assert set(body["matches"]) == {"src/auth.ts"}


async def test_upserting_a_known_path_replaces_it_without_growing_the_count(
    client: httpx.AsyncClient, permit: str
) -> None:
    await _upsert(client, permit, {"src/auth.ts": ENTRY, "src/b.ts": ENTRY})

    response = await _upsert(client, permit, {"src/auth.ts": {**ENTRY, "hash": H2, "short": "v2"}})
    body = await _query(client, permit, ("src/auth.ts", H2))

    assert (response.json()["upserted"], response.json()["totalFiles"]) == (1, 2)
    assert body["matches"]["src/auth.ts"]["entry"]["short"] == "v2"


async def test_omitted_entry_fields_take_defaults(
    client: httpx.AsyncClient, permit: str, clock: FixedClock
) -> None:
    await _upsert(client, permit, {"src/auth.ts": {"hash": H1}})

    body = await _query(client, permit, ("src/auth.ts", H1))

    assert body["matches"]["src/auth.ts"]["entry"] == {
        "hash": H1,
        "updatedAt": int(clock.now() * 1000),
        "short": "",
        "detailed": "",
        "important_symbols": [],
        "dependencies": [],
        "exports": [],
    }


async def test_query_before_any_upsert_has_no_time_and_no_matches(
    client: httpx.AsyncClient, permit: str
) -> None:
    assert await _query(client, permit, ("src/auth.ts", H1)) == {"ok": True, "updatedAt": None, "matches": {}}


async def test_path_project_must_be_the_permits(client: httpx.AsyncClient, permit: str) -> None:
    for action, body in (("query", {"items": []}), ("upsert", {"entries": {"a.ts": ENTRY}})):
        response = await client.post(f"/v1/projects/OPS/indexes/{action}", headers=_auth(permit), json=body)

        assert response.status_code == 403
        assert response.json()["error"] == "permit_scope_mismatch"


async def test_index_routes_need_a_permit(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/projects/AUTH/indexes/query", json={"items": []})

    assert response.status_code == 401


async def test_another_installation_never_sees_the_index(
    client: httpx.AsyncClient, permit: str, forge: Any
) -> None:
    other = JiraAppClient(
        client, forge, fit_claims={"installation": INSTALLATION_B, "cloud_id": CLOUD_B, "site_url": SITE_B}
    )
    other_permit = await other.permit(project="AUTH", task="AUTH-1")
    await _upsert(client, permit, {"src/auth.ts": ENTRY})

    body = await _query(client, other_permit, ("src/auth.ts", H1), ("src/elsewhere.ts", H1))
    upserted = await _upsert(client, other_permit, {"x.ts": ENTRY})

    assert body == {"ok": True, "updatedAt": None, "matches": {}}
    assert upserted.json()["totalFiles"] == 1


async def test_another_project_of_the_installation_is_a_separate_index(
    client: httpx.AsyncClient, permit: str, jira: JiraAppClient
) -> None:
    ops = await jira.permit(project="OPS", task="OPS-1")
    await client.post(
        "/v1/projects/OPS/indexes/upsert", headers=_auth(ops), json={"entries": {"src/auth.ts": ENTRY}}
    )
    await _upsert(client, permit, {"other.ts": {**ENTRY, "hash": H2}})

    body = await _query(client, permit, ("src/auth.ts", H1))

    assert body["matches"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"entries": {"a.ts": {**ENTRY, "hash": "A" * 64}}},
        {"entries": {"a.ts": {**ENTRY, "hash": "a" * 63}}},
        {"entries": {"a.ts": {**ENTRY, "hash": "g" * 64}}},
        {"entries": {"a.ts": {**ENTRY, "updatedAt": -1}}},
        {"entries": {"a.ts": {**ENTRY, "updatedAt": "1710000000000"}}},
        {"entries": {"a.ts": {**ENTRY, "updatedAt": 1710000000000 * 1000}}},
        {"entries": {"a.ts": {**ENTRY, "short": "s" * 1001}}},
        {"entries": {"a.ts": {**ENTRY, "detailed": "d" * 20_001}}},
        {"entries": {"a.ts": {**ENTRY, "important_symbols": ["S"] * 201}}},
        {"entries": {"a.ts": {**ENTRY, "important_symbols": ["s" * 257]}}},
        {"entries": {"a.ts": {**ENTRY, "dependencies": ["d.ts"] * 501}}},
        {"entries": {"a.ts": {**ENTRY, "exports": [5]}}},
        {"entries": {"a.ts": {**ENTRY, "unknown": 1}}},
        {"entries": {"é" * 513: ENTRY}},  # 1026 bytes of UTF-8
        {"entries": {"": ENTRY}},
        {"entries": {"a\x00.ts": ENTRY}},
        {"entries": {f"f{n}.ts": {"hash": H1} for n in range(5001)}},
        {"entries": {"a.ts": ENTRY}, "deletePaths": ["a.ts"]},
        {"entries": {}, "deletePaths": ["x"] * 5001},
        {"entries": [ENTRY]},
        {"deletePaths": "a.ts"},
    ],
)
async def test_invalid_upsert_is_422_and_changes_nothing(
    client: httpx.AsyncClient, permit: str, body: dict[str, Any]
) -> None:
    await _upsert(client, permit, {"keep.ts": ENTRY})

    response = await client.post("/v1/projects/AUTH/indexes/upsert", headers=_auth(permit), json=body)
    after = await _query(client, permit, ("keep.ts", H1))

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"]
    assert set(after["matches"]) == {"keep.ts"}


@pytest.mark.parametrize(
    "items",
    [
        [{"path": "a.ts"}],
        [{"path": "a.ts", "hash": H1.upper()}],
        [{"path": "a.ts", "hash": H1}, {"path": "a.ts", "hash": H2}],
        [{"path": "x" * 1025, "hash": H1}],
        [{"path": "a.ts", "hash": H1, "extra": True}],
        [{"path": f"f{n}", "hash": H1} for n in range(5001)],
        "a.ts",
    ],
)
async def test_invalid_query_is_422(client: httpx.AsyncClient, permit: str, items: object) -> None:
    response = await client.post(
        "/v1/projects/AUTH/indexes/query", headers=_auth(permit), json={"items": items}
    )

    assert response.status_code == 422, response.text
    assert response.json()["fields"]


async def test_a_full_batch_round_trips(client: httpx.AsyncClient, permit: str) -> None:
    entries = {f"src/file{n}.ts": {"hash": f"{n:064x}", "short": f"file {n}"} for n in range(5000)}

    upserted = await _upsert(client, permit, entries)
    body = await _query(client, permit, *((path, entry["hash"]) for path, entry in entries.items()))

    assert upserted.json()["totalFiles"] == 5000
    assert len(body["matches"]) == 5000
    assert all(match["pathMatched"] and match["entry"] for match in body["matches"].values())


@pytest.mark.parametrize("settings_overrides", [{"max_index_entries_per_project": 100}])
async def test_an_upsert_past_the_projects_bound_is_413_and_writes_nothing(
    client: httpx.AsyncClient, permit: str
) -> None:
    first = await _upsert(client, permit, {f"src/file{n}.ts": ENTRY for n in range(90)})
    refused = await _upsert(client, permit, {f"src/more{n}.ts": ENTRY for n in range(20)})
    replaced = await _upsert(
        client, permit, {f"src/more{n}.ts": ENTRY for n in range(20)}, [f"src/file{n}.ts" for n in range(10)]
    )

    assert first.status_code == 200
    assert refused.status_code == 413
    assert refused.json()["error"] == "index_full"
    assert replaced.status_code == 200  # deletes in the same request make room
    assert replaced.json()["totalFiles"] == 100
