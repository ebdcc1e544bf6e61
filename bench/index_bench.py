"""Project index: upsert and query through the real route, against raw DB-API references.

    .venv/bin/python bench/index_bench.py [--backend sqlite|postgres|both] [--entries 10000]
                                          [--big 1000000] [--repeat 5]

For each backend, on a scratch migrated database:

1. upsert `--entries` entries into a fresh project with POST /v1/projects/{p}/indexes/upsert
   (task permit, JSON, validation, one transaction per request of at most 5,000 entries),
   against a raw `executemany` INSERT of the same rows into another project (goal ≤ 3×);
2. query `--entries` path/hash items of that project with POST …/indexes/query, against a raw
   `SELECT … WHERE installation_id = ? AND project_id = ? AND path IN (…)` over the same rows
   (goal ≤ 3×);
3. the same query against a project holding `--big` entries (bulk-loaded), 10 % of the items
   moved (new path, known hash) so the hash index is exercised too.

The route figures include HTTP/JSON in-process (httpx ASGI transport), FIT-less permit checks and
the service; the reference is the database alone. Each figure is the median of `--repeat` runs after
a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from typing import Any

from harness import (
    BACKENDS,
    INSTALLATION_A,
    BenchApp,
    Scratch,
    add_gc_option,
    apply_gc_option,
    bench_app,
    best_of,
    best_of_sync,
    line,
    scratch_database,
)
from seecodes.indexes import service
from seecodes.indexes.schemas import MAX_QUERY_ITEMS, MAX_UPSERT_ENTRIES, IndexQuery, IndexUpsert
from seecodes.security.permits import PermitScope

COLUMNS = (
    "installation_id",
    "project_id",
    "path",
    "hash",
    "updated_at_ms",
    "document",
    "stored_at",
)
DETAILED = "Explains what this module does, which invariants it keeps and why callers use it. " * 2


def path_of(n: int) -> str:
    return f"src/module{n // 100:05d}/file{n:07d}.ts"


def hash_of(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def entry_of(n: int) -> dict[str, Any]:
    return {
        "hash": hash_of(n),
        "updatedAt": 1_710_000_000_000 + n,
        "short": f"Summary of file {n}",
        "detailed": DETAILED,
        "important_symbols": [f"Symbol{n}"],
        "dependencies": [path_of(n + 1)],
        "exports": [f"Symbol{n}"],
    }


def raw_row(project: str, n: int) -> tuple[Any, ...]:
    entry = entry_of(n)
    return (
        INSTALLATION_A,
        project,
        path_of(n),
        entry["hash"],
        entry["updatedAt"],
        json.dumps(entry),
        "2026-11-22 00:00:00.000000",
    )


def raw_insert(scratch: Scratch, project: str, numbers: range) -> None:
    mark = scratch.placeholder
    values = ", ".join([mark] * len(COLUMNS))
    sql = f"INSERT INTO project_index_entries ({', '.join(COLUMNS)}) VALUES ({values})"  # noqa: S608
    with scratch.raw() as connection:
        connection.cursor().executemany(sql, [raw_row(project, n) for n in numbers])
        connection.commit()


def raw_select(scratch: Scratch, project: str, paths: list[str]) -> int:
    mark = scratch.placeholder
    columns = "path, hash, updated_at_ms, document"
    sql = (
        f"SELECT {columns} FROM project_index_entries "  # noqa: S608
        f"WHERE installation_id = {mark} AND project_id = {mark} AND path IN ({', '.join([mark] * len(paths))})"
    )
    with scratch.raw() as connection:
        rows = connection.cursor().execute(sql, [INSTALLATION_A, project, *paths]).fetchall()
    return len(rows)


def bulk_load(scratch: Scratch, project: str, count: int) -> None:
    """The big project, loaded as fast as each database allows (not measured against anything)."""
    batch = 50_000
    if scratch.backend == "sqlite":
        for start in range(0, count, batch):
            raw_insert(scratch, project, range(start, min(start + batch, count)))
    else:
        with scratch.raw() as connection, connection.cursor() as cursor:
            with cursor.copy(f"COPY project_index_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for n in range(count):
                    copy.write_row(raw_row(project, n))
            connection.commit()
    with scratch.raw() as connection:
        mark = scratch.placeholder
        connection.cursor().execute(
            f"INSERT INTO project_indexes (installation_id, project_id, updated_at_ms, total_files) "  # noqa: S608
            f"VALUES ({mark}, {mark}, {mark}, {mark})",
            (INSTALLATION_A, project, 1_710_000_000_000, count),
        )
        connection.commit()
        connection.cursor().execute("ANALYZE")
        connection.commit()


def scope_of(project: str) -> PermitScope:
    return PermitScope("bench", INSTALLATION_A, None, project, f"{project}-1", "557058:bench")


def upsert_requests(numbers: range) -> list[IndexUpsert]:
    return [
        IndexUpsert.model_validate(
            {
                "entries": {
                    path_of(n): entry_of(n)
                    for n in range(start, min(start + MAX_UPSERT_ENTRIES, numbers.stop))
                }
            }
        )
        for start in range(numbers.start, numbers.stop, MAX_UPSERT_ENTRIES)
    ]


def query_requests(items: list[dict[str, str]]) -> list[IndexQuery]:
    return [
        IndexQuery.model_validate({"items": items[start : start + MAX_QUERY_ITEMS]})
        for start in range(0, len(items), MAX_QUERY_ITEMS)
    ]


async def service_upsert(bench: BenchApp, project: str, requests: list[IndexUpsert]) -> None:
    """What a request costs below HTTP: one transaction per request of at most 5,000 entries."""
    for request in requests:
        async with bench.runtime.db.transaction() as session:
            await service.upsert(
                session,
                bench.runtime.clock,
                permit=scope_of(project),
                project_id=project,
                request=request,
                max_entries=bench.runtime.settings.max_index_entries_per_project,
            )


async def service_query(bench: BenchApp, project: str, requests: list[IndexQuery]) -> int:
    matched = 0
    for request in requests:
        async with bench.runtime.db.transaction() as session:
            _, matches = await service.query(
                session, permit=scope_of(project), project_id=project, request=request
            )
        matched += len(matches)
    return matched


async def route_upsert(bench: BenchApp, permit: str, project: str, numbers: range) -> None:
    for start in range(numbers.start, numbers.stop, MAX_UPSERT_ENTRIES):
        entries = {
            path_of(n): entry_of(n) for n in range(start, min(start + MAX_UPSERT_ENTRIES, numbers.stop))
        }
        response = await bench.http.post(
            f"/v1/projects/{project}/indexes/upsert",
            headers={"Authorization": f"Bearer {permit}"},
            json={"entries": entries},
        )
        assert response.status_code == 200, response.text


async def _route_upsert_next(bench: BenchApp, projects: Any, numbers: range) -> None:
    project, permit = next(projects)
    await route_upsert(bench, permit, project, numbers)


async def route_query(bench: BenchApp, permit: str, project: str, items: list[dict[str, str]]) -> int:
    matched = 0
    for start in range(0, len(items), MAX_QUERY_ITEMS):
        response = await bench.http.post(
            f"/v1/projects/{project}/indexes/query",
            headers={"Authorization": f"Bearer {permit}"},
            json={"items": items[start : start + MAX_QUERY_ITEMS]},
        )
        assert response.status_code == 200, response.text
        matched += len(response.json()["matches"])
    return matched


async def run_backend(backend: str, entries: int, big: int, repeat: int) -> None:
    print(f"\n{backend}: {entries:,} entries per operation, big project {big:,} entries, median of {repeat}")
    with scratch_database(backend) as scratch:
        async with bench_app(scratch) as bench:
            numbers = range(entries)
            fresh = (f"P{i}" for i in range(3 * (repeat + 1)))  # every upsert run writes new rows

            # 1. upsert
            raw_projects = iter(f"R{i}" for i in range(repeat + 1))
            reference = best_of_sync(repeat, lambda: raw_insert(scratch, next(raw_projects), numbers))
            requests = upsert_requests(numbers)
            in_service = await best_of(repeat, lambda: service_upsert(bench, next(fresh), requests))
            permits = {}
            for _ in range(repeat + 1):
                project = next(fresh)
                permits[project] = await bench.jira.permit(project=project, task=f"{project}-1")
            over_http = iter(permits.items())
            in_route = await best_of(repeat, lambda: _route_upsert_next(bench, over_http, numbers))
            print(line(f"raw executemany INSERT, {entries:,} rows", reference))
            print(line(f"upsert service, {entries:,} entries", in_service, reference, goal=3))
            print(line(f"POST …/indexes/upsert (HTTP in-process), {entries:,} entries", in_route, reference))

            # 2. query the rows just written (project P0 holds them; R0 is the reference's copy)
            items = [{"path": path_of(n), "hash": hash_of(n)} for n in numbers]
            paths = [item["path"] for item in items]
            permit = await bench.jira.permit(project="P0", task="P0-1")
            reference = best_of_sync(repeat, lambda: raw_select(scratch, "R0", paths))
            queries = query_requests(items)
            in_service = await best_of(repeat, lambda: service_query(bench, "P0", queries))
            in_route = await best_of(repeat, lambda: route_query(bench, permit, "P0", items))
            assert await service_query(bench, "P0", queries) == entries
            print(line(f"raw SELECT … WHERE path IN, {entries:,} paths", reference))
            print(line(f"query service, {entries:,} items", in_service, reference, goal=3))
            print(line(f"POST …/indexes/query (HTTP in-process), {entries:,} items", in_route, reference))

            # 3. the same query against a big project
            started = time.perf_counter()
            bulk_load(scratch, "BIG", big)
            print(f"  (loaded {big:,} entries into project BIG in {time.perf_counter() - started:.1f} s)")
            step = max(big // entries, 1)
            sample = [n * step for n in range(min(entries, big))]
            big_items = [
                # Every tenth item is a moved file: a new path with a known hash.
                {"path": f"moved/{path_of(n)}" if i % 10 == 0 else path_of(n), "hash": hash_of(n)}
                for i, n in enumerate(sample)
            ]
            big_paths = [path_of(n) for n in sample]
            permit = await bench.jira.permit(project="BIG", task="BIG-1")
            reference = best_of_sync(repeat, lambda: raw_select(scratch, "BIG", big_paths))
            queries = query_requests(big_items)
            in_service = await best_of(repeat, lambda: service_query(bench, "BIG", queries))
            in_route = await best_of(repeat, lambda: route_query(bench, permit, "BIG", big_items))
            assert await service_query(bench, "BIG", queries) == len(sample)
            print(line(f"raw SELECT … WHERE path IN, {len(sample):,} paths of {big:,}", reference))
            print(
                line(
                    f"query service, {len(sample):,} items (10 % moved) of {big:,}",
                    in_service,
                    reference,
                    goal=3,
                )
            )
            print(line("POST …/indexes/query (HTTP in-process), same items", in_route, reference))
            one_k = big_items[:1000]
            in_route = await best_of(repeat, lambda: route_query(bench, permit, "BIG", one_k))
            print(line(f"POST …/indexes/query (HTTP in-process), 1,000 items of {big:,}", in_route))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--entries", type=int, default=10_000, help="entries upserted / items queried")
    parser.add_argument("--big", type=int, default=1_000_000, help="entries of the big project")
    parser.add_argument("--repeat", type=int, default=5)
    add_gc_option(parser)
    args = parser.parse_args()
    apply_gc_option(args)
    for backend in BACKENDS if args.backend == "both" else (args.backend,):
        asyncio.run(run_backend(backend, args.entries, args.big, args.repeat))


if __name__ == "__main__":
    main()
