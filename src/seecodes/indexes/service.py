"""The shared project index: file summaries the IDEs of one project reuse by content hash.

An entry is reusable when its hash equals the queried hash. The same path is preferred
(`pathMatched: true`); otherwise any path of the project with that hash (`pathMatched: false`,
`hashMatchedPath` = that path). A path indexed with another hash and nothing reusable is stale
(`pathMatched: true`, `entry: null`). A path with neither is left out of `matches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import IndexFull
from seecodes.indexes import repository
from seecodes.indexes.schemas import IndexQuery, IndexUpsert
from seecodes.kit.clock import Clock
from seecodes.security.permits import PermitScope


class IndexMatchView(NamedTuple):
    # A tuple, not a dataclass: a query builds up to 5,000 of these.
    path_matched: bool
    hash_matched_path: str | None
    entry: str | None  # the stored entry's JSON document


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    updated_at_ms: int
    upserted: int
    deleted: int
    total_files: int


async def query(
    session: AsyncSession, *, permit: PermitScope, project_id: str, request: IndexQuery
) -> tuple[int | None, dict[str, IndexMatchView]]:
    permit.require_project(project_id)
    state = await repository.project_state(session, permit.installation_id, project_id)
    if state is None or not request.items:
        return (state.updated_at_ms if state else None), {}
    scope = (permit.installation_id, project_id)
    same_path = await repository.entries_by_path(session, *scope, [item.path for item in request.items])
    matches: dict[str, IndexMatchView] = {}
    unmatched = []
    for item in request.items:
        stored = same_path.get(item.path)
        if stored is not None and stored[0] == item.hash:
            matches[item.path] = IndexMatchView(True, item.path, stored[1])
        else:
            unmatched.append(item)
    if not unmatched:
        return state.updated_at_ms, matches

    reusable_path = await repository.first_path_by_hash(session, *scope, sorted({i.hash for i in unmatched}))
    reusable = await repository.entries_by_path(session, *scope, sorted(set(reusable_path.values())))
    for item in unmatched:
        other = reusable_path.get(item.hash)
        # A concurrent delete may remove the other path between the two reads: then it is no match.
        other_entry = reusable.get(other) if other is not None else None
        if other is not None and other_entry is not None:
            matches[item.path] = IndexMatchView(False, other, other_entry[1])
        elif item.path in same_path:
            matches[item.path] = IndexMatchView(True, None, None)  # stale: re-index this file
    return state.updated_at_ms, matches


async def upsert(
    session: AsyncSession,
    clock: Clock,
    *,
    permit: PermitScope,
    project_id: str,
    request: IndexUpsert,
    max_entries: int,
) -> UpsertOutcome:
    """Deletes and writes in one transaction, so a reader never sees half of a rename. A project
    holds at most `max_entries` files; an upsert that would pass it writes nothing."""
    permit.require_project(project_id)
    now_ms = int(clock.now() * 1000)
    scope = (permit.installation_id, project_id)
    total = await repository.lock_project(session, *scope, now_ms)
    deleted = await repository.delete_paths(session, *scope, request.deletePaths)
    paths = list(request.entries)
    known = await repository.existing_paths(session, *scope, paths)
    if total - deleted + len(paths) - len(known) > max_entries:
        raise IndexFull(f"The project's index holds at most {max_entries} files; delete some paths first.")
    stored_at = clock.utcnow()
    await repository.upsert_entries(
        session,
        [
            {
                "installation_id": permit.installation_id,
                "project_id": project_id,
                "path": path,
                "hash": entry.hash,
                "updated_at_ms": entry.updated_at_or(now_ms),
                "document": entry.document(entry.updated_at_or(now_ms)),
                "stored_at": stored_at,
            }
            for path, entry in request.entries.items()
        ],
    )
    total = total - deleted + len(paths) - len(known)
    await repository.set_total_files(session, *scope, total)
    return UpsertOutcome(now_ms, len(paths), deleted, total)
