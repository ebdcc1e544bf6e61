"""Where a run's files live in object storage: `runs/<runId>/input/<file>` (what the signed upload
URLs write), `runs/<runId>/started/<file>` (the copy `start` estimated, the only one the executor
reads; both purged after the uploads' retention) and `runs/<runId>/output/{output.md,result.zip}`
(kept)."""

from __future__ import annotations

from seecodes.models import Run


def upload_key(run: Run, name: str) -> str:
    return f"{run.storage_prefix}input/{name}"


def started_key(run: Run, name: str) -> str:
    """Written once, at start, from the bytes the estimate counted; no URL is ever signed for it."""
    return f"{run.storage_prefix}started/{name}"


def input_prefixes(run: Run) -> tuple[str, str]:
    return f"{run.storage_prefix}input/", f"{run.storage_prefix}started/"


def run_of_upload(key: str) -> str | None:
    """The run id an upload key belongs to (`runs/<runId>/input/<file>`), or None for other keys."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "runs" and parts[2] == "input":
        return parts[1]
    return None


def output_key(run: Run) -> str:
    return f"{run.storage_prefix}output/output.md"


def result_zip_key(run: Run) -> str:
    return f"{run.storage_prefix}output/result.zip"
