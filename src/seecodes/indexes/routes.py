"""The shared per-project file index the IDE reads and writes with its task permit."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Response

from seecodes.deps import ReadSessionDep, RuntimeDep, SessionDep
from seecodes.errors import IndexFull, InvalidInput, InvalidPermit, PermitScopeMismatch, responses
from seecodes.indexes import service
from seecodes.indexes.schemas import (
    MAX_DELETE_PATHS,
    MAX_QUERY_ITEMS,
    MAX_UPSERT_ENTRIES,
    IndexQuery,
    IndexQueryResponse,
    IndexUpsert,
    IndexUpsertResponse,
)
from seecodes.kit.schemas import JiraId
from seecodes.openapi import IDE
from seecodes.security.deps import TaskPermitCaller, TaskPermitReader

router = APIRouter(tags=[IDE])

ProjectIdPath = Annotated[JiraId, Path(description="Must be the project the permit is bound to.")]


@router.post(
    "/v1/projects/{projectId}/indexes/query",
    operation_id="queryIndex",
    summary="Query reusable project index entries",
    description=f"Up to {MAX_QUERY_ITEMS} path/hash items. Same path with the same hash: "
    "`pathMatched: true`. Otherwise another path with that hash: `pathMatched: false`, "
    "`hashMatchedPath` names it. A path indexed with another hash and nothing reusable: "
    "`pathMatched: true, entry: null` (stale). Neither: absent from `matches`.",
    response_model=IndexQueryResponse,
    responses=responses(InvalidPermit, PermitScopeMismatch, InvalidInput),
)
async def query_project_index(
    session: ReadSessionDep, permit: TaskPermitReader, projectId: ProjectIdPath, body: IndexQuery
) -> Response:
    updated_at_ms, matches = await service.query(session, permit=permit, project_id=projectId, request=body)
    return Response(_render_query_response(updated_at_ms, matches), media_type="application/json")


@router.post(
    "/v1/projects/{projectId}/indexes/upsert",
    operation_id="upsertIndex",
    summary="Upsert reusable project index entries",
    description=f"Up to {MAX_UPSERT_ENTRIES} entries by path and {MAX_DELETE_PATHS} `deletePaths`, "
    "applied in one transaction (a path may not be in both). Hashes are 64 lowercase hex digits; "
    "`updatedAt` is epoch milliseconds.",
    responses=responses(InvalidPermit, PermitScopeMismatch, InvalidInput, IndexFull),
)
async def upsert_project_index(
    runtime: RuntimeDep,
    session: SessionDep,
    permit: TaskPermitCaller,
    projectId: ProjectIdPath,
    body: IndexUpsert,
) -> IndexUpsertResponse:
    outcome = await service.upsert(
        session,
        runtime.clock,
        permit=permit,
        project_id=projectId,
        request=body,
        max_entries=runtime.settings.max_index_entries_per_project,
    )
    return IndexUpsertResponse(
        updatedAt=outcome.updated_at_ms,
        upserted=outcome.upserted,
        deleted=outcome.deleted,
        totalFiles=outcome.total_files,
    )


def _render_query_response(updated_at_ms: int | None, matches: dict[str, service.IndexMatchView]) -> bytes:
    """IndexQueryResponse as JSON, with each stored entry document embedded as it is.

    Decoding and re-encoding 5,000 documents through pydantic was most of a large query's time;
    the documents were written from IndexEntryIn by the upsert, so they already have this shape.
    """
    return orjson.dumps(
        {
            "ok": True,
            "updatedAt": updated_at_ms,
            "matches": {
                path: {
                    "pathMatched": match.path_matched,
                    "hashMatchedPath": match.hash_matched_path,
                    "entry": orjson.Fragment(match.entry) if match.entry is not None else None,
                }
                for path, match in matches.items()
            },
        }
    )
