"""clients/typescript (@seecodes/client): its types are generated from the current document, it
compiles under `tsc --strict`, and its Node test runner suite passes against a live server on
loopback (SQLite) that this test starts. The npm packages are pinned in its package-lock.json
(`npm ci` there; `make install` does it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.stack import Stack
from tests.support.tiers import tier_unavailable
from tests.test_openapi_lint import document as document
from tests.test_openapi_lint import document_file as document_file

pytestmark = pytest.mark.slow
PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
BIN = PACKAGE / "node_modules" / ".bin"


def _tools() -> None:
    if shutil.which("node") is None or not (BIN / "tsc").exists():
        tier_unavailable(f"Node.js or {PACKAGE}/node_modules is missing: run `npm ci --prefix {PACKAGE}`")


def _run(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=PACKAGE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_types_are_generated_from_the_current_document(document_file: Path, tmp_path: Path) -> None:
    _tools()
    fresh = tmp_path / "schema.d.ts"
    generated = _run(
        BIN / "openapi-typescript", document_file, "--default-non-nullable", "false", "-o", fresh
    )
    assert generated.returncode == 0, generated.stderr
    assert fresh.read_text() == (PACKAGE / "src" / "schema.d.ts").read_text(), (
        "clients/typescript/src/schema.d.ts is out of date: npm run generate (see its package.json)"
    )


@pytest.fixture(scope="module")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as model:
        # Slow enough that a stream can be cut mid-run; every run gets it (the last step repeats).
        model.script("fake-light", Reply("word " * 40, chunk_chars=5, chunk_delay=0.05))
        yield model


def test_the_node_suite_passes_against_a_live_server(fake_model: FakeOpenAI, tmp_path: Path) -> None:
    _tools()
    built = _run(BIN / "tsc", "-p", "tsconfig.json")
    assert built.returncode == 0, built.stdout + built.stderr
    with Stack(backend="sqlite", model_base_url=fake_model.base_url) as stack:
        first = stack.client()
        first.jira("GET", "/v1/instances/me").raise_for_status()  # the installation exists
        first.close()
        stack.grant(10_000)
        fits: list[Any] = [stack.forge.fit(lifetime=600) for _ in range(8)]
        (tmp_path / "fits.json").write_text(json.dumps(fits))
        tested = _run(
            "node",
            "--test",
            "--test-reporter=spec",
            "dist/test/",
            env={"SEECODES_URL": stack.base_url, "SEECODES_FITS": str(tmp_path / "fits.json")},
        )
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert "pass 5" in tested.stdout
