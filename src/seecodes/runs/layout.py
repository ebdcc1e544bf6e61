"""Where a run's files live in object storage: `runs/<runId>/input/<file>` (purged after the
uploads' retention) and `runs/<runId>/output/{output.md,result.zip}` (kept)."""

from __future__ import annotations

from seecodes.models import Run


def upload_key(run: Run, name: str) -> str:
    return f"{run.storage_prefix}input/{name}"


def output_key(run: Run) -> str:
    return f"{run.storage_prefix}output/output.md"


def result_zip_key(run: Run) -> str:
    return f"{run.storage_prefix}output/result.zip"
