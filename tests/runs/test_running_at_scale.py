"""README "Running at scale": the shell block runs as written, and a run goes through the fleet it starts.

The test reads the block from README.md and runs it through bash: the `export` line, then each
command (`seecodes migrate` to its end; `seecodes serve` and each `seecodes worker` as long-lived
processes). Only these are put in place of the operator's values; everything else runs as written:

* `SEECODES_ENV`: `production` → `test`, because production trusts only an https key set and the
  fake Forge's is a file. `test_the_block_passes_the_production_start_checks` checks the block's
  settings, with `production` and the https key set as written, against the production refusal.
* `SEECODES_DATABASE_URL`: a fresh database on the test PostgreSQL server (dropped afterwards).
* `SEECODES_SECRET_KEY`: a random secret, as the prose above the block says to make.
* `SEECODES_FORGE_APP_ID`, `SEECODES_FORGE_JWKS_URL`: the fake Forge's app id and key set.
* `SEECODES_S3_ENDPOINT_URL`, `SEECODES_S3_ACCESS_KEY_ID`, `SEECODES_S3_SECRET_ACCESS_KEY`: the
  suite's SeaweedFS on loopback; `SEECODES_STORAGE_BUCKET`: a bucket of this test's own.
* `SEECODES_REDIS_URL`: Redis on 127.0.0.1:6379.
* `SEECODES_MODELS_FILE`: a models file whose models answer from the fake OpenAI-compatible
  server, plus the key variable that file names, set for every process.
* in the commands, `--host 0.0.0.0` → `--host 127.0.0.1` and `--port 8080` → a free port.

A value the test does not substitute still holding a `<…>` placeholder fails the test, and so does a
command it does not know how to run. Every process runs in a scratch directory (so `./var` is its
own) with this interpreter's `bin` first on PATH (so `seecodes` is this checkout's).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from seecodes.config import RunExecution, Settings, StorageBackend
from tests.support.fake_openai import FakeOpenAI, write_models_file
from tests.support.forge import INSTALLATION_A, FakeForge
from tests.support.live_server import _die_with_parent, free_port
from tests.support.postgres import POSTGRES_ADMIN_URL, admin_connection
from tests.support.postgres import database_url as postgres_database_url
from tests.support.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3
from tests.support.stack import StackClient
from tests.support.tiers import tier_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

README = Path(__file__).resolve().parents[2] / "README.md"
REDIS_URL = "redis://127.0.0.1:6379/0"
PROVIDER_KEY_ENV = "SEECODES_README_PROVIDER_KEY"
ANSWER = "The fleet did the list."
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def running_at_scale_block() -> str:
    """The first ```sh block under "## Running at scale", continuation lines joined."""
    section = README.read_text().split("\n## Running at scale\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, 'README "## Running at scale" has no ```sh block'
    return match.group(1).replace("\\\n", " ")


def split_block(block: str) -> tuple[str, list[str]]:
    """(the export statement, the command lines), comments and blank lines dropped."""
    lines = [line for line in block.splitlines() if shlex.split(line, comments=True)]
    exports = [line for line in lines if line.lstrip().startswith("export ")]
    assert len(exports) == 1, f"expected one export statement in the block, found {len(exports)}"
    return exports[0], [line for line in lines if line not in exports]


def with_values(export: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        assignment = f"{name}={shlex.quote(value)}"
        export, count = re.subn(rf"\b{name}=\S+", assignment.replace("\\", "\\\\"), export)
        assert count == 1, f"the block's export does not set {name} (once)"
    return export


def evaluated(export: str) -> dict[str, str]:
    """The SEECODES_ variables the statement sets, as bash evaluates it."""
    done = subprocess.run(
        ["bash", "-c", f"set -eu; {export}; env -0"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, f"bash refused the block's export: {done.stderr.decode()}"
    variables = dict(
        entry.split("=", 1) for entry in done.stdout.decode().split("\0") if entry.startswith("SEECODES_")
    )
    placeholders = {name: value for name, value in variables.items() if re.search(r"<[^>]*>", value)}
    assert not placeholders, f"values left with a placeholder the test does not fill: {placeholders}"
    return variables


def as_settings(variables: dict[str, str]) -> Settings:
    return Settings(**{name.removeprefix("SEECODES_").lower(): value for name, value in variables.items()})  # type: ignore[arg-type]


@dataclass
class Fleet:
    """The block's processes, each started through bash from its line."""

    directory: Path
    env: dict[str, str]
    base_url: str = ""
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def run(self, line: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"`{line}` exited {done.returncode}: {done.stdout}{done.stderr}"
        return done.stdout

    def start(self, name: str, line: str) -> Path:
        log_path = self.directory / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                ["bash", "-c", line],
                cwd=self.directory,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        self.processes.append((name, process, log_path))
        return log_path

    def wait_until(self, name: str, ready: str | None = None, timeout: float = 90) -> None:
        """Until the process's log says `ready`, or (None) the API answers /healthz."""
        _, process, log_path = next(entry for entry in self.processes if entry[0] == name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{name} exited {process.returncode}: {tail(log_path)}"
            if ready is not None and ready in log_path.read_text(errors="replace"):
                return
            if ready is None:
                try:
                    if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"{name} not ready within {timeout:.0f} s: {tail(log_path)}")

    def stop(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def database() -> Iterator[str]:
    try:
        admin = admin_connection()
    except psycopg.OperationalError as error:
        tier_unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    name = f"seecodes_readme_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_database_url(name)
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        tier_unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    return REDIS_URL


@pytest.fixture
def substitutes(
    tmp_path: Path, database: str, redis_url: str, seaweed: SeaweedS3, fake_openai: FakeOpenAI
) -> dict[str, str]:
    """The loopback services in place of the operator's (the module docstring's list)."""
    forge = FakeForge.create(tmp_path)
    models = write_models_file(
        tmp_path / "models.toml",
        fake_openai.base_url,
        {"strict light": "fake-light"},
        api_key_env=PROVIDER_KEY_ENV,
    )
    return {
        "SEECODES_DATABASE_URL": database,
        "SEECODES_SECRET_KEY": secrets.token_urlsafe(48),
        "SEECODES_FORGE_APP_ID": forge.app_id,
        "SEECODES_FORGE_JWKS_URL": str(forge.jwks_path),
        "SEECODES_S3_ENDPOINT_URL": seaweed.endpoint_url,
        "SEECODES_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "SEECODES_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "SEECODES_STORAGE_BUCKET": f"seecodes-readme-{uuid.uuid4().hex[:12]}",
        "SEECODES_REDIS_URL": redis_url,
        "SEECODES_MODELS_FILE": str(models),
    }


def test_the_block_passes_the_production_start_checks(substitutes: dict[str, str]) -> None:
    export, _ = split_block(running_at_scale_block())
    # As written: production, Atlassian's https key set; the loopback services for the rest.
    as_written = {name: value for name, value in substitutes.items() if name != "SEECODES_FORGE_JWKS_URL"}

    settings = as_settings(evaluated(with_values(export, as_written)))

    assert settings.is_production
    assert settings.run_execution is RunExecution.WORKERS
    assert settings.storage_backend is StorageBackend.S3


def test_a_run_goes_through_the_fleet_the_block_starts(
    tmp_path: Path, substitutes: dict[str, str], fake_openai: FakeOpenAI
) -> None:
    fake_openai.reply("fake-light", ANSWER)
    export, commands = split_block(running_at_scale_block())
    variables = evaluated(with_values(export, {**substitutes, "SEECODES_ENV": "test"}))
    port = free_port()
    fleet = Fleet(
        directory=tmp_path,
        env={
            **os.environ,
            **variables,
            PROVIDER_KEY_ENV: "sk-readme-provider-key",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        base_url=f"http://127.0.0.1:{port}",
    )
    workers = []
    try:
        for line in commands:
            words = shlex.split(line, comments=True)
            assignments = dict(word.split("=", 1) for word in takewhile(ASSIGNMENT.match, words))
            program = words[len(assignments) :]
            if program == ["seecodes", "migrate"]:
                fleet.run(line)
            elif program[:2] == ["seecodes", "serve"]:
                assert int(program[program.index("--workers") + 1]) > 1, "the block serves one process"
                line = line.replace("--host 0.0.0.0", "--host 127.0.0.1").replace(
                    "--port 8080", f"--port {port}"
                )
                assert f"--port {port}" in line, f"the serve line does not listen on --port 8080: {line}"
                fleet.start("api", line)
                fleet.wait_until("api")
            elif program == ["seecodes", "worker"]:
                worker_id = assignments["SEECODES_WORKER_ID"]
                workers.append(worker_id)
                fleet.start(worker_id, line)
                fleet.wait_until(worker_id, f"worker {worker_id} executing runs")
            else:
                pytest.fail(f"the test does not know how to run this line of the block: {line}")
        assert len(workers) >= 2, f"the block starts {len(workers)} worker(s)"
        assert len(set(workers)) == len(workers), f"worker ids are not unique: {workers}"

        client = StackClient(fleet.base_url, FakeForge.create(tmp_path))
        permit = client.permit()
        fleet.run(f"seecodes admin credits grant {INSTALLATION_A} 1000")
        created = client.http.post(
            "/v1/tasks/init", headers={"Authorization": f"Bearer {permit}"}, json={"files": ["list.md"]}
        )
        created.raise_for_status()
        run_id = created.json()["runId"]
        upload = created.json()["uploads"]["list.md"]
        # The IDE sends the file to the S3 endpoint itself, not through the API.
        assert upload.startswith(substitutes["SEECODES_S3_ENDPOINT_URL"])
        httpx.put(upload, content=b"- [ ] write the changelog\n", timeout=10).raise_for_status()
        client.start(permit, run_id)

        status = client.wait_for(permit, run_id, within=60)

        assert status["status"] == "succeeded", status
        output = client.http.get(f"/v1/tasks/{run_id}/output", headers={"Authorization": f"Bearer {permit}"})
        assert ANSWER in output.text
        assert status["resultZipUrl"].startswith(substitutes["SEECODES_S3_ENDPOINT_URL"])
        result = zipfile.ZipFile(io.BytesIO(httpx.get(status["resultZipUrl"], timeout=10).content))
        assert any(ANSWER in result.read(name).decode() for name in result.namelist())
        executed_by = rows(
            variables, "SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = %s", run_id
        )
        assert executed_by[0][0] in workers
        ledger = rows(variables, "SELECT kind, reference FROM credit_ledger WHERE reference = %s", run_id)
        assert Counter(ledger) == Counter({("reserve", run_id): 1, ("settle", run_id): 1})
        assert client.http.get("/readyz").json() == {"ok": True}
        client.close()
    finally:
        fleet.stop()


def rows(variables: dict[str, str], query: str, *params: object) -> list[tuple[object, ...]]:
    url = variables["SEECODES_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        return [tuple(row) for row in connection.execute(query, params)]
