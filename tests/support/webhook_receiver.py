"""A webhook receiver on loopback: real HTTP, scripted statuses, every signature checked with the
`standardwebhooks` library (not with our code).

In the test process it runs in a daemon thread (`Receiver`); as its own process (`python -m
tests.support.webhook_receiver PORT SECRET LOG`) it writes one JSON line per request to LOG, so a
test can kill it with SIGKILL and start it again on the same port.

    receiver = Receiver(statuses=[500, 500])  # two failures, then 200 for ever
    ... register receiver.url with the secret the server answered, cause an event ...
    await receiver.wait_for(1); verify(secret, receiver.received[0])
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float  # time.time() when it arrived

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class Receiver:
    def __init__(self, statuses: list[int] | None = None, port: int = 0, log: Path | None = None) -> None:
        self._statuses = list(statuses or [])
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self._log = log
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver's server would

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    status = receiver._statuses.pop(0) if receiver._statuses else 200
                    record = Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, status, time.time()
                    )
                    receiver.received.append(record)
                    if receiver._log is not None:
                        with receiver._log.open("a") as out:
                            line = {
                                "headers": record.headers,
                                "body": body.decode(),
                                "status": status,
                                "at": record.at,
                            }
                            out.write(json.dumps(line) + "\n")
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, within: float = 30.0, event: str | None = None) -> list[Received]:
        """Wait (without blocking the loop: the server under test may run on it) until `count`
        requests (of `event`, if named) have arrived; then every request so far, in order."""
        deadline = time.monotonic() + within
        while True:
            with self._lock:
                matching = [r for r in self.received if event is None or r.payload.get("type") == event]
            if len(matching) >= count:
                with self._lock:
                    return list(self.received)
            assert time.monotonic() < deadline, (
                f"{len(matching)} of {count} webhook requests arrived: {self.types()}"
            )
            await asyncio.sleep(0.02)

    def types(self) -> list[str]:
        with self._lock:
            return [str(r.payload.get("type")) for r in self.received]


def verify(secret: str, received: Received) -> dict[str, Any]:
    """The library's own check of one request: signature, id and timestamp headers."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def read_log(log: Path) -> list[Received]:
    if not log.exists():
        return []
    records = []
    for line in log.read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            records.append(Received(item["headers"], item["body"].encode(), item["status"], item["at"]))
    return records


if __name__ == "__main__":
    port_arg, log_arg = sys.argv[1], sys.argv[2]
    statuses = [int(s) for s in sys.argv[3].split(",")] if len(sys.argv) > 3 and sys.argv[3] else []
    with Receiver(statuses=statuses, port=int(port_arg), log=Path(log_arg)) as running:
        print(f"listening {running.port}", flush=True)
        threading.Event().wait()
