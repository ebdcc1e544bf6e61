"""A whole seecodes deployment on loopback, for crash tests, fault drills, soak and benchmarks.

`Stack` owns a scratch database (a SQLite file, or a fresh PostgreSQL database it drops again), a
models file pointing every alias at a fake OpenAI-compatible server, a `seecodes serve` process
(`tests.support.live_server`) and, in the workers shape, `seecodes worker` processes it can kill
and restart. `StackClient` plays the Jira App and the IDE over plain synchronous HTTP: request-key
chain, task permit, init → upload → start → poll.

Every child dies with the process that started it (PR_SET_PDEATHSIG), so an interrupted test or
benchmark leaves nothing running.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg

from tests.support.fake_openai import write_models_file
from tests.support.forge import (
    INSTALLATION_A,
    NEXT_KEY_HEADER,
    REQUEST_KEY_HEADER,
    FakeForge,
)
from tests.support.live_server import LiveServer, _die_with_parent, server_env

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PROVIDER_KEY_ENV = "SEECODES_STACK_PROVIDER_KEY"
SETTLED = frozenset({"succeeded", "failed", "cancelled"})
MODEL_ALIAS = "strict light"


@dataclass
class Worker:
    """One `seecodes worker` process; its id survives restarts so DBOS recovers its runs."""

    worker_id: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    # Added to the stack's environment for this worker alone (another release's code on PYTHONPATH).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Stack:
    def __init__(
        self,
        *,
        backend: str,
        model_base_url: str,
        model_name: str = "fake-light",
        api_processes: int = 1,
        run_workers: int = 0,
        directory: Path | None = None,
        settings: dict[str, str] | None = None,
        pg_admin_url: str = PG_ADMIN_URL,
    ) -> None:
        """`run_workers=0` executes runs inside the API process (the embedded default); otherwise
        the API only enqueues and that many `seecodes worker` processes execute. `pg_admin_url` is
        the server the scratch database is created on (a fault drill brings its own, to stop it)."""
        if backend not in ("sqlite", "postgres"):
            raise ValueError(f"unknown backend {backend!r}")
        if run_workers == 0 and api_processes > 1:
            raise ValueError("several API processes need run workers (seecodes serve refuses otherwise)")
        self.backend = backend
        self._own_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="seecodes-stack-")) if directory is None else directory
        self.forge = FakeForge.create(self.directory)
        self.database_name = f"seecodes_stack_{uuid.uuid4().hex[:10]}"
        self.pg_admin_url = pg_admin_url
        server = pg_admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        self.database_url = (
            f"{server}/{self.database_name}"
            if backend == "postgres"
            else f"sqlite:///{self.directory / 'seecodes.db'}"
        )
        models = write_models_file(
            self.directory / "models.toml",
            model_base_url,
            {MODEL_ALIAS: model_name},
            api_key_env=PROVIDER_KEY_ENV,
        )
        self.env = server_env(
            self.forge,
            database_url=self.database_url,
            var_dir=self.directory / "var",
            secret=secrets.token_urlsafe(36)[:48],
            SEECODES_MODELS_FILE=str(models),
            SEECODES_RUN_EXECUTION="workers" if run_workers else "in_process",
            **{PROVIDER_KEY_ENV: "sk-stack-provider-key", **(settings or {})},
        )
        self.api = LiveServer(self.env, workers=api_processes, log_path=self.directory / "api.log")
        # Signed URLs (uploads, result zips) point at this server, wherever it listens.
        self.env["SEECODES_PUBLIC_BASE_URL"] = self.api.base_url
        self.api.env["SEECODES_PUBLIC_BASE_URL"] = self.api.base_url
        self.workers = [
            Worker(f"worker-{index}", self.directory / f"worker-{index}.log")
            for index in range(1, run_workers + 1)
        ]
        self._database_created = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Stack:
        if self.backend == "postgres" and not self._database_created:
            with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self.database_name}"')
            self._database_created = True
        # The API migrates first; workers then find the schema in place.
        self.api.start()
        for worker in self.workers:
            self.start_worker(worker)
        return self

    def stop(self) -> None:
        for worker in self.workers:
            self.stop_worker(worker)
        self.api.stop()
        if self._database_created:
            with psycopg.connect(self.pg_admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            self._database_created = False
        if self._own_directory:
            subprocess.run(["rm", "-rf", str(self.directory)], check=False)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.api.base_url

    # -- processes ---------------------------------------------------------------------------
    def start_worker(self, worker: Worker, timeout: float = 60.0, *, wait: bool = True) -> None:
        """Start (or restart) a worker and (`wait`) wait until its engine is executing."""
        env = {**os.environ, **self.env, **worker.env, "SEECODES_WORKER_ID": worker.worker_id}
        offset = worker.log_path.stat().st_size if worker.log_path.exists() else 0
        log = open(worker.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        worker.process = subprocess.Popen(
            [sys.executable, "-m", "seecodes", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        log.close()
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"{worker.worker_id} exited with {worker.process.returncode}: {self.tail(worker)}"
                )
            with open(worker.log_path, "rb") as written:
                written.seek(offset)
                if b"executing runs" in written.read():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{worker.worker_id} did not start in time: {self.tail(worker)}")

    def add_worker(
        self, worker_id: str, timeout: float = 60.0, *, wait: bool = True, env: dict[str, str] | None = None
    ) -> Worker:
        """Start one more worker, under a new id (a replacement on another pod or host)."""
        worker = Worker(worker_id, self.directory / f"{worker_id}.log", env=env or {})
        self.workers.append(worker)
        self.start_worker(worker, timeout, wait=wait)
        return worker

    def stop_worker(self, worker: Worker) -> None:
        if not worker.alive():
            return
        assert worker.process is not None
        try:
            os.killpg(worker.process.pid, signal.SIGTERM)
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def kill_worker(self, worker: Worker) -> None:
        """kill -9: no shutdown hook, no flush, no goodbye to the database."""
        assert worker.process is not None
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)

    def kill_api(self) -> None:
        assert self.api.process is not None
        os.killpg(self.api.process.pid, signal.SIGKILL)
        self.api.process.wait(timeout=10)

    def restart_api(self) -> None:
        self.api.start()

    def tail(self, worker: Worker | None = None, lines: int = 30) -> str:
        path = worker.log_path if worker is not None else self.api.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- operator commands -------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        """Run `seecodes …` against this stack's database, as an operator would."""
        done = subprocess.run(
            [sys.executable, "-m", "seecodes", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"seecodes {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def grant(self, amount: int, installation: str = INSTALLATION_A) -> None:
        self.cli("admin", "credits", "grant", installation, str(amount))

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read straight from the stack's database (`?` placeholders), bypassing the API."""
        if self.backend == "postgres":
            url = self.database_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(url) as connection:
                return [tuple(row) for row in connection.execute(query.replace("?", "%s"), params)]
        import sqlite3

        with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as connection:
            return [tuple(row) for row in connection.execute(query, params)]

    def ledger(self, installation: str = INSTALLATION_A) -> list[tuple[str, str | None, int]]:
        """(kind, reference, delta) rows of the credit ledger, oldest first."""
        return [
            (str(kind), reference, int(delta))
            for kind, reference, delta in self.rows(
                "SELECT kind, reference, delta FROM credit_ledger WHERE installation_id = ? ORDER BY id",
                installation,
            )
        ]

    def client(self, **fit_claims: Any) -> StackClient:
        return StackClient(self.base_url, self.forge, dict(fit_claims))


@dataclass
class StackClient:
    """The Jira App and the IDE against one stack, synchronously."""

    base_url: str
    forge: FakeForge
    fit_claims: dict[str, Any] = field(default_factory=dict)
    timeout: float = 30.0
    request_key: str | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=self.timeout)

    def close(self) -> None:
        self.http.close()

    def fit(self, lifetime: int = 120) -> str:
        return self.forge.fit(lifetime=lifetime, **self.fit_claims)

    def jira(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A Jira App call: fresh FIT, the current request key, rotation followed."""
        if self.request_key is None:
            reply = self.http.post("/v1/jira/request-key", headers={"Authorization": f"Bearer {self.fit()}"})
            reply.raise_for_status()
            self.request_key = str(reply.json()["requestKey"])
        headers = {"Authorization": f"Bearer {self.fit()}", REQUEST_KEY_HEADER: self.request_key}
        response = self.http.request(method, path, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)
        if NEXT_KEY_HEADER in response.headers:
            self.request_key = response.headers[NEXT_KEY_HEADER]
        return response

    def permit(self, project: str = "AUTH", task: str = "AUTH-128") -> str:
        reply = self.jira("POST", "/v1/security/task-permit", json={"projectId": project, "taskId": task})
        reply.raise_for_status()
        return str(reply.json()["permit"])

    def init_run(self, permit: str, files: dict[str, str] | None = None) -> str:
        """init → upload every file; returns the run id (the run is initialized, not started)."""
        files = files if files is not None else {"list.md": "- [ ] write the changelog\n"}
        created = self.http.post("/v1/tasks/init", headers=_bearer(permit), json={"files": list(files)})
        created.raise_for_status()
        body = created.json()
        for name, content in files.items():
            # Local signed URLs are absolute on the public base URL; the path is what we serve.
            upload = httpx.URL(body["uploads"][name])
            self.http.put(upload.raw_path.decode(), content=content.encode()).raise_for_status()
        return str(body["runId"])

    def start(self, permit: str, run_id: str, prompt: str = "do the list") -> None:
        started = self.http.post(
            f"/v1/tasks/{run_id}/start", headers=_bearer(permit), json={"userPrompt": prompt}
        )
        started.raise_for_status()

    def start_run(self, permit: str, files: dict[str, str] | None = None, prompt: str = "do the list") -> str:
        """init → upload → start; returns the run id (the run is queued)."""
        run_id = self.init_run(permit, files)
        self.start(permit, run_id, prompt)
        return run_id

    def status(self, permit: str, run_id: str) -> dict[str, Any]:
        reply = self.http.get(f"/v1/tasks/{run_id}", headers=_bearer(permit))
        reply.raise_for_status()
        status: dict[str, Any] = reply.json()["status"]
        return status

    def wait_for(
        self, permit: str, run_id: str, statuses: frozenset[str] = SETTLED, within: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            status = self.status(permit, run_id)
            if status["status"] in statuses:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status['status']} after {within:.0f} s")
            time.sleep(0.02)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
