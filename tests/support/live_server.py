"""A real `seecodes serve` process on loopback, for cross-process tests and benchmarks.

The child gets SIGTERM when its parent dies (Linux PR_SET_PDEATHSIG), so a killed test run never
leaves a server behind; `stop()` ends it normally.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.forge import FakeForge


def server_env(
    forge: FakeForge, *, database_url: str, var_dir: Path, secret: str, **settings: str
) -> dict[str, str]:
    """What every test or benchmark server needs: test mode, a database, a var dir, trust in the
    fake Forge's key, a permit secret; `settings` adds or overrides `SEECODES_*` variables."""
    return {
        "SEECODES_ENV": "test",
        "SEECODES_DATABASE_URL": database_url,
        "SEECODES_FORGE_JWKS_URL": str(forge.jwks_path),
        "SEECODES_FORGE_APP_ID": forge.app_id,
        "SEECODES_SECRET_KEY": secret,
        "SEECODES_VAR_DIR": str(var_dir),
        **settings,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LiveServer:
    """`seecodes serve`, or with `command` another server that takes --host, --port and --workers
    (bench/lean_server.py)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 1,
        log_path: Path | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.command = command or [sys.executable, "-m", "seecodes", "serve"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> LiveServer:
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *self.command,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    # Every worker must be up before a concurrency test means anything.
                    time.sleep(0.5 if self.workers > 1 else 0)
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become healthy in time")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        # With one worker uvicorn serves from the main process itself.
        return [pid for pid in pids if _is_python(pid)] or [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _is_python(pid: int) -> bool:
    try:
        return "python" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
