"""Hard limits on what an unauthenticated client can hold before the app sees a request.

uvicorn's httptools protocol reads a request head of any size, for as long as the client takes:
a 32 MB header line, or one byte a second, holds memory and a socket without end. This protocol
(`seecodes serve` passes it to uvicorn by import path, so every worker process loads it) refuses a
head larger than `http_max_header_bytes` or with more than `http_max_headers` fields (431), and
closes a connection whose request head has not arrived within `http_header_timeout_seconds`
(408). The body's pace is the app's business (`BodyLimitMiddleware`), the number of connections
uvicorn's (`limit_concurrency`). A public deployment still wants a proxy in front for TLS and
per-client rate limits; these keep one process safe without it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from seecodes.config import get_settings


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_head_bytes = settings.http_max_header_bytes
        self._max_headers = settings.http_max_headers
        self._head_timeout = settings.http_header_timeout_seconds
        self._head_bytes = 0  # raw bytes of a head still incomplete after a chunk
        self._precise_head = 0  # URL and header bytes as the parser reports them
        self._header_count = 0
        self._reading_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the request head's deadline ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request on this keep-alive connection gets a deadline of its own once it begins;
        # until then uvicorn's keep-alive timeout governs the idle connection.
        self._cancel_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_head:
            self._start_head()

    def _start_head(self) -> None:
        self._reading_head = True
        self._head_bytes = self._precise_head = self._header_count = 0
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._head_timeout, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(408, "The request head did not arrive in time.")

    # -- the request head's size -------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        was_reading_head = self._reading_head
        super().data_received(data)
        if was_reading_head and self._reading_head and not self.transport.is_closing():
            # Still inside the head after this chunk: everything received so far is head.
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._refuse(431, "The request head is too large.")

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count_head(len(name) + len(value) + 4)
        if self._header_count > self._max_headers:
            self._refuse(431, "The request has too many header fields.")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.transport.is_closing():  # refused: the parser may still be reading this chunk
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.transport.is_closing():
            super().on_message_complete()

    def _count_head(self, size: int) -> None:
        self._precise_head += size
        if self._precise_head > self._max_head_bytes and not self.transport.is_closing():
            self._refuse(431, "The request head is too large.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer before any app runs (no envelope: there is no request yet) and close."""
        self._cancel_head_timer()
        body = message.encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
