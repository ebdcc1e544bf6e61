"""Hard HTTP limits on a real `seecodes serve`: an unauthenticated client cannot hold memory or a
socket with an endless head or a trickled body. Raw sockets, because a well-behaved HTTP client
cannot misbehave this way."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.app import TEST_SECRET
from tests.support.forge import FakeForge
from tests.support.live_server import LiveServer, server_env

pytestmark = pytest.mark.slow

HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_HEAD = 16 * 1024


@pytest.fixture(scope="module")
def server(
    forge: FakeForge, tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("http-limits")
    database = directory / "seecodes.db"
    database.write_bytes(sqlite_template.read_bytes())
    env = server_env(
        forge,
        database_url=f"sqlite:///{database}",
        var_dir=directory / "var",
        secret=TEST_SECRET,
        SEECODES_HTTP_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
        SEECODES_HTTP_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        SEECODES_HTTP_MAX_HEADER_BYTES=str(MAX_HEAD),
        SEECODES_HTTP_MAX_HEADERS="50",
    )
    with LiveServer(env, log_path=directory / "server.log") as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes (or 10 s pass)."""
    chunks = []
    try:
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def test_a_head_larger_than_the_limit_is_431_and_closed(server: LiveServer) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD * 4) + b"\r\n\r\n"
        )
        answer = _answer(connection)

    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_head_that_never_ends_is_refused_before_it_grows(server: LiveServer) -> None:
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 4 * 1024 * 1024:  # the server must cut this off long before 4 MB
                connection.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        _answer(connection)

    assert sent < 4 * 1024 * 1024  # the connection was cut while the head was still growing


def test_too_many_header_fields_is_431(server: LiveServer) -> None:
    fields = b"".join(b"X-Field-%d: 1\r\n" % number for number in range(60))
    with _connect(server) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = _answer(connection)

    assert answer.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("opening", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "])
def test_a_head_that_does_not_arrive_in_time_is_408_and_closed(server: LiveServer, opening: bytes) -> None:
    started = time.monotonic()
    with _connect(server) as connection:
        connection.sendall(opening)
        answer = _answer(connection)
    waited = time.monotonic() - started

    assert waited < HEAD_TIMEOUT + 5  # closed by the server, not by our 10 s receive timeout
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_trickled_body_is_408(server: LiveServer) -> None:
    with _connect(server) as connection:
        connection.sendall(
            b"POST /v1/jira/request-key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        started = time.monotonic()
        answer = _answer(connection)
    waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"request_timeout"' in answer
    assert waited < BODY_TIMEOUT + 5


def test_ordinary_requests_are_untouched(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url) as client:
        answers = [client.get("/healthz", headers={"X-Trace": "a" * 2000}) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200] * 5
