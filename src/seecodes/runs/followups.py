"""Runs started from an earlier run of the task: a rerun (the same inputs and instruction) and a
follow-up (the inputs, the earlier output, a new instruction). Both are an init and a start."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from seecodes.errors import RunArtifactsPurged, RunNotStarted, RunNotSucceeded, UploadsIncomplete
from seecodes.kit.clock import Clock
from seecodes.models import Run
from seecodes.models.run import RunStatus
from seecodes.runs.catalog import Catalog
from seecodes.runs.layout import output_key, upload_key
from seecodes.runs.service import get_run, init_run, start_run, started_inputs
from seecodes.runs.storage import ObjectStorage
from seecodes.security.permits import PermitScope


async def rerun(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run on a copy of the same uploads, started with the same model and instruction."""
    original = await get_run(session, scope, run_id)
    if original.status == RunStatus.INITIALIZED:
        raise RunNotStarted()
    if original.uploads_purged_at is not None:
        raise UploadsIncomplete(list(original.files))
    return await _start_from(
        session,
        clock,
        catalog,
        storage,
        scope,
        original,
        model=original.model,
        user_prompt=original.user_prompt,
        extra={},
        marks={"rerun_of": original.id},
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        upload_max_bytes=upload_max_bytes,
        max_unstarted_runs=max_unstarted_runs,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


async def _start_from(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    source: Run,
    *,
    model: str,
    user_prompt: str | None,
    extra: dict[str, bytes],
    marks: dict[str, str],
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run of the task on a copy of `source`'s frozen inputs plus `extra` files, started at
    once: a rerun and a follow-up both. `marks` are the columns that link it to `source`."""
    fresh = await init_run(
        session,
        clock,
        catalog,
        storage,
        scope,
        model=model,
        files=[*source.files, *extra],
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        max_unstarted_runs=max_unstarted_runs,
    )
    inputs = await started_inputs(storage, source, upload_max_bytes=upload_max_bytes)
    for name, data in [*inputs, *extra.items()]:
        await storage.write(upload_key(fresh.run, name), data, content_type="text/plain; charset=utf-8")
    for column, value in marks.items():
        setattr(fresh.run, column, value)
    await session.flush()
    return await start_run(
        session,
        clock,
        catalog,
        storage,
        scope,
        fresh.run.id,
        model=model,
        user_prompt=user_prompt,
        upload_max_bytes=upload_max_bytes,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


FOLLOW_UP_CONTEXT = "previous-run.md"


async def follow_up(
    session: AsyncSession,
    clock: Clock,
    catalog: Catalog,
    storage: ObjectStorage,
    scope: PermitScope,
    run_id: str,
    *,
    user_prompt: str,
    model: str | None,
    upload_url_ttl_seconds: int,
    upload_max_bytes: int,
    max_unstarted_runs: int,
    storage_quota_bytes: int,
    installation_concurrency: int,
) -> Run:
    """A new run that goes on from a succeeded one: the parent's inputs, plus one more file holding
    the parent's instruction and output, and the new instruction. Estimated, gated and charged like
    any start, on the whole context."""
    parent = await get_run(session, scope, run_id)
    if parent.status != RunStatus.SUCCEEDED:
        raise RunNotSucceeded(f"The run is {parent.status}; only a succeeded run can be continued.")
    if parent.artifacts_purged_at is not None:
        raise RunArtifactsPurged()
    if parent.uploads_purged_at is not None:
        raise UploadsIncomplete(list(parent.files))
    output = (await storage.read(output_key(parent))).decode("utf-8", errors="replace")
    previous = (
        f"# The previous run ({parent.id})\n\n## Its instruction\n\n{parent.user_prompt or '(none)'}\n\n"
        f"## Its output\n\n{output}\n"
    )
    return await _start_from(
        session,
        clock,
        catalog,
        storage,
        scope,
        parent,
        model=model or parent.model,
        user_prompt=user_prompt,
        extra={_free_name(FOLLOW_UP_CONTEXT, parent.files): previous.encode()},
        marks={"parent_run_id": parent.id},
        upload_url_ttl_seconds=upload_url_ttl_seconds,
        upload_max_bytes=upload_max_bytes,
        max_unstarted_runs=max_unstarted_runs,
        storage_quota_bytes=storage_quota_bytes,
        installation_concurrency=installation_concurrency,
    )


def _free_name(wanted: str, taken: list[str]) -> str:
    """`wanted`, or `wanted` numbered (previous-run-2.md, …) when the parent has a file of that name."""
    stem, dot, suffix = wanted.rpartition(".")
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}{dot}{suffix}"
    return candidate
